"""The QA report of real runs: opened in Debian's headless Chromium (no console error, every image
loaded, the manifest's counts on the page, a non-blank screenshot, filters and pages working
from file://), and never a patient name, ID, date, UID or source path in any report file."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pydicom
import pytest
from test_report_synthetic import make_run_folder

import radprep
from radprep.report import build_report
from realfiles import CR_MONO1_10BIT, testdata

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",  # tests run as root on CI
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
INPUTS = {
    "cr/chest.dcm": CR_MONO1_10BIT,  # RG3_UNCR: CR, 1760x1760, has patient name, id, dates
    "ct/head.dcm": "693_UNCR.dcm",
    "mr/knee.dcm": "MR_small.dcm",
}
PHI_KEYWORDS = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "StudyDate",
    "SeriesDate",
    "AcquisitionDate",
    "ContentDate",
    "AccessionNumber",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "SOPInstanceUID",
)


@pytest.fixture(scope="module")
def real_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real run over three modalities, with labels, and one truncated file that fails."""
    root = tmp_path_factory.mktemp("inputs")
    for rel, name in INPUTS.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(testdata(name), root / rel)
    whole = testdata("MR_small.dcm").read_bytes()
    (root / "mr" / "cut.dcm").write_bytes(whole[: len(whole) // 2])
    labels = root.parent / f"{root.name}-labels.csv"
    labels.write_text(
        "path,pathology,abnormality_type\n"
        "cr/chest.dcm,MALIGNANT,mass\nct/head.dcm,BENIGN,calcification\nmr/knee.dcm,BENIGN,mass\n"
    )
    recipe = {
        "version": 1,
        "name": "report-test",
        "source": {"kind": "dicom-folder", "root": str(root), "labels_csv": str(labels)},
        "read": {"window": "header", "frame": 0},
        "steps": [
            {"op": "remove_border_residue"},
            {"op": "crop_square_keep_roi"},
            {"op": "resize", "size": [64, 64]},
        ],
        "outputs": {
            "full": {"format": "png8"},
            "zscored": {"format": "npy", "steps": [{"op": "zscore"}]},
        },
    }
    out = tmp_path_factory.mktemp("run")
    result = radprep.run(recipe, out=out, executor="serial", progress="quiet")
    assert result.failed == 1 and result.done == 3
    build_report(out)
    return out


def _phi_of_inputs() -> set[str]:
    values: set[str] = set()
    for name in INPUTS.values():
        ds = pydicom.dcmread(testdata(name), stop_before_pixels=True)
        for kw in PHI_KEYWORDS:
            v = str(ds.get(kw) or "").strip()
            if len(v) >= 4:
                values.add(v)
                values.update(p for p in re.split(r"\^", v) if len(p) >= 4)
                if re.fullmatch(r"\d{8}", v):
                    values.add(f"{v[:4]}-{v[4:6]}-{v[6:]}")
    return values


def _report_files(out: Path) -> list[Path]:
    return sorted(p for p in (out / "report").rglob("*") if p.is_file() and p.name != "items.jsonl")


def _assert_nowhere(out: Path, secrets: set[str]) -> None:
    """None of `secrets` in any report file's name or, for text files, content."""
    files = _report_files(out)
    assert any(p.suffix == ".html" for p in files)
    for p in files:
        name = str(p.relative_to(out)).lower()
        text = (
            p.read_text(encoding="utf-8").lower() if p.suffix in {".html", ".js", ".json"} else ""
        )
        for s in secrets:
            assert s.lower() not in name, (s, p)
            assert s.lower() not in text, (s, p)


def test_report_of_a_real_run_holds_no_input_phi(real_run: Path) -> None:
    secrets = _phi_of_inputs()
    assert {"CompressedSamples^RG3", "11RG3", "19790408", "20040826", "CQ500-CT-310"} <= secrets
    manifest = pq.read_table(real_run / "manifest.parquet").to_pylist()
    for r in manifest:
        secrets |= {r["source_path"], r["sop_instance_uid"], r["study_instance_uid"]}
    _assert_nowhere(real_run, secrets)


PLANTED = {
    "patient_id": "PHI-PID-99417",
    "patient_name": "DOE^JANE^PHI",
    "date": "19650412",
    "uid": "1.2.826.0.1.3680043.2.99417.19650412",
    "path": "/hospital/DOE_JANE_19650412/PHI-PID-99417/img.dcm",
}


def test_planted_phi_in_manifest_failures_and_warnings_never_reaches_the_report(
    real_run: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    shutil.copytree(
        real_run, out, ignore=shutil.ignore_patterns("index.html", "gallery-*", "figures")
    )
    table = pq.read_table(out / "manifest.parquet")
    n = table.num_rows
    for col, value in (
        ("patient_id", PLANTED["patient_id"]),
        ("source_path", PLANTED["path"]),
        ("study_instance_uid", PLANTED["uid"]),
        ("series_instance_uid", PLANTED["uid"]),
        ("sop_instance_uid", PLANTED["uid"]),
    ):
        table = table.set_column(
            table.schema.get_field_index(col), col, pa.array([value] * n, pa.string())
        )
    pq.write_table(table, out / "manifest.parquet")
    (out / "failures.jsonl").write_text(
        json.dumps(
            {
                "item_id": "mr/cut",
                "error": "TruncatedFileError",
                "message": f"{PLANTED['path']}: cut off; PatientName {PLANTED['patient_name']} "
                f"PatientID {PLANTED['patient_id']} StudyDate {PLANTED['date']} UID {PLANTED['uid']}",
            }
        )
        + "\n"
    )
    (out / "warnings.jsonl").write_text(
        json.dumps(
            {"sample_id": "cr/chest", "warning": f"header window missing in {PLANTED['path']}"}
        )
        + "\n"
    )
    run = json.loads((out / "run.json").read_text())
    run["recipe"]["source"]["root"] = str(Path(PLANTED["path"]).parent)
    # Without de-identification the report shows the messages as written: the user's own data.
    (out / "run.json").write_text(json.dumps(run))
    build_report(out)
    html = (out / "report" / "index.html").read_text()
    assert f"{PLANTED['path']}: cut off; PatientName {PLANTED['patient_name']}" in html.replace(
        "&#39;", "'"
    ).replace("&amp;", "&")
    # With it on, nothing identifying reaches the report.
    run["recipe"]["deid"] = {"ephemeral_key": True}
    (out / "run.json").write_text(json.dumps(run))
    build_report(out)
    secrets = set(PLANTED.values()) | {"DOE_JANE", "DOE^JANE", "/hospital", "99417"}
    _assert_nowhere(out, secrets)
    html = (out / "report" / "index.html").read_text()
    assert re.search(
        r"<(path|redacted)>: cut off; PatientName <redacted> PatientID <redacted>",
        html.replace("&lt;", "<").replace("&gt;", ">"),
    )
    assert "mr/cut" in html and "cr/chest" in html  # sample ids and labels stay


def test_every_picture_the_report_shows_is_there(real_run: Path) -> None:
    # Every <img> of every page names a file under report/; an 8-bit PNG output small enough
    # to be its own thumbnail is that output file, hard-linked (one copy of its bytes).
    from urllib.parse import unquote

    report = real_run / "report"
    pages = sorted(report.glob("*.html"))
    srcs = {
        unquote(s) for p in pages for s in re.findall(r'<img[^>]* src="([^"]+)"', p.read_text())
    }
    manifest = pq.read_table(real_run / "manifest.parquet").to_pylist()
    samples = {r["sample_id"] for r in manifest}
    assert {s for s in srcs if s.startswith("thumbs/")} >= {
        f"thumbs/{kind}/{sid}.png" for sid in samples for kind in ("source", "full", "zscored")
    }
    for src in srcs:
        path = report / src
        assert path.is_file() and cv2.imread(str(path)) is not None, src
    for r in manifest:
        thumb = report / "thumbs" / r["output"] / f"{r['sample_id']}.png"
        output = real_run / r["path"]
        if r["format"] == "png8":
            assert thumb.read_bytes() == output.read_bytes()
            assert thumb.stat().st_ino == output.stat().st_ino, "a second copy, not a link"
        else:  # npy: a thumbnail of its own
            assert thumb.stat().st_ino != output.stat().st_ino


def test_figures_of_a_real_run(real_run: Path) -> None:
    names = sorted(p.name for p in (real_run / "report" / "figures").iterdir())
    assert names == ["grid.png", "labels.png"]
    for name in names:
        img = cv2.imread(str(real_run / "report" / "figures" / name))
        assert img is not None and img.std() > 5


# ------------------------------------------------------------------ in the browser


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    # make test installs both; a missing browser must fail the suite, not hide the check.
    try:
        from playwright import sync_api
    except ImportError:
        pytest.fail("playwright is not installed (it is in the test extra)", pytrace=False)
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is not installed (make test installs it)", pytrace=False)
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


class Page:
    """A page opened from disk, recording console errors and every request."""

    def __init__(self, browser: Any, url: str) -> None:
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page = browser.new_page(viewport={"width": 1400, "height": 1000})
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.goto(url)
        self.page.wait_for_load_state("load")

    def load_all_images(self) -> list[dict[str, Any]]:
        self.page.evaluate("for (const i of document.images) i.loading = 'eager'")
        self.page.wait_for_function(
            "Array.from(document.images).every(i => i.complete)", timeout=20000
        )
        return self.page.evaluate(
            "Array.from(document.images).map(i => ({src: i.getAttribute('src'), w: i.naturalWidth}))"
        )

    def count(self, selector: str) -> int:
        return int(self.page.inner_text(selector).replace(",", ""))


def test_real_run_report_in_headless_chromium(browser: Any, real_run: Path, tmp_path: Path) -> None:
    page = Page(browser, (real_run / "report" / "index.html").as_uri())
    images = page.load_all_images()
    manifest = pq.read_table(real_run / "manifest.parquet").to_pylist()
    samples = {r["sample_id"] for r in manifest}
    failures = (real_run / "failures.jsonl").read_text().splitlines()

    assert page.errors == []
    assert all(u.startswith("file://") for u in page.requests), page.requests
    # source and two outputs per sample, two figures (each shown once)
    assert len({i["src"] for i in images}) == 3 * len(samples) + 2
    assert [i for i in images if i["w"] == 0] == []
    assert page.count('[data-count="outputs"]') == len(manifest)
    assert page.count('[data-count="done"]') == len(samples)
    assert page.count('[data-count="samples"]') == len(samples)
    assert page.count('[data-count="failed"]') == len(failures) == 1
    for output in ("full", "zscored"):
        n = sum(r["output"] == output for r in manifest)
        assert page.count(f'[data-output-files="{output}"]') == n
    assert page.page.locator("tr[data-t]").count() == len(samples)
    assert "TruncatedFileError" in page.page.inner_text("#failure-list")
    malignant = page.page.inner_text('table[data-label="pathology"]')
    assert re.search(r"MALIGNANT\s+1\s+1", malignant)

    shot = tmp_path / "report.png"
    page.page.screenshot(path=str(shot), full_page=True)
    img = cv2.imread(str(shot), cv2.IMREAD_GRAYSCALE)
    assert img.shape[0] > 1000 and img.std() > 20
    assert np.mean(img < 128) > 0.05  # thumbnails and text, not a blank page


def test_pages_and_filters_work_from_file_urls(browser: Any, tmp_path: Path) -> None:
    out = make_run_folder(tmp_path / "run", 60, page_size=40)  # 10 samples a page, 6 pages
    build_report(out)
    page = Page(browser, (out / "report" / "index.html").as_uri())
    p = page.page
    assert p.locator("tr[data-t]").count() == 10
    assert p.locator("path.roi").count() == 10 and p.locator("rect.crop").count() == 10
    p.select_option('select[data-filter="label.pathology"]', "MALIGNANT")
    visible = p.locator("tr[data-t]:visible")
    assert visible.count() == 3  # S00002, S00005, S00008
    assert "label.pathology=MALIGNANT" in p.evaluate("location.hash")
    assert p.inner_text("#shown") == "3 of 10 samples on this page"
    assert p.inner_text("#elsewhere").startswith("20 matching samples in the run")
    p.uncheck('input[data-output="occluded"]')
    assert p.locator('td[data-o="occluded"]:visible').count() == 0
    p.locator("#elsewhere a", has_text="page 2 (").click()
    p.wait_for_load_state("load")
    assert p.url.split("#")[0].endswith("/gallery-0002.html")
    assert p.locator("tr[data-t]:visible").count() == 3  # S00011, S00014, S00017
    assert p.input_value('select[data-filter="label.pathology"]') == "MALIGNANT"
    assert p.locator('td[data-o="occluded"]:visible').count() == 0
    assert p.locator("tr[data-t]:visible th .sid").first.inner_text() == "S00011_LEFT_CC"
    p.locator(".pager a", has_text="1").first.click()
    p.wait_for_load_state("load")
    assert p.url.split("#")[0].endswith("/index.html")
    assert p.locator("tr[data-t]:visible").count() == 3
    images = page.load_all_images()
    assert [i for i in images if i["w"] == 0] == []
    assert page.errors == []

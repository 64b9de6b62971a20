"""The report on synthetic run folders: ROI contours and crop boxes, pages, filters, redaction,
the de-identification section, determinism and the `radprep report` command.

:func:`make_run_folder` writes a run folder shaped like ``radprep run``'s (a CBIS-DDSM-like run
with ROI masks, which the real sources do not give yet); ``benchmarks/report.py`` uses it too.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from radprep.cli.app import app
from radprep.datasets.manifest import write_manifest
from radprep.errors import SpecError
from radprep.geometry import Geometry
from radprep.image import Image
from radprep.report import build_report
from radprep.report.figures import roi_contours
from radprep.report.render import gallery_pages, page_name
from radprep.report.stats import GalleryItem, Redactor, crop_boxes, pick_samples, warning_kind
from radprep.report.thumbs import item_report, mask_outline
from radprep.sample import Sample

SOURCE_SHAPE = (4084, 3328)
THUMB_SHAPE = (256, 209)  # THUMB_PX on the long side
PATHOLOGIES = ("BENIGN", "BENIGN_WITHOUT_CALLBACK", "MALIGNANT")
TYPES = ("calcification", "mass")
SPLITS = ("train", "val", "test")
WARNINGS = (
    "mask resized from 4080x3324 to the image's 4084x3328 (nearest)",
    "laterality flipped: ImageLaterality (0020,0062) R, breast turned to the left",
    "border residue removed: 3 columns",
    "header window missing: WindowCenter (0028,1050) absent; used the min-max window",
)


def _png(a: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", a)
    assert ok
    return buf.tobytes()


def _variants(k: int = 8) -> list[dict[str, Any]]:
    """A few distinct thumbnail sets (source, ROI mask, outputs) and their ROI boxes."""
    rng = np.random.default_rng(0)
    rows, cols = THUMB_SHAPE
    yy, xx = np.mgrid[0:rows, 0:cols]
    out = []
    for i in range(k):
        breast = ((yy - rows / 2) / (rows * 0.48)) ** 2 + (xx / (cols * 0.9)) ** 2 < 1
        src = np.where(breast, 90 + 60 * np.sin(xx / (5 + i)) ** 2, 0).astype(np.uint8)
        src[5:25, cols - 40 : cols - 8] = 255  # a burned-in label
        cy, cx = 60 + 17 * i, 50 + 9 * i
        roi = ((yy - cy) / 14) ** 2 + ((xx - cx) / 10) ** 2 < 1
        mask = np.where(roi, 255, 0).astype(np.uint8)
        side = 64
        full = cv2.resize(src, (side, side), interpolation=cv2.INTER_AREA)
        occluded = full.copy()
        occluded[10:30, 10:30] = 0
        noise = rng.integers(0, 2, (side, side), dtype=np.uint8) * 255
        # The crop square (source pixels) that holds the ROI.
        s = SOURCE_SHAPE[0] / rows
        y0 = int(min(max(0, cy * s - SOURCE_SHAPE[1] / 2), SOURCE_SHAPE[0] - SOURCE_SHAPE[1]))
        out.append(
            {
                "source": _png(src),
                "source-roi": _png(mask),
                "full": _png(full),
                "roi_mask": _png(cv2.resize(mask, (side, side), interpolation=cv2.INTER_NEAREST)),
                "occluded": _png(occluded),
                "patches": _png(noise),
                "box": [y0, 0, y0 + SOURCE_SHAPE[1] - 1, SOURCE_SHAPE[1] - 1],
            }
        )
    return out


RECIPE_OUTPUTS = {
    "full": {"format": "png8", "steps": [], "write": "image"},
    "occluded": {"format": "png8", "steps": [{"op": "occlude_roi"}], "write": "image"},
    "roi_mask": {"format": "png8", "steps": [], "write": "mask:roi"},
}


def make_run_folder(
    out: Path,
    n: int,
    *,
    n_failed: int = 3,
    masks: bool = True,
    phi: dict[str, str] | None = None,
    deid: bool = False,
    page_size: int = 200,
) -> Path:
    """Write a synthetic `radprep run` folder of `n` mammogram-like samples.

    `phi` plants identifying values (``patient_id``, ``patient_name``, ``date``, ``uid``,
    ``path``) where a run could hold them: manifest PHI columns, failure and warning messages.
    """
    out.mkdir(parents=True, exist_ok=True)
    variants = _variants()
    phi = phi or {}
    records, items, warnings = [], [], []
    hist = [int(v) for v in np.histogram(np.arange(4096) % 256, bins=64, range=(0, 256))[0]]
    for i in range(n):
        sid = f"S{i:05d}_{'LEFT' if i % 2 else 'RIGHT'}_{'CC' if i % 3 else 'MLO'}"
        v = variants[i % len(variants)]
        labels = {"pathology": PATHOLOGIES[i % 3], "abnormality_type": TYPES[(i // 3) % 2]}
        split = SPLITS[(i // 7) % 3] if i % 11 else None
        steps = [
            {
                "name": "read_dicom",
                "params": {"frames": 0, "transfer_syntax": "1.2.840.10008.1.2.1"},
            },
            {"name": "modality_lut", "params": {"mode": "identity"}},
            {"name": "voi", "params": {"center": 2047.0, "width": 4096.0, "function": "LINEAR"}},
            {
                "name": "crop_square_keep_roi",
                "params": {"box": v["box"], "roi_cut_px": [0, 0, 0, 0]},
            },
            {"name": "resize", "params": {"fit": "stretch", "shape": [64, 64], "size": [64, 64]}},
        ]
        thumbs = {}
        kinds = ["source", "full", "occluded", "roi_mask"] + (["source-roi"] if masks else [])
        for kind in kinds:
            rel = f"report/thumbs/{kind}/{sid}.png"
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            (out / rel).write_bytes(v[kind])
            thumbs[kind] = rel
        sample_warnings = [WARNINGS[i % len(WARNINGS)]] if i % 5 == 0 else []
        if phi and i == 0:
            sample_warnings.append(
                f"header window missing in {phi['path']} (PatientName {phi['patient_name']}, "
                f"StudyDate {phi['date']}, SOPInstanceUID {phi['uid']})"
            )
        warnings += [{"sample_id": sid, "warning": w} for w in sample_warnings]
        extra = {}
        if masks and i % 2 == 0:  # what the run writes; the others are outlined from the thumbnail
            mask = cv2.imdecode(np.frombuffer(v["source-roi"], np.uint8), cv2.IMREAD_GRAYSCALE)
            extra["roi_outline"] = mask_outline(mask, SOURCE_SHAPE)
        items.append(
            {
                **extra,
                "sample_id": sid,
                "labels": labels,
                "warnings": sample_warnings,
                "thumbs": thumbs,
                "source_shape": list(SOURCE_SHAPE),
                "hist_before": hist,
                "hist_after": {"full": hist[::-1], "occluded": hist},
            }
        )
        for name, spec in RECIPE_OUTPUTS.items():
            own = [{"name": "occlude_roi", "params": {"box": [10, 10, 29, 29], "seed": i}}]
            records.append(
                {
                    "sample_id": sid,
                    "patient_id": phi.get("patient_id", f"P_{i // 2:05d}"),
                    "split": split,
                    "output": name,
                    "path": f"{name}/{sid}.png",
                    "format": spec["format"],
                    "shape": [64, 64],
                    "dtype": "uint8",
                    "roi_bbox": [20, 20, 30, 30],
                    "steps": steps + (own if name == "occluded" else []),
                    "recipe_hash": "0123456789abcdef",
                    "labels": labels,
                    "source_path": phi.get("path", f"Mass-Training_P_{i // 2:05d}/1.dcm"),
                    "study_instance_uid": phi.get("uid", f"1.2.3.4.{i}"),
                    "series_instance_uid": phi.get("uid", f"1.2.3.5.{i}"),
                    "sop_instance_uid": phi.get("uid", f"1.2.3.6.{i}"),
                }
            )
    failures = [
        {
            "item_id": f"F{j:03d}",
            "error": "TruncatedFileError",
            "message": f"{phi.get('path', f'/data/in/F{j:03d}.dcm')}: the pixel data is shorter than "
            "Rows x Columns requires; the file was probably cut off in transfer",
        }
        for j in range(n_failed)
    ]
    write_manifest(records, out)
    (out / "failures.jsonl").write_text("".join(json.dumps(f) + "\n" for f in failures))
    (out / "warnings.jsonl").write_text("".join(json.dumps(w) + "\n" for w in warnings))
    (out / "report").mkdir(exist_ok=True)
    (out / "report" / "items.jsonl").write_text(
        "".join(json.dumps(it, sort_keys=True) + "\n" for it in items)
    )
    run = {
        "recipe": {
            "name": "synthetic",
            "source": {"kind": "cbis-ddsm", "root": phi.get("path", "/data/in")},
            "steps": [{"op": "crop_square_keep_roi"}, {"op": "resize", "size": [64, 64]}],
            "outputs": RECIPE_OUTPUTS,
            "report": {"enabled": True, "page_size": page_size},
        },
        "recipe_hash": "0123456789abcdef",
        "versions": {"python": "3.11", "radprep": "0.1.0"},
        "machine": {"cpus": 2},
        "executor": {"executor": "processes", "workers": 2},
        "started": "2026-01-01T00:00:00+0000",
        "ended": "2026-01-01T00:10:00+0000",
        "seconds": 600.0,
        "counts": {
            "items": n + n_failed,
            "skipped_already_done": 0,
            "done": n,
            "failed": n_failed,
            "outputs": len(records),
            "warnings": len(warnings),
        },
        "stage_seconds": {"load": 1.0, "steps": 2.0, "write": 0.5, "report": 0.5},
    }
    (out / "run.json").write_text(json.dumps(run, indent=2, sort_keys=True))
    if deid:
        summary = {
            "files": n + n_failed,
            "actions": {"D": 5 * n, "X": 40 * n, "Z": 3 * n, "U": 3 * n, "K": 2 * n},
            "quarantined": 2,
            "quarantined_files": ["1.2.826.0.1.3680043.8.498.1/q.dcm"],
        }
        (out / "deid_summary.json").write_text(json.dumps(summary))
    return out


# ------------------------------------------------------------------ pure parts


def test_crop_boxes_map_back_to_the_original() -> None:
    steps = [
        {"name": "read_dicom", "params": {}},
        {"name": "voi", "params": {}},
        {"name": "crop_square_keep_roi", "params": {"box": [100, 0, 3427, 3327]}},
        {"name": "resize", "params": {"fit": "stretch", "shape": [299, 299]}},
        {"name": "crop_to_bbox", "params": {"box": [0, 0, 148, 148]}},
    ]
    boxes = crop_boxes(steps, (4084, 3328))
    assert boxes[0] == ("crop_square_keep_roi", [100.0, 0.0, 3427.0, 3327.0])
    name, (y0, x0, y1, _) = boxes[1]
    assert name == "crop_to_bbox"
    assert (y0, x0) == pytest.approx((100.0 + 0.5 * 3328 / 299 - 0.5, 0.5 * 3328 / 299 - 0.5))
    assert y1 - y0 == pytest.approx(148 * 3328 / 299)


def test_crop_boxes_follow_a_laterality_flip_and_stop_at_unknown_geometry() -> None:
    flip = {"name": "flip_to_laterality", "params": {"flipped": True}}
    crop = {"name": "crop_square_keep_roi", "params": {"box": [0, 0, 99, 99]}}
    assert crop_boxes([flip, crop], (200, 300)) == [
        ("crop_square_keep_roi", [0.0, 200.0, 99.0, 299.0])
    ]
    assert crop_boxes([flip | {"params": {"flipped": False}}, crop], (200, 300))[0][1] == [
        0,
        0,
        99,
        99,
    ]
    assert crop_boxes([{"name": "rot90", "params": {"k": 1}}, crop], (200, 300)) == []
    assert crop_boxes([{"name": "crop_square_keep_roi", "params": {}}], (200, 300)) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/data/DOE^JOHN/1.dcm: cut off", "<path>: cut off"),
        ("C:\\scans\\doe.dcm is bad", "<path> is bad"),
        ("file DOE_JOHN.DCM has no pixels", "file <path> has no pixels"),
        ("SOPInstanceUID 1.3.6.1.4.1.5962.1.1.11 repeated", "SOPInstanceUID <redacted> repeated"),
        ("two files share 1.3.6.1.4.1.5962.1.1.11", "two files share <uid>"),
        (
            "PatientName (0010,0010) is 'DOE^JANE'; StudyDate: 20010101",
            "PatientName (0010,0010) is <redacted>; StudyDate: <redacted>",
        ),
        (
            "transfer syntax 1.2.840.10008.1.2.4.90 unsupported",
            "transfer syntax 1.2.840.10008.1.2.4.90 unsupported",
        ),
        ("study of 20040826 and 1999-12-31", "study of <date> and <date>"),
        ("patient PAT-SECRET-9 seen", "patient <redacted> seen"),
        ("WindowWidth (0028,1051) is 0", "WindowWidth (0028,1051) is 0"),
        # Messages stay readable: whole keywords only, values that look like values only.
        ("matched by PatientID", "matched by PatientID"),
        ("matched by PatientID and StudyInstanceUID", "matched by PatientID and StudyInstanceUID"),
        ("Timeout 30 s reading", "Timeout 30 s reading"),
        ("SOPInstanceUID (0008,0018) missing", "SOPInstanceUID (0008,0018) missing"),
        ("PatientID is missing", "PatientID is missing"),
        ("PatientName DOE^JANE seen", "PatientName <redacted> seen"),
    ],
)
def test_redactor_removes_paths_uids_dates_and_known_values(text: str, expected: str) -> None:
    assert Redactor(["PAT-SECRET-9"])(text) == expected


def test_redactor_is_off_without_deidentification() -> None:
    text = "/data/DOE^JOHN/1.dcm: PatientName DOE^JOHN, 1.3.6.1.4.1.5962.1.1.11 on 20010101"
    assert Redactor(["DOE^JOHN"], active=False)(text) == text
    assert "DOE" not in Redactor(["DOE^JOHN"])(text)


def test_redactor_leaves_values_the_sample_ids_show_anyway() -> None:
    # "ab" is shorter than the shortest value looked for (3 characters)
    redact = Redactor(["P_00001", "ab"], keep=["Mass-Training_P_00001_LEFT_CC"])
    assert (
        redact("sample Mass-Training_P_00001_LEFT_CC: ab")
        == "sample Mass-Training_P_00001_LEFT_CC: ab"
    )


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        (w, k)
        for w, k in zip(
            WARNINGS,
            ["mask resized", "laterality flipped", "residue removed", "header window missing"],
            strict=True,
        )
    ]
    + [
        ("quarantined: burned-in text suspected", "quarantined for burned-in text"),
        ("odd", "other"),
    ],
)
def test_warning_kinds(message: str, kind: str) -> None:
    assert warning_kind(message) == kind


def test_pick_samples_is_deterministic_and_prefers() -> None:
    ids = [f"s{i:03d}" for i in range(100)]
    assert (
        pick_samples(ids, 4)
        == pick_samples(list(reversed(ids)), 4)
        == ["s000", "s025", "s050", "s075"]
    )
    assert pick_samples(ids, 3, prefer=["s099"])[-1] == "s099"
    assert pick_samples(ids[:2], 5) == ids[:2]


def test_gallery_pages_hold_about_page_size_thumbnails() -> None:
    pages = gallery_pages(1000, 3, 200)
    assert [len(p) for p in pages[:2]] == [50, 50] and len(pages) == 20
    assert gallery_pages(0, 3, 200) == [range(0)]
    assert page_name(1) == "index.html" and page_name(12) == "gallery-0012.html"


def test_roi_contours_come_back_in_original_pixels(tmp_path: Path) -> None:
    mask = np.zeros((100, 50), np.uint8)
    mask[20:40, 10:30] = 255
    (tmp_path / "m.png").write_bytes(_png(mask))
    item = GalleryItem("s", "train", {}, {"source-roi": "m.png"}, (1000, 500))
    (path,) = roi_contours(tmp_path, item)
    xs = [float(v) for v in re.findall(r"[ML ]\s*(\d+) \d+", path)]
    ys = [float(v) for v in re.findall(r"[ML ]\s*\d+ (\d+)", path)]
    assert min(xs) == pytest.approx(105, abs=1) and max(xs) == pytest.approx(295, abs=1)
    assert min(ys) == pytest.approx(205, abs=1) and max(ys) == pytest.approx(395, abs=1)
    assert roi_contours(tmp_path, GalleryItem("s", "train", {}, {}, (10, 10))) == []


def test_item_report_writes_the_roi_outline_in_original_pixels(tmp_path: Path) -> None:
    pixels = np.zeros((1024, 512), np.uint16)
    roi = np.zeros((1024, 512), bool)
    roi[400:600, 100:300] = True
    sample = Sample(Image(pixels, Geometry.pixels()), masks={"roi": roi}, id="a/b")
    report = item_report(sample, {"full": (pixels[::4, ::4], False)}, tmp_path)
    assert report["thumbs"]["source-roi"] == "report/thumbs/source-roi/a/b.png"
    (polygon,) = report["roi_outline"]
    xs, ys = [p[0] for p in polygon], [p[1] for p in polygon]
    # the outline runs through the centres of the edge thumbnail pixels (4 original px each)
    assert (min(xs), max(xs), min(ys), max(ys)) == pytest.approx((100, 299, 400, 599), abs=2)
    assert "roi_outline" not in item_report(
        Sample(Image(pixels, Geometry.pixels()), id="c"), {}, tmp_path
    )


# ------------------------------------------------------------------ whole reports


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = make_run_folder(tmp_path_factory.mktemp("synthetic"), 130, page_size=40, deid=True)
    build_report(out)
    return out


def test_masked_samples_show_the_roi_contour_and_the_crop_box(synthetic: Path) -> None:
    html = (synthetic / "report" / "index.html").read_text()
    rows = re.findall(r"<tr data-t=.*?</tr>", html, re.S)
    assert len(rows) == 10  # 40 thumbnails per page, 4 per sample
    for row in rows:
        assert re.search(r'<path class="roi" d="M\d+ \d+ L', row)
        assert re.search(
            r'<rect class="crop" x="-0.5" y="-?[\d.]+" width="3328" height="3328"', row
        )
        assert 'viewBox="0 0 3328 4084"' in row
        for kind in ("source", "full", "occluded", "roi_mask"):
            assert f'src="thumbs/{kind}/' in row
    assert (synthetic / "report" / "figures" / "grid.png").is_file()
    assert (synthetic / "report" / "figures" / "labels.png").is_file()
    index = (synthetic / "report" / "index.html").read_text()
    # The label charts once, at full width, under Dataset; the Figures section does not repeat them.
    assert index.count('src="figures/labels.png"') == 1
    assert '<figure class="wide"><img src="figures/labels.png"' in index
    labels_png = cv2.imread(str(synthetic / "report" / "figures" / "labels.png"))
    assert labels_png.shape[1] >= 1500
    # Counts that differ from the run's say so.
    assert "12 of the 130 samples" in index
    assert "6 of the 130 samples, spread over the run" in index
    grid = cv2.imread(str(synthetic / "report" / "figures" / "grid.png"))
    assert grid.shape[1] > 4 * 100  # original, ROI mask, processed, occluded
    # the red ROI contour is drawn on the original
    assert np.any((grid[..., 2] > 200) & (grid[..., 1] < 80) & (grid[..., 0] < 80))


def test_pages_links_and_filter_index(synthetic: Path) -> None:
    report = synthetic / "report"
    assert sorted(p.name for p in report.glob("gallery-*.html")) == [
        f"gallery-{p:04d}.html" for p in range(2, 14)
    ]
    page5 = (report / "gallery-0005.html").read_text()
    assert 'href="index.html"' in page5 and 'href="gallery-0013.html"' in page5
    assert 'id="summary"' not in page5 and "S00040_RIGHT_CC" in page5
    index = (report / "filter-index.js").read_text()
    data = json.loads(index.removeprefix("window.RADPREP_INDEX = ").rstrip().rstrip(";"))
    assert data["files"][0] == "index.html" and len(data["pages"]) == 13
    assert sum(len(p) for p in data["pages"]) == 130
    assert "label.pathology=MALIGNANT" in data["tokens"] and "split=(none)" in data["tokens"]


def test_summary_dataset_failures_warnings_and_deid(synthetic: Path) -> None:
    html = (synthetic / "report" / "index.html").read_text()
    assert re.search(r'data-count="outputs">390<', html)
    assert re.search(r'data-count="failed">3<', html)
    assert re.search(r'data-count="samples">130<', html)
    assert re.search(r'data-output-files="roi_mask">130<', html)
    assert '<table class="labels" data-label="pathology">' in html
    assert "<th>De-identification" not in html and 'id="deid"' in html
    assert re.search(r"<td>&nbsp;&nbsp;X</td><td class=\"n\">5,200</td>", html)
    assert "1 entries" in html  # a list is shown by its length only
    assert "mask resized" in html and "laterality flipped" in html
    assert "TruncatedFileError" in html and "&lt;path&gt;: the pixel data is shorter" in html
    assert "/data/in" not in html


def test_long_lists_get_their_own_page_and_stale_pages_go(tmp_path: Path) -> None:
    out = make_run_folder(tmp_path / "run", 30, n_failed=120, page_size=40)
    build_report(out)
    assert (out / "report" / "failures.html").read_text().count('<tr><td class="sid">F') == 120
    assert not (out / "report" / "warnings.html").exists()
    (out / "report" / "gallery-0099.html").write_text("stale")
    build_report(out)
    assert not (out / "report" / "gallery-0099.html").exists()


def test_the_report_is_deterministic(tmp_path: Path) -> None:
    out = make_run_folder(tmp_path / "run", 20, page_size=40)

    def snapshot() -> dict[str, bytes]:
        build_report(out)
        files = sorted(
            p for p in (out / "report").rglob("*") if p.is_file() and "thumbs" not in p.parts
        )
        return {str(p.relative_to(out)): p.read_bytes() for p in files}

    assert snapshot() == snapshot()


def test_a_run_without_masks_labels_or_items(tmp_path: Path) -> None:
    out = make_run_folder(tmp_path / "run", 5, masks=False, n_failed=0)
    build_report(out)
    html = (out / "report" / "index.html").read_text()
    assert 'class="roi"' not in html and 'class="crop"' in html
    assert "No item failed." in html
    (out / "report" / "items.jsonl").unlink()
    build_report(out)
    assert "No thumbnails" in (out / "report" / "index.html").read_text()
    assert sorted(p.name for p in (out / "report" / "figures").iterdir()) == ["labels.png"]


def test_not_a_run_folder(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"is not a radprep run folder \(no run.json\)"):
        build_report(tmp_path)
    result = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        f"radprep: error: {tmp_path} is not a radprep run folder (no run.json); give the --out folder of `radprep run`"
    ]


def test_cli_rebuilds_the_report(tmp_path: Path) -> None:
    out = make_run_folder(tmp_path / "run", 4)
    result = CliRunner().invoke(app, ["report", str(out)])
    assert result.exit_code == 0, result.stderr
    assert str(out / "report" / "index.html") in result.stdout
    assert (out / "report" / "index.html").is_file()

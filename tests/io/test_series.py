"""Series to volume: real frames split into shuffled instances and put back, the enhanced CT of
pydicom-data, SimpleITK's own series reader as the reference, and every reported quirk."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from radprep.errors import InputError, RadprepWarning, SpecError
from radprep.io.dicom import read_dicom
from radprep.io.series import (
    SeriesVolume,
    find_series,
    load_series,
    read_series,
    series_key,
    series_slice_count,
    volume_geometry,
)
from radprep.spatial.itk import from_sitk
from realfiles import testdata
from series_data import MR_ORIGIN, MR_PIXEL_SPACING, OBLIQUE_IOP, ct_series, normal_of, split_emri

ENHANCED_CT = "eCT_Supplemental.dcm"


def _quiet_load(path: Path, **kw: Any) -> tuple[SeriesVolume, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RadprepWarning)
        sv = load_series(path, **kw)
    return sv, [str(w.message) for w in caught if issubclass(w.category, RadprepWarning)]


def _sitk_series(folder: Path) -> sitk.Image:
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    return reader.Execute()


def test_split_enhanced_mr_assembles_back_to_the_original_frames(tmp_path: Path) -> None:
    frames, files = split_emri(tmp_path / "mr", seed=3)
    assert len(files) == 10
    sv, warned = _quiet_load(tmp_path / "mr")
    assert warned == [] and sv.report.ok
    assert sv.image.pixels.shape == (10, 64, 64)
    assert sv.image.pixels.dtype == np.float32
    np.testing.assert_array_equal(sv.image.pixels, frames.astype(np.float32))
    geo = sv.image.geometry
    # SpacingBetweenSlices of the enhanced MR (1.2 mm), then PixelSpacing as (row, col).
    np.testing.assert_allclose(geo.spacing, (1.2, *MR_PIXEL_SPACING), atol=1e-6)
    np.testing.assert_allclose(geo.origin, MR_ORIGIN, atol=1e-9)
    m = geo.matrix
    np.testing.assert_allclose(m[:, 0], normal_of(OBLIQUE_IOP), atol=1e-9)  # slices
    np.testing.assert_allclose(m[:, 1], OBLIQUE_IOP[3:], atol=1e-9)  # rows: column cosine
    np.testing.assert_allclose(m[:, 2], OBLIQUE_IOP[:3], atol=1e-9)  # cols: row cosine
    # Every slice's first pixel sits where its instance says.
    positions = sorted(
        (
            np.asarray(pydicom.dcmread(f, stop_before_pixels=True).ImagePositionPatient, float)
            for f in files
        ),
        key=lambda p: float(p @ normal_of(OBLIQUE_IOP)),
    )
    grid = [geo.index_to_world((k, 0, 0)) for k in range(10)]
    np.testing.assert_allclose(grid, positions, atol=1e-5)


def test_geometry_matches_simpleitks_series_reader(tmp_path: Path) -> None:
    split_emri(tmp_path / "mr", seed=1)
    ours = read_series(tmp_path / "mr")
    arr, geo = from_sitk(_sitk_series(tmp_path / "mr"))
    np.testing.assert_array_equal(ours.pixels, arr.astype(np.float32))
    np.testing.assert_allclose(ours.geometry.spacing, geo.spacing, atol=1e-5)
    np.testing.assert_allclose(ours.geometry.origin, geo.origin, atol=1e-5)
    np.testing.assert_allclose(ours.geometry.direction, geo.direction, atol=1e-5)


def test_ct_series_in_hounsfield_units_matches_simpleitk(tmp_path: Path) -> None:
    iop = (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)  # sagittal slices: normal along -x
    expected, _ = ct_series(tmp_path / "ct", n=6, iop=iop, seed=2)
    ours = read_series(tmp_path / "ct")
    np.testing.assert_array_equal(ours.pixels, expected)
    assert 0 <= float(np.median(ours.pixels)) < 80  # brain in HU: the rescale was applied
    arr, geo = from_sitk(_sitk_series(tmp_path / "ct"))
    np.testing.assert_allclose(ours.pixels, arr, atol=1e-3)
    np.testing.assert_allclose(ours.geometry.spacing, geo.spacing, atol=1e-5)
    np.testing.assert_allclose(ours.geometry.origin, geo.origin, atol=1e-5)
    np.testing.assert_allclose(ours.geometry.direction, geo.direction, atol=1e-5)


def test_enhanced_ct_reads_as_a_volume_from_its_functional_groups() -> None:
    path = testdata(ENHANCED_CT)
    sv, warned = _quiet_load(path)
    assert warned == []
    image = sv.image
    assert image.pixels.shape == (2, 512, 512)
    # PlaneOrientationSequence [-1,0,0, 0,1,0]: normal = (-1,0,0) x (0,1,0) = (0,0,-1); the frames
    # at z = -159 and -149 sort as -149 first (further along the normal's direction is -z).
    np.testing.assert_allclose(image.geometry.origin, (99.5, -301.5, -149.0))
    np.testing.assert_allclose(image.geometry.spacing, (10.0, 0.388672, 0.388672))
    np.testing.assert_allclose(image.geometry.matrix[:, 0], (0, 0, -1))
    np.testing.assert_allclose(image.geometry.matrix[:, 2], (-1, 0, 0))
    frames = read_dicom(path).pixels  # file order, HU
    np.testing.assert_array_equal(image.pixels, frames[::-1].astype(np.float32))
    assert image.pixels.min() == -1024.0  # RescaleIntercept -1024 from the shared groups


def test_one_slice_decoded_alone_has_its_place_in_the_volume(tmp_path: Path) -> None:
    _frames, _ = split_emri(tmp_path / "mr")
    whole = read_series(tmp_path / "mr")
    one = load_series(tmp_path / "mr", slice_index=7).image
    np.testing.assert_array_equal(one.pixels[0], whole.pixels[7])
    np.testing.assert_allclose(one.geometry.origin, whole.geometry.index_to_world((7, 0, 0)))
    assert series_slice_count(tmp_path / "mr") == 10
    with pytest.raises(SpecError, match=r"slice 10 does not exist; the series has 10 slices"):
        load_series(tmp_path / "mr", slice_index=10)


def test_missing_slice_is_reported_and_can_be_resampled(tmp_path: Path) -> None:
    frames, _ = split_emri(tmp_path / "mr", keep=[0, 1, 2, 3, 5, 6, 7, 8, 9])
    sv, warned = _quiet_load(tmp_path / "mr")
    assert sv.report.missing_slices == 1 and sv.image.pixels.shape[0] == 9
    assert any(
        "1 slice(s) missing" in w and "ImagePositionPatient (0020,0032)" in w for w in warned
    )
    np.testing.assert_allclose(sv.image.geometry.spacing[0], 1.2, atol=1e-6)  # the median step
    fixed, warned = _quiet_load(tmp_path / "mr", irregular="resample")
    assert fixed.report.resampled and fixed.image.pixels.shape == (10, 64, 64)
    assert any("resampled onto a regular grid" in w for w in warned)
    np.testing.assert_allclose(fixed.image.pixels[3], frames[3], atol=1e-3)
    np.testing.assert_allclose(
        fixed.image.pixels[4], (frames[3].astype(np.float32) + frames[5]) / 2, atol=1e-2
    )
    with pytest.raises(InputError, match=r"1 slice\(s\) missing .*use irregular='resample'"):
        load_series(tmp_path / "mr", irregular="error")


def test_uneven_spacing_is_reported(tmp_path: Path) -> None:
    positions = [0, 1.2, 2.4, 3.6, 4.8, 6.3, 7.5, 8.7, 9.9, 11.1]
    split_emri(tmp_path / "mr", positions=positions)
    sv, warned = _quiet_load(tmp_path / "mr")
    assert any("uneven spacing (1.2 to 1.5 mm)" in w for w in warned)
    assert sv.report.slice_spacings == pytest.approx((1.2, 1.5), abs=1e-5)
    assert sv.report.missing_slices == 0


def test_gantry_tilt_is_reported_kept_exactly_or_resampled(tmp_path: Path) -> None:
    # Each slice 0.3 mm further along the column cosine: a tilt of atan(0.3 / 1.2) = 14.04 deg.
    shift = 0.3 * np.asarray(OBLIQUE_IOP[3:])
    frames, _files = split_emri(tmp_path / "mr", shift_per_slice=tuple(shift))
    kept, warned = _quiet_load(tmp_path / "mr", tilt="keep")
    assert kept.report.gantry_tilt_deg == pytest.approx(14.036, abs=1e-3)
    assert any("gantry tilt of 14 degrees" in w and "sheared" in w for w in warned)
    np.testing.assert_array_equal(kept.image.pixels, frames.astype(np.float32))
    for k in range(10):  # exact: every slice's first pixel where its instance says
        expected = np.asarray(MR_ORIGIN) + 1.2 * k * normal_of(OBLIQUE_IOP) + k * shift
        np.testing.assert_allclose(
            kept.image.geometry.index_to_world((k, 0, 0)), expected, atol=1e-6
        )
    fixed, warned = _quiet_load(tmp_path / "mr")
    assert fixed.report.resampled and any("orthogonal grid" in w for w in warned)
    m = fixed.image.geometry.matrix
    np.testing.assert_allclose(m.T @ m, np.eye(3), atol=1e-9)
    # The grid is centred on the stack: 0.3 * 4.5 mm along the column cosine from slice 0, so
    # row 20 of resampled slice 0 is row 20 + 0.3 * 4.5 / 0.7 of the original (linear).
    shift_rows = 0.3 * 4.5 / MR_PIXEL_SPACING[0]
    row = 20
    lo = int(np.floor(row + shift_rows))
    w = (row + shift_rows) - lo
    expected_row = (1 - w) * frames[0, lo].astype(np.float32) + w * frames[0, lo + 1]
    np.testing.assert_allclose(fixed.image.pixels[0, row], expected_row, atol=1e-2)
    with pytest.raises(InputError, match=r"gantry tilt of 14 degrees .*use tilt='resample'"):
        load_series(tmp_path / "mr", tilt="error")


def test_mixed_sizes_keep_the_largest_group(tmp_path: Path) -> None:
    _frames, files = split_emri(tmp_path / "mr")
    # A localizer of another size in the same series.
    ds = pydicom.dcmread(files[0])
    ds.Rows, ds.Columns = 32, 32
    ds.PixelData = np.zeros((32, 32), np.uint16).tobytes()
    ds.SOPInstanceUID = pydicom.uid.generate_uid()
    ds.save_as(tmp_path / "mr" / "scout.dcm")
    sv, warned = _quiet_load(tmp_path / "mr")
    assert sv.report.n_dropped == 1 and sv.image.pixels.shape == (10, 64, 64)
    assert any("mixed sizes or orientations" in w and "dropped 1 of 32x32" in w for w in warned)


def test_repeated_positions_keep_the_first(tmp_path: Path) -> None:
    _, files = split_emri(tmp_path / "mr")
    ds = pydicom.dcmread(files[0])
    ds.SOPInstanceUID = pydicom.uid.generate_uid()
    ds.InstanceNumber = 99
    ds.save_as(tmp_path / "mr" / "dup.dcm")
    sv, warned = _quiet_load(tmp_path / "mr")
    assert sv.image.pixels.shape == (10, 64, 64) and sv.report.n_dropped == 1
    assert any("1 frames repeat a position" in w for w in warned)


def test_several_series_must_be_chosen_and_are_named_without_patient_data(tmp_path: Path) -> None:
    split_emri(tmp_path / "data" / "mr")
    ct_series(tmp_path / "data" / "ct", n=3)
    (tmp_path / "data" / "notes.txt").write_text("not DICOM")
    found = find_series(tmp_path / "data")
    assert [s.modality for s in found] == ["CT", "MR"]
    assert [s.n_frames for s in found] == [3, 10]
    for s in found:
        assert s.key == series_key(s.series_instance_uid, s.modality, s.series_number)
        assert s.series_instance_uid not in s.key
    assert found[1].key.startswith("MR_s301_") and len(found[1].key) == len("MR_s301_") + 8
    with pytest.raises(SpecError, match=r"2 series found \(SeriesInstanceUID \(0020,000E\)"):
        load_series(tmp_path / "data")
    mr = read_series(tmp_path / "data", series_instance_uid=found[1].series_instance_uid)
    assert mr.pixels.shape == (10, 64, 64)
    with pytest.raises(SpecError, match=r"series_instance_uid '1.2.3' is not among the 2"):
        load_series(tmp_path / "data", series_instance_uid="1.2.3")


def test_no_positions_falls_back_to_instance_order(tmp_path: Path) -> None:
    # The enhanced MR itself carries no functional groups at all: frames in file order.
    shutil.copy(testdata("emri_small.dcm"), tmp_path / "e.dcm")
    sv, warned = _quiet_load(tmp_path / "e.dcm")
    assert sv.image.pixels.shape == (10, 64, 64)
    assert any("no ImagePositionPatient (0020,0032)" in w for w in warned)
    assert sv.image.geometry.spacing[0] == pytest.approx(1.2)  # SpacingBetweenSlices


def test_errors_name_what_to_do(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("x")
    with pytest.raises(InputError, match=r"no DICOM image series found"):
        load_series(tmp_path)
    with pytest.raises(SpecError, match=r"irregular='drop' is not valid; choose one of 'warn'"):
        load_series(tmp_path, irregular="drop")  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"no such file or folder"):
        load_series(tmp_path / "missing")


@pytest.mark.parametrize(
    ("keyword", "value_of", "axis"),
    [
        ("EchoNumbers", lambda k: 1 + k % 2, "echo"),
        ("TemporalPositionIdentifier", lambda k: 2 - k % 2, "time"),
    ],
)
def test_two_frames_at_every_position_make_a_4d_series(
    tmp_path: Path, keyword: str, value_of: Any, axis: str
) -> None:
    # Frames 2z and 2z+1 share position z; the attribute, not the shuffled InstanceNumber,
    # says which volume each belongs to.
    positions = [1.2 * (k // 2) for k in range(10)]
    frames, files = split_emri(tmp_path / "mr", positions=positions)
    for path in files:
        ds = pydicom.dcmread(path)
        k = next(i for i, f in enumerate(frames) if np.array_equal(f, ds.pixel_array))
        setattr(ds, keyword, value_of(k))
        ds.save_as(path)
    sv, warned = _quiet_load(tmp_path / "mr")
    assert not warned and sv.report.n_volumes == 2 and sv.report.volume_axis == axis
    assert sv.image.pixels.shape == (2, 5, 64, 64)
    for v in range(2):
        want = [k for k in range(10) if value_of(k) == sorted({value_of(j) for j in range(10)})[v]]
        np.testing.assert_array_equal(sv.image.pixels[v], frames[want].astype(np.float32))
    g = sv.image.geometry
    assert g.ndim == 4 and g.matrix[3, 0] == 1.0
    spatial = volume_geometry(g)
    np.testing.assert_allclose(spatial.spacing, (1.2, *MR_PIXEL_SPACING))
    np.testing.assert_allclose(spatial.origin, MR_ORIGIN, atol=1e-6)
    np.testing.assert_allclose(spatial.matrix[:, 0], normal_of(OBLIQUE_IOP), atol=1e-6)
    assert series_slice_count(tmp_path / "mr") == 5
    one = load_series(tmp_path / "mr", volume_index=1, slice_index=3).image
    np.testing.assert_array_equal(one.pixels[0], sv.image.pixels[1, 3])
    np.testing.assert_allclose(one.geometry.origin, spatial.index_to_world((3, 0, 0)), atol=1e-6)


def test_the_same_instance_twice_is_read_once(tmp_path: Path) -> None:
    _, files = split_emri(tmp_path / "mr")
    shutil.copy(files[0], tmp_path / "mr" / "copy.dcm")
    sv, warned = _quiet_load(tmp_path / "mr")
    assert sv.image.pixels.shape == (10, 64, 64) and sv.report.n_volumes == 1
    assert any("1 frames repeat a SOPInstanceUID (0008,0018)" in w for w in warned)


def test_a_4d_series_with_a_missing_slice_is_resampled_volume_by_volume(tmp_path: Path) -> None:
    positions = [1.2 * (k // 2 + (k >= 4)) for k in range(10)]  # planes 0, 1.2, 3.6, 4.8, 6.0
    frames, files = split_emri(tmp_path / "mr", positions=positions)
    for path in files:
        ds = pydicom.dcmread(path)
        k = next(i for i, f in enumerate(frames) if np.array_equal(f, ds.pixel_array))
        ds.EchoNumbers = 1 + k % 2
        ds.save_as(path)
    sv, warned = _quiet_load(tmp_path / "mr", irregular="resample")
    assert sv.image.pixels.shape == (2, 6, 64, 64) and sv.report.missing_slices == 1
    assert any("1 slice(s) missing" in w for w in warned)
    for v in range(2):
        np.testing.assert_allclose(sv.image.pixels[v, 0], frames[v], atol=1e-3)
        np.testing.assert_allclose(sv.image.pixels[v, 3], frames[4 + v], atol=1e-3)
        # The missing plane at 2.4 mm: halfway between its neighbours.
        mid = (frames[2 + v].astype(np.float32) + frames[4 + v]) / 2
        np.testing.assert_allclose(sv.image.pixels[v, 2], mid, atol=1e-2)

"""Masks onto the image grid: pydicom-data's real DICOM SEG (liver.dcm), checked against highdicom
as an independent reader, and NIfTI/NRRD label files on other grids."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from radprep.errors import InputError, NotDicomError, RadprepWarning
from radprep.export.nifti import write_image
from radprep.geometry import Geometry
from radprep.io.seg import label_file_to_grid, read_seg, seg_to_grid
from radprep.io.series import read_series
from radprep.spatial.resample import resample_to_spacing
from realfiles import CT_HU, SEG_LIVER, testdata
from series_data import ct_with_liver_seg

LIVER_AREAS = [36233, 35645, 35220]  # pixels per frame, in frame order (z rising)


def test_read_seg_gives_the_liver_on_its_own_grid() -> None:
    (liver,) = read_seg(testdata(SEG_LIVER))
    assert (liver.number, liver.label, liver.name) == (1, "Liver", "liver")
    assert liver.mask.shape == (3, 512, 512) and liver.mask.dtype == bool
    assert liver.mask.sum(axis=(1, 2)).tolist() == LIVER_AREAS
    np.testing.assert_allclose(liver.geometry.spacing, (1.0, 0.810547, 0.810547))
    np.testing.assert_allclose(liver.geometry.origin, (-235.2, -226.8, -128.69))


def test_read_seg_agrees_with_highdicom() -> None:
    import highdicom as hd

    (liver,) = read_seg(testdata(SEG_LIVER))
    volume = hd.seg.segread(testdata(SEG_LIVER)).get_volume()
    theirs = volume.array[..., 0] != 0
    # Map each of their slices to ours through physical space.
    for k in range(theirs.shape[0]):
        point = (volume.affine @ np.array([k, 0, 0, 1.0]))[:3]
        ours_k = liver.geometry.world_to_index(point)
        np.testing.assert_allclose(ours_k, np.round(ours_k), atol=1e-6)
        np.testing.assert_array_equal(liver.mask[round(ours_k[0])], theirs[k])


def test_seg_lands_on_a_ct_series_grid(tmp_path: Path) -> None:
    _, seg_path = ct_with_liver_seg(tmp_path)
    ct = read_series(tmp_path / "ct")
    assert ct.pixels.shape == (5, 512, 512)
    masks = seg_to_grid(seg_path, ct.spatial_shape, ct.geometry)
    assert list(masks) == ["liver"]
    # The CT has one slice below and one above the SEG's three frames.
    assert masks["liver"].sum(axis=(1, 2)).tolist() == [0, *LIVER_AREAS, 0]
    only = seg_to_grid(seg_path, ct.spatial_shape, ct.geometry, segments=["liver"])
    np.testing.assert_array_equal(only["liver"], masks["liver"])
    with pytest.raises(InputError, match=r"no segment among \['7'\]"):
        seg_to_grid(seg_path, ct.spatial_shape, ct.geometry, segments=[7])


def test_seg_on_a_coarser_grid_keeps_its_place(tmp_path: Path) -> None:
    _, seg_path = ct_with_liver_seg(tmp_path)
    ct = read_series(tmp_path / "ct")
    coarse, geo = resample_to_spacing(ct.pixels, ct.geometry, (1.0, 1.621094, 1.621094))
    masks = seg_to_grid(seg_path, coarse.shape, geo)
    areas = masks["liver"].sum(axis=(1, 2))
    assert areas[0] == 0 and areas[-1] == 0
    np.testing.assert_allclose(areas[1:4], np.array(LIVER_AREAS) / 4, rtol=0.03)


def test_seg_outside_the_grid_warns(tmp_path: Path) -> None:
    far = Geometry(spacing=(1.0, 1.0, 1.0), origin=(5000.0, 5000.0, 5000.0))
    with pytest.warns(RadprepWarning, match=r"segment 1 \(Liver\) falls outside the image's grid"):
        seg_to_grid(testdata(SEG_LIVER), (2, 8, 8), far)


def test_seg_reader_refuses_what_is_not_a_seg(tmp_path: Path) -> None:
    with pytest.raises(
        InputError,
        match=r"SOPClassUID \(0008,0016\) is 1.2.840.10008.5.1.4.1.1.2, not Segmentation Storage",
    ):
        read_seg(testdata(CT_HU))
    (tmp_path / "x.dcm").write_bytes(b"nope")
    with pytest.raises(NotDicomError, match=r"not a DICOM file; a DICOM SEG was expected"):
        read_seg(tmp_path / "x.dcm")


@pytest.mark.parametrize("suffix", [".nii.gz", ".nrrd"])
def test_label_file_on_another_grid_comes_onto_the_image_grid(tmp_path: Path, suffix: str) -> None:
    _, seg_path = ct_with_liver_seg(tmp_path)
    ct = read_series(tmp_path / "ct")
    truth = seg_to_grid(seg_path, ct.spatial_shape, ct.geometry)["liver"].astype(np.uint8) * 2
    # The label file covers a box of the grid, shifted: slices 1..3, rows 100.., cols 50..
    box = truth[1:4, 100:400, 50:450]
    label_geo = ct.geometry.crop((1, 100, 50))
    path = write_image(tmp_path / f"liver{suffix}", box, label_geo)
    labels = label_file_to_grid(path, ct.spatial_shape, ct.geometry)
    expected = np.zeros_like(truth)
    expected[1:4, 100:400, 50:450] = box
    np.testing.assert_array_equal(labels, expected)
    # Same labels written at half the in-plane resolution come back close to the original.
    half, half_geo = resample_to_spacing(
        truth, ct.geometry, (1.0, 1.621094, 1.621094), interpolation="nearest"
    )
    path2 = write_image(tmp_path / f"half{suffix}", half, half_geo)
    back = label_file_to_grid(path2, ct.spatial_shape, ct.geometry)
    assert set(np.unique(back)) == {0, 2}
    assert np.mean(back == truth) > 0.99


def test_label_file_errors(tmp_path: Path) -> None:
    (tmp_path / "bad.nii.gz").write_bytes(b"not an image")
    with pytest.raises(InputError, match=r"bad.nii.gz: not a label image SimpleITK can read"):
        label_file_to_grid(tmp_path / "bad.nii.gz", (2, 2, 2), Geometry(spacing=(1, 1, 1)))
    flat = write_image(tmp_path / "flat.nrrd", np.ones((4, 4), np.uint8), Geometry(spacing=(1, 1)))
    with pytest.raises(InputError, match=r"a 2D label image cannot go onto a 3D image grid"):
        label_file_to_grid(flat, (2, 4, 4), Geometry(spacing=(1, 1, 1)))
    far = write_image(
        tmp_path / "far.nrrd",
        np.ones((2, 4, 4), np.uint8),
        replace(Geometry(spacing=(1, 1, 1)), origin=(900.0, 0.0, 0.0)),
    )
    with pytest.warns(RadprepWarning, match=r"no label falls on the image's grid"):
        label_file_to_grid(far, (2, 4, 4), Geometry(spacing=(1, 1, 1)))

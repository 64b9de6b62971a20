"""dcm2niix's validation data (tests/data/dcm_qa, BSD-2): each series converted to NIfTI and
compared with the NIfTI dcm2niix made of it; Siemens mosaics also against nibabel's
MosaicWrapper and CSA reader, which read the same files independently."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from typer.testing import CliRunner

from radprep.cli.app import app
from radprep.datasets.sources import get_source, load_item
from radprep.errors import InputError, RadprepWarning, SpecError
from radprep.export.nifti import write_image
from radprep.io.mosaic import csa_image_header, mosaic_of
from radprep.io.series import load_series, volume_geometry
from radprep.jobs.convert import convert_series
from radprep.pipeline.spec import SeriesFolderSource

with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)  # nibabel.nicom says on import it is experimental
    from nibabel.nicom import csareader
    from nibabel.nicom.dicomwrappers import wrapper_from_data

DATA = Path(__file__).parents[1] / "data" / "dcm_qa"
GE_FMRI = DATA / "In" / "GE_mr_0004"  # 15 slices x 10 time points, one slice per file
SI_MOSAIC = DATA / "In" / "Si_mr_0003"  # 2 mosaics of 5 slices: 2 time points
TS = DATA / "In" / "ts"  # one oblique mosaic under 7 transfer syntaxes
TRANSFER_SYNTAXES = {
    "1.dcm": "1.2.840.10008.1.2.1",
    "2.dcm": "1.2.840.10008.1.2",
    "3.dcm": "1.2.840.10008.1.2.2",
    "4.dcm": "1.2.840.10008.1.2.5",
    "5.dcm": "1.2.840.10008.1.2.4.70",
    "7.dcm": "1.2.840.10008.1.2.4.80",
    "9.dcm": "1.2.840.10008.1.2.4.90",
}
CASES = [
    pytest.param(GE_FMRI, DATA / "Ref" / "GE_mr_0004.nii.gz", (64, 64, 15, 10), id="GE-fMRI-4D"),
    pytest.param(SI_MOSAIC, DATA / "Ref" / "Si_mr_0003.nii.gz", (72, 72, 5, 2), id="Si-mosaic-4D"),
    *(
        pytest.param(TS / name, DATA / "Ref" / "ts.nii.gz", (64, 64, 35), id=f"ts-{name}")
        for name in TRANSFER_SYNTAXES
    ),
]


def _canonical(img: nib.Nifti1Image) -> tuple[np.ndarray, np.ndarray]:
    """Voxel values (scl_slope/inter applied, as nibabel does) and affine, closest to RAS."""
    c = nib.as_closest_canonical(img)
    return np.asarray(c.get_fdata(dtype=np.float64)), c.affine


def _assert_same_as_reference(ours: nib.Nifti1Image, ref: nib.Nifti1Image) -> None:
    a, a_affine = _canonical(ours)
    b, b_affine = _canonical(ref)
    assert a.shape == b.shape
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(a_affine, b_affine, rtol=0, atol=1e-3)


def _convert(src: Path, out: Path, **kw: object) -> list[Path]:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # none of these series has a quirk to warn about
        result = convert_series([src], out, **kw)  # type: ignore[arg-type]
    assert result.ok and not result.warnings, result.failures
    return result.written


def test_the_copied_files_are_the_transfer_syntaxes_they_claim() -> None:
    for name, uid in TRANSFER_SYNTAXES.items():
        ds = pydicom.dcmread(TS / name, stop_before_pixels=True)
        assert ds.file_meta.TransferSyntaxUID == uid


@pytest.mark.parametrize(("src", "ref_path", "shape"), CASES)
def test_series_matches_dcm2niix(
    src: Path, ref_path: Path, shape: tuple[int, ...], tmp_path: Path
) -> None:
    (written,) = _convert(src, tmp_path)
    ours, ref = nib.load(written), nib.load(ref_path)
    assert ours.shape == ref.shape == shape
    _assert_same_as_reference(ours, ref)
    if len(shape) == 4:  # the volume axis in seconds: RepetitionTime, as dcm2niix writes it
        assert ours.header["pixdim"][4] == pytest.approx(ref.header["pixdim"][4], abs=1e-4)
        assert ours.header.get_xyzt_units()[1] == "sec"


def test_one_volume_of_a_4d_series_on_request(tmp_path: Path) -> None:
    sv = load_series(GE_FMRI, volume_index=7)
    assert (sv.report.n_volumes, sv.report.volume_axis, sv.report.n_dropped) == (10, "time", 0)
    assert sv.report.ok and sv.image.pixels.shape == (15, 64, 64) and sv.image.geometry.ndim == 3
    # The same voxels and place as dcm2niix's 8th volume.
    path = write_image(tmp_path / "v7.nii.gz", sv.image.pixels, sv.image.geometry)
    ref = nib.load(DATA / "Ref" / "GE_mr_0004.nii.gz")
    _assert_same_as_reference(nib.load(path), ref.slicer[..., 7])
    with pytest.raises(SpecError, match=r"volume 10 does not exist; the series has 10 volume"):
        load_series(GE_FMRI, volume_index=10)


def test_4d_geometry_has_the_volume_axis_first() -> None:
    sv = load_series(SI_MOSAIC)
    g = sv.image.geometry
    assert sv.image.pixels.shape == (2, 5, 72, 72) and g.ndim == 4
    assert g.spacing[0] == pytest.approx(2.43537)  # RepetitionTime 2435.37 ms, in seconds
    spatial = volume_geometry(g)
    np.testing.assert_allclose(g.matrix[:3, 1:], spatial.matrix)
    np.testing.assert_allclose(
        g.index_to_world((1, 2, 3, 4))[:3], spatial.index_to_world((2, 3, 4))
    )
    assert g.index_to_world((1, 0, 0, 0))[3] == pytest.approx(2.43537)


def test_split_writes_one_volume_per_time_point(tmp_path: Path) -> None:
    written = _convert(SI_MOSAIC, tmp_path, volumes="split")
    assert [p.name.rsplit("_", 1)[1] for p in written] == ["v0000.nii.gz", "v0001.nii.gz"]
    ref = nib.load(DATA / "Ref" / "Si_mr_0003.nii.gz")
    for t, path in enumerate(written):
        one = nib.load(path)
        assert one.shape == (72, 72, 5)
        _assert_same_as_reference(one, ref.slicer[..., t])


def test_4d_nrrd_holds_the_same_volumes_as_dcm2niix(tmp_path: Path) -> None:
    (nrrd,) = _convert(SI_MOSAIC, tmp_path / "nrrd", fmt="nrrd")
    ours = sitk.ReadImage(str(nrrd))
    ref = sitk.ReadImage(str(DATA / "Ref" / "Si_mr_0003.nii.gz"))
    assert ours.GetSize() == ref.GetSize() == (72, 72, 5, 2)
    for t in range(2):
        # Each volume in one voxel order (LPS) by ITK, from each file's own convention.
        a = sitk.DICOMOrient(ours[:, :, :, t], "LPS")
        b = sitk.DICOMOrient(ref[:, :, :, t], "LPS")
        np.testing.assert_array_equal(sitk.GetArrayFromImage(a), sitk.GetArrayFromImage(b))
        np.testing.assert_allclose(a.GetOrigin(), b.GetOrigin(), atol=1e-3)
        np.testing.assert_allclose(a.GetDirection(), b.GetDirection(), atol=1e-6)
        np.testing.assert_allclose(a.GetSpacing(), b.GetSpacing(), atol=1e-6)


@pytest.mark.parametrize("path", [SI_MOSAIC / "epi_pe_ap-00001.dcm", TS / "1.dcm", TS / "9.dcm"])
def test_mosaic_matches_nibabels_mosaic_wrapper(path: Path) -> None:
    ds = pydicom.dcmread(path)
    wrapper = wrapper_from_data(ds)
    assert type(wrapper).__name__ == "MosaicWrapper"
    image = load_series(path).image
    # nibabel indexes (row, col, slice); radprep (slice, row, col).
    np.testing.assert_array_equal(image.pixels.transpose(1, 2, 0), wrapper.get_data())
    g = image.geometry
    for index in [(0, 0, 0), (1, 0, 0), (0, 5, 0), (0, 0, 7), (4, 60, 3)]:
        slice_, row, col = index
        np.testing.assert_allclose(
            g.index_to_world(index), (wrapper.affine @ [row, col, slice_, 1])[:3], atol=1e-6
        )


def test_mosaic_stacked_against_the_orientation_normal_follows_the_csa_slice_normal(
    tmp_path: Path,
) -> None:
    # The same file with its CSA SliceNormalVector reversed (same-length text items): slices
    # now advance along -(row x column). nibabel reads the edited file as the reference.
    ds = pydicom.dcmread(TS / "1.dcm")
    block = ds.private_block(0x0029, "SIEMENS CSA HEADER")
    raw = block[0x10].value
    at = raw.index(b"SliceNormalVector")
    head, tail = raw[:at], raw[at:]
    for item in (b"0.00000000", b"0.10799944", b"0.99415095"):
        tail = tail.replace(item, b"-" + item[1:], 1)
    block[0x10].value = head + tail
    path = tmp_path / "flipped.dcm"
    ds.save_as(path)
    assert mosaic_of(ds, str(path)).normal_sign == -1.0  # type: ignore[union-attr]
    wrapper = wrapper_from_data(pydicom.dcmread(path))
    image = load_series(path).image
    n = image.pixels.shape[0]
    # Sorted along +normal, radprep's slice z is nibabel's slice n - 1 - z.
    np.testing.assert_array_equal(image.pixels[::-1].transpose(1, 2, 0), wrapper.get_data())
    for z, row, col in [(0, 0, 0), (1, 0, 0), (34, 5, 9), (10, 63, 63)]:
        np.testing.assert_allclose(
            image.geometry.index_to_world((z, row, col)),
            (wrapper.affine @ [row, col, n - 1 - z, 1])[:3],
            atol=1e-6,
        )


@pytest.mark.parametrize("path", [SI_MOSAIC / "epi_pe_ap-00002.dcm", TS / "3.dcm"])
def test_csa_header_reads_as_nibabel_reads_it(path: Path) -> None:
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    theirs = {k: v["items"] for k, v in csareader.get_csa_header(ds)["tags"].items()}
    ours = csa_image_header(ds)
    assert ours is not None and ours.keys() == theirs.keys()
    for name, items in theirs.items():
        assert ours[name] == [i.decode() if isinstance(i, bytes) else i for i in items], name


def _without_mosaic_count(src: Path, dst: Path) -> None:
    ds = pydicom.dcmread(src)
    for group, creator in ((0x0019, "SIEMENS MR HEADER"), (0x0029, "SIEMENS CSA HEADER")):
        block = ds.private_block(group, creator)
        for offset in (0x0A, 0x10):
            if offset in block:
                del ds[block.get_tag(offset)]
    ds.save_as(dst)


def test_mosaic_without_its_slice_count_fails_alone_with_a_clear_reason(tmp_path: Path) -> None:
    bad = tmp_path / "in" / "bad"
    bad.mkdir(parents=True)
    _without_mosaic_count(TS / "1.dcm", bad / "1.dcm")
    shutil.copytree(SI_MOSAIC, tmp_path / "in" / "good")  # another series: still converted
    with pytest.raises(InputError, match=r"1\.dcm: ImageType \(0008,0008\) says MOSAIC but "):
        mosaic_of(pydicom.dcmread(bad / "1.dcm", stop_before_pixels=True), str(bad / "1.dcm"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = convert_series([tmp_path / "in"], tmp_path / "out")
    assert result.converted == 1 and len(result.failures) == 1
    assert "NumberOfImagesInMosaic" in result.failures[0][2]


def test_mosaic_that_does_not_divide_into_tiles_is_an_error(tmp_path: Path) -> None:
    ds = pydicom.dcmread(TS / "1.dcm", stop_before_pixels=True)
    ds.Rows = 383
    with pytest.raises(InputError, match=r"6x6 tiles but Rows/Columns .* are 383x384"):
        mosaic_of(ds, "x.dcm")


def test_cli_converts_the_mosaic_to_a_4d_nifti_or_one_file_per_volume(tmp_path: Path) -> None:
    def run(*args: str) -> tuple[int, str, str]:
        r = CliRunner().invoke(app, ["convert", str(SI_MOSAIC), "--to", "nifti", *args])
        return r.exit_code, r.stdout, r.stderr

    code, out, err = run("-o", str(tmp_path / "4d"))
    assert code == 0, err
    assert "1 series converted, 1 file(s) written" in out
    (written,) = (tmp_path / "4d").glob("*.nii.gz")
    assert nib.load(written).shape == (72, 72, 5, 2)
    code, out, err = run("-o", str(tmp_path / "split"), "--volumes", "split")
    assert code == 0 and "1 series converted, 2 file(s) written" in out
    assert [nib.load(p).shape for p in sorted((tmp_path / "split").glob("*.nii.gz"))] == [
        (72, 72, 5),
        (72, 72, 5),
    ]
    code, _, err = run("-o", str(tmp_path / "bad"), "--volumes", "3d")
    assert code == 2 and "--volumes must be one of 4d, split, got '3d'" in err


def test_series_folder_source_reads_the_first_volume_of_a_4d_series_and_says_so(
    tmp_path: Path,
) -> None:
    enumerate_items, _ = get_source("series-folder")
    (item,) = enumerate_items(SeriesFolderSource(root=str(SI_MOSAIC)), tmp_path)
    with pytest.warns(RadprepWarning, match=r"a 4D series of 2 volumes \(time\); .* volume 0 only"):
        sample = load_item(item, "series-folder", None)
    assert sample.image.pixels.shape == (5, 72, 72)
    np.testing.assert_array_equal(sample.image.pixels, load_series(SI_MOSAIC).image.pixels[0])

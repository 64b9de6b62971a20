"""Crafted inputs built from real files: paths, file meta, odd UIDs, duplicates, cut-off pixels.

Each test takes a real file of pydicom's test set, plants what an attacker or a broken exporter
could put there, and checks what comes out: where files land, what their bytes hold, and that
every input ends as written, a duplicate, or failed with its reason.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydantic import ValidationError
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from typer.testing import CliRunner

from radprep import load_recipe
from radprep.cli.app import app
from radprep.deid import DeidConfig, PixelRegion, date_shift_days, deidentify_file, map_uid
from radprep.deid.core import is_uid_name
from radprep.deid.profile import load_profile
from radprep.errors import InputError, PixelDecodeError, SpecError, TruncatedFileError
from radprep.pipeline.spec import DeidSpec
from realfiles import CT_HU, CT_SMALL, MR_SMALL, US_PALETTE, testdata

pytestmark = pytest.mark.filterwarnings("ignore::radprep.errors.RadprepWarning")

KEY = b"safety-test-key-0123456789abcdef"
KEY_TEXT = KEY.decode()
UID_KEYWORDS = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")
HOSTILE = ("/abs/x", "../../../x", "..", "../../../../../../tmp/evil")
# One MR image in several transfer syntaxes, all with the same SOPInstanceUID (pydicom's files).
MR_SMALL_TWINS = (
    "MR_small.dcm",
    "MR_small_implicit.dcm",
    "MR_small_bigendian.dcm",
    "MR_small_expb.dcm",
    "MR_small_padded.dcm",
    "MR_small_RLE.dcm",
    "MR_small_jp2klossless.dcm",
    "MR_small_jpeg_ls_lossless.dcm",
)
MR_SMALL_J2K = "MR_small_jp2klossless.dcm"
SR_BASIC = "reportsi.dcm"  # an SR with PNAME, TEXT, DATE and UIDREF content items


def _craft(src: str, dst: Path, **attrs: object) -> Path:
    """Copy a real file with some attributes replaced (None deletes one)."""
    ds = pydicom.dcmread(testdata(src))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for k, v in attrs.items():
            if v is None:
                if k in ds:
                    delattr(ds, k)
            else:
                setattr(ds, k, v)
        dst.parent.mkdir(parents=True, exist_ok=True)
        ds.save_as(dst, enforce_file_format=False)
    return dst


def _files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


def _run_cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env={"RADPREP_DEID_KEY": KEY_TEXT})
    return result.exit_code, result.stdout, result.stderr


def _names_are_generated_uids(out: Path, path: Path) -> None:
    rel = path.relative_to(out)
    study, series, name = rel.parts
    sop = name.removesuffix(".dcm").split("-")[0]
    assert is_uid_name(study) and is_uid_name(series) and is_uid_name(sop), rel


# Paths -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("retain", [False, True], ids=["default", "retain-uids"])
@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize("keyword", UID_KEYWORDS)
def test_no_uid_value_chooses_where_a_file_is_written(
    tmp_path: Path, keyword: str, value: str, retain: bool
) -> None:
    src = _craft(CT_SMALL, tmp_path / "in" / "a.dcm", **{keyword: value})
    out = tmp_path / "deep" / "er" / "out"
    result = deidentify_file(src, out, DeidConfig(retain_uids=retain), KEY)
    assert result.record.status == "written"
    assert out.resolve() in result.path.resolve().parents
    _names_are_generated_uids(out, result.path)
    # Nothing was created anywhere but OUT (and the input).
    assert _files_under(tmp_path) == {src, result.path}
    # The name is the keyed mapping of the hostile value, whatever the options.
    assert map_uid(value, KEY) in result.path.relative_to(out).as_posix()
    written = pydicom.dcmread(result.path)
    if retain and keyword != "SOPInstanceUID":
        assert written[keyword].value == value  # Retain UIDs keeps it in the header, not the path
    else:
        assert written[keyword].value == map_uid(value, KEY)
    assert written.file_meta.MediaStorageSOPInstanceUID == written.SOPInstanceUID
    assert is_uid_name(written.SOPInstanceUID)


def test_cli_with_retain_uids_writes_nothing_outside_out(tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    for i, (kw, value) in enumerate((k, v) for k in UID_KEYWORDS for v in HOSTILE):
        _craft(CT_SMALL, inputs / f"{i}.dcm", **{kw: value})
    out = tmp_path / "out"
    before = _files_under(tmp_path)
    code, _, err = _run_cli("deid", str(inputs), str(out), "--retain", "uids", "-j", "1")
    assert code == 0, err
    made = _files_under(tmp_path) - before
    assert all(out in p.parents for p in made)
    dcms = [p for p in made if p.suffix == ".dcm"]
    assert len(dcms) == len(UID_KEYWORDS) * len(HOSTILE)
    for p in dcms:
        _names_are_generated_uids(out, p)


def test_a_recipe_sample_id_format_must_be_a_safe_name(tmp_path: Path) -> None:
    assert DeidSpec(sample_id_format="S-{hash:12}_x").sample_id_format == "S-{hash:12}_x"
    for bad in ("../../../X_{hash:12}", "a/{hash:8}", "/abs{hash:8}", "x.{hash:8}", "a {hash}"):
        with pytest.raises(ValidationError, match=r"only letters, digits, '_' and '-'"):
            DeidSpec(sample_id_format=bad)
    # A whole recipe: the error says where.
    with pytest.raises(
        SpecError, match=r"deid\.sample_id_format: name format '\.\./\.\./\.\./X_\{hash:12\}'"
    ):
        load_recipe(
            "cbis-ddsm-299",
            overrides=[f"source.root={tmp_path}", "deid.sample_id_format=../../../X_{hash:12}"],
        )


def test_an_output_folder_that_links_elsewhere_is_refused(tmp_path: Path) -> None:
    src = testdata(CT_SMALL)
    probe = deidentify_file(src, tmp_path / "probe", DeidConfig(), KEY)
    study = probe.path.relative_to(tmp_path / "probe").parts[0]
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    (out / study).symlink_to(elsewhere)
    with pytest.raises(OSError, match=r"resolves outside the output folder"):
        deidentify_file(src, out, DeidConfig(), KEY)
    assert not _files_under(elsewhere)


# File meta -------------------------------------------------------------------------------------

PHI_NAME = "DOE^JOHN"
PHI_META = {
    "MediaStorageSOPClassUID": "1.2.3.DOE.JOHN",
    "MediaStorageSOPInstanceUID": "1.2.3.DOE.JOHN.1",
    "ImplementationClassUID": "1.2.3.DOE.JOHN.2",
    "ImplementationVersionName": "DOEJOHN",
    "SourceApplicationEntityTitle": "DOEJOHN_AE",
    "SendingApplicationEntityTitle": "DOEJOHN_SEND",
    "ReceivingApplicationEntityTitle": "DOEJOHN_RECV",
    "PrivateInformationCreatorUID": "1.2.3.DOE.JOHN.3",
    "PrivateInformation": b"DOE JOHN 1970",
}


@pytest.mark.parametrize("with_sop_class", [True, False], ids=["sop-class", "no-sop-class"])
def test_no_file_meta_element_reaches_the_output(tmp_path: Path, with_sop_class: bool) -> None:
    src = tmp_path / "meta.dcm"
    ds = pydicom.dcmread(testdata(CT_SMALL))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for kw, value in PHI_META.items():
            setattr(ds.file_meta, kw, value)
        if not with_sop_class:
            del ds.SOPClassUID
        ds.save_as(src, enforce_file_format=False)
    assert b"DOE" in src.read_bytes()
    result = deidentify_file(src, tmp_path / "out", DeidConfig(), KEY)
    data = result.path.read_bytes()
    assert b"DOE" not in data and b"JOHN" not in data
    meta = pydicom.dcmread(result.path).file_meta
    expected = {
        "FileMetaInformationGroupLength",
        "FileMetaInformationVersion",
        "MediaStorageSOPInstanceUID",
        "TransferSyntaxUID",
        "ImplementationClassUID",
        "ImplementationVersionName",
    }
    if with_sop_class:
        expected.add("MediaStorageSOPClassUID")
        assert meta.MediaStorageSOPClassUID == ds.SOPClassUID
    assert {e.keyword for e in meta} == expected
    assert meta.TransferSyntaxUID == ds.file_meta.TransferSyntaxUID
    assert meta.ImplementationVersionName == "RADPREP_DEID_1"
    # dcmdump (dcmtk, an independent parser) reads the same meta group.
    dump = subprocess.run(["dcmdump", "-M", str(result.path)], capture_output=True, text=True)
    assert dump.returncode == 0 and "DOE" not in dump.stdout
    assert ("(0002,0002)" in dump.stdout) == with_sop_class


def _swallowing_copy(src: Path, dst: Path, upto_keyword: str) -> bytes:
    """Copy `src` with its last file meta element's length grown to swallow the data set up to
    `upto_keyword` (as a corrupted header does); return the swallowed patient's name."""
    raw = bytearray(src.read_bytes())
    ds = pydicom.dcmread(src)
    last = max(e.tag for e in ds.file_meta)
    # The meta is Explicit VR Little Endian: tag, VR, then a 2-byte length (UI, SH).
    pos = raw.index(struct.pack("<HH", 2, last & 0xFFFF), 132)
    value_at = pos + 8
    target = raw.index(struct.pack("<HH", *divmod(ds.data_element(upto_keyword).tag, 0x10000)))
    raw[pos + 6 : pos + 8] = struct.pack("<H", target - value_at)
    dst.write_bytes(bytes(raw))
    return str(ds.PatientName).encode()


def test_a_corrupted_meta_length_never_carries_the_data_set_into_the_output(
    tmp_path: Path,
) -> None:
    src = tmp_path / "corrupt.dcm"
    name = _swallowing_copy(testdata(CT_SMALL), src, "PatientID")
    assert name in src.read_bytes()
    out = tmp_path / "out"
    try:
        result = deidentify_file(src, out, DeidConfig(), KEY)
    except InputError as e:
        assert str(src) in str(e)
        assert not out.exists() or not _files_under(out)
        return
    data = result.path.read_bytes()
    assert name not in data and name.split(b"^")[0] not in data
    meta = pydicom.dcmread(result.path).file_meta
    assert "MediaStorageSOPClassUID" not in meta  # the data set's SOPClassUID was swallowed


# Odd UIDs --------------------------------------------------------------------------------------

LONG_UID = "1.2." + ".".join(["123456789"] * 25)  # 253 characters


@pytest.mark.parametrize("retain", [False, True], ids=["default", "retain-uids"])
@pytest.mark.parametrize(
    "value", [["1.2.3.4", "1.2.3.5"], LONG_UID], ids=["multi-valued", "over-long"]
)
def test_multi_valued_and_over_long_uids_give_valid_names_and_meta(
    tmp_path: Path, value: object, retain: bool
) -> None:
    src = _craft(CT_SMALL, tmp_path / "in" / "a.dcm", **dict.fromkeys(UID_KEYWORDS, value))
    out = tmp_path / "out"
    result = deidentify_file(src, out, DeidConfig(retain_uids=retain), KEY)
    _names_are_generated_uids(out, result.path)
    assert "[" not in str(result.path) and "'" not in str(result.path)
    written = pydicom.dcmread(result.path)
    assert is_uid_name(written.SOPInstanceUID)
    assert written.file_meta.MediaStorageSOPInstanceUID == written.SOPInstanceUID
    joined = value if isinstance(value, str) else "\\".join(value)
    assert result.path.stem == map_uid(joined, KEY)
    if not retain:
        for kw in UID_KEYWORDS:  # VM 1: the several values become one generated UID
            assert written[kw].value == map_uid(joined, KEY)
    else:
        assert written.StudyInstanceUID == value  # retained as it came
        assert "SOPInstanceUID (0008,0018) was not one valid UID" in result.record.note


# Nothing lost ----------------------------------------------------------------------------------


def test_one_image_in_many_transfer_syntaxes_all_reach_one_output_folder(tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name in MR_SMALL_TWINS:
        shutil.copy(testdata(name), inputs / name)
    shutil.copy(testdata(MR_SMALL), inputs / "copy-of-MR_small.dcm")  # byte-identical input
    assert len({pydicom.dcmread(p).SOPInstanceUID for p in inputs.iterdir()}) == 1
    out = tmp_path / "out"
    code, stdout, err = _run_cli("deid", str(inputs), str(out), "-j", "1")
    assert code == 0, err
    written = sorted(p for p in out.rglob("*.dcm"))
    assert len(written) == len(MR_SMALL_TWINS)
    assert len({p.parent for p in written}) == 1
    assert "1 duplicate(s) of another input skipped" in stdout.splitlines()[-1]
    assert stdout.count("a duplicate of") == 1
    assert err.count("same SOPInstanceUID (0008,0018) with other content") == 7
    reference = pydicom.dcmread(testdata(MR_SMALL)).pixel_array
    syntaxes = set()
    for p in written:
        ds = pydicom.dcmread(p)
        syntaxes.add(ds.file_meta.TransferSyntaxUID)
        assert np.array_equal(ds.pixel_array, reference), p.name
    assert len(syntaxes) == 6  # implicit, explicit LE and BE, RLE, JPEG 2000, JPEG-LS
    # A second run finds every file where it is.
    code, stdout, _ = _run_cli("deid", str(inputs), str(out), "-j", "1", "-q")
    assert code == 0 and f"({len(MR_SMALL_TWINS)} already there)" in stdout.splitlines()[-1]
    assert sorted(p for p in out.rglob("*.dcm")) == written


# Cut-off and broken pixel data -----------------------------------------------------------------


def _pixel_value_at(path: Path) -> int:
    ds = pydicom.dcmread(path, defer_size=16)
    return ds._dict[0x7FE00010].value_tell


@pytest.mark.parametrize("name", [MR_SMALL_J2K, "MR_small_RLE.dcm", MR_SMALL, "JPEG2000.dcm"])
@pytest.mark.parametrize("cut", ["-2", "-9", "middle", "pixel-start"])
def test_cut_off_pixel_data_fails_and_writes_nothing(tmp_path: Path, name: str, cut: str) -> None:
    data = testdata(name).read_bytes()
    start = _pixel_value_at(testdata(name))
    end = {
        "-2": len(data) - 2,
        "-9": len(data) - 9,
        "middle": (start + len(data)) // 2,
        "pixel-start": start + 4,
    }[cut]
    src = tmp_path / "cut.dcm"
    src.write_bytes(data[:end])
    out = tmp_path / "out"
    with pytest.raises((TruncatedFileError, PixelDecodeError), match=r"cut\.dcm: .*(cut|ends)"):
        deidentify_file(src, out, DeidConfig(quarantine="report"), KEY)
    assert not out.exists() or not _files_under(out)


def test_a_damaged_jpeg_2000_end_marker_fails(tmp_path: Path) -> None:
    data = bytearray(testdata(MR_SMALL_J2K).read_bytes())
    at = data.rindex(b"\xff\xd9")
    data[at : at + 2] = b"\x00\x00"  # same lengths, the codestream's end marker gone
    src = tmp_path / "broken.dcm"
    src.write_bytes(bytes(data))
    with pytest.raises(PixelDecodeError, match=r"broken\.dcm: .*end marker \(FFD9\)"):
        deidentify_file(src, tmp_path / "out", DeidConfig(), KEY)


def test_image_attributes_without_pixel_data_fail(tmp_path: Path) -> None:
    src = _craft(CT_SMALL, tmp_path / "nopix.dcm", PixelData=None)
    with pytest.raises(TruncatedFileError, match=r"nopix\.dcm: it has Rows, Columns"):
        deidentify_file(src, tmp_path / "out", DeidConfig(), KEY)


# Standard gaps ---------------------------------------------------------------------------------


def test_timezone_offset_follows_the_option_columns_of_table_e1_1(tmp_path: Path) -> None:
    row = load_profile().lookup(0x00080201)
    assert row is not None and row.basic == "X"
    assert row.options["retain_longitudinal_modified_dates"] == "C"
    assert row.options["retain_longitudinal_full_dates"] == "K"
    src = testdata(CT_SMALL)
    assert pydicom.dcmread(src).TimezoneOffsetFromUTC == "-0500"
    configs = {
        "modified": DeidConfig(),
        "full": DeidConfig(
            retain_longitudinal_modified_dates=False, retain_longitudinal_full_dates=True
        ),
        "basic": DeidConfig(retain_longitudinal_modified_dates=False),
    }
    got = {}
    for name, config in configs.items():
        ds = pydicom.dcmread(deidentify_file(src, tmp_path / name, config, KEY).path)
        got[name] = ds.get("TimezoneOffsetFromUTC")
    assert got == {"modified": "+0000", "full": "-0500", "basic": None}


def _content_items(seq: Sequence) -> list[Dataset]:
    found = []
    for item in seq:
        found.append(item)
        found += _content_items(item.get("ContentSequence", []))
    return found


@pytest.mark.parametrize("clean", [False, True], ids=["basic-D", "clean-structured-content"])
def test_sr_content_keeps_its_tree_and_loses_its_values(tmp_path: Path, clean: bool) -> None:
    src = tmp_path / "sr.dcm"
    _craft(SR_BASIC, src)
    original = pydicom.dcmread(src)
    items = _content_items(original.ContentSequence)
    # Plant identifying values in every kind of content item the option replaces.
    for item in items:
        kind = item.ValueType
        if kind == "TEXT":
            item.TextValue = "seen by Dr DOE on 2004-08-26"
        elif kind == "PNAME":
            item.PersonName = "DOE^JOHN"
        elif kind == "DATE":
            item.Date = "20040826"
        elif kind == "UIDREF":
            item.UID = "1.2.3.999"
    original.save_as(src, enforce_file_format=False)
    kinds = {i.ValueType for i in items}
    assert {"TEXT", "PNAME"} <= kinds
    config = DeidConfig(clean_structured_content=clean)
    result = deidentify_file(src, tmp_path / "out", config, KEY)
    new = pydicom.dcmread(result.path)
    new_items = _content_items(new.ContentSequence)
    assert [i.ValueType for i in new_items] == [i.ValueType for i in items]
    assert [i.RelationshipType for i in new_items] == [i.RelationshipType for i in items]
    assert [i.ConceptNameCodeSequence[0].CodeValue for i in new_items] == [
        i.ConceptNameCodeSequence[0].CodeValue for i in items
    ]
    data = result.path.read_bytes()
    assert b"DOE" not in data and b"20040826" not in data and b"1.2.3.999" not in data
    for old, item in zip(items, new_items, strict=True):
        if old.ValueType in ("TEXT", "PNAME"):
            assert str(item.get("TextValue", item.get("PersonName"))) == "ANONYMIZED"
        if old.ValueType == "DATE":
            shift = date_shift_days(str(original.PatientID), KEY)
            expected = (
                (np.datetime64("2004-08-26") + shift).astype(str).replace("-", "")
                if clean
                else "19000101"
            )
            assert item.Date == expected
    assert ("113104" in result.record.methods) == clean


def test_earlier_deidentification_methods_are_kept_and_ours_appended(tmp_path: Path) -> None:
    earlier = []
    for code, scheme, meaning in (
        ("113100", "DCM", "Basic Application Confidentiality Profile"),
        ("113102", "DCM", "Clean Recognizable Visual Features Option"),
        ("LOCAL1", "99LOCAL", "scrubbed by DOE"),
    ):
        item = Dataset()
        item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = code, scheme, meaning
        earlier.append(item)
    src = _craft(
        CT_SMALL,
        tmp_path / "already.dcm",
        DeidentificationMethodCodeSequence=Sequence(earlier),
        PatientIdentityRemoved="YES",
    )
    result = deidentify_file(src, tmp_path / "out", DeidConfig(), KEY)
    new = pydicom.dcmread(result.path)
    codes = [i.CodeValue for i in new.DeidentificationMethodCodeSequence]
    assert codes == ["113100", "113102", "113107", "113108"]
    assert all(i.CodingSchemeDesignator == "DCM" for i in new.DeidentificationMethodCodeSequence)
    assert b"DOE" not in result.path.read_bytes()


# Nothing identifying on the console ------------------------------------------------------------


@pytest.mark.filterwarnings("always::radprep.errors.RadprepWarning")
def test_warnings_and_errors_never_echo_header_values(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    inputs = tmp_path / "in"
    # pydicom complains about these values when it reads them, quoting them: the name in UIDs,
    # an over-long ID.
    _craft(CT_SMALL, inputs / "a.dcm", FrameOfReferenceUID="DOE^JOHN^1970", SOPClassUID="DOE^J")
    _craft(MR_SMALL, inputs / "b.dcm", AccessionNumber="DOEJOHN-" * 4, PatientName="DOE^JOHN")
    code, stdout, err = _run_cli("deid", str(inputs), str(tmp_path / "out"), "-j", "1")
    assert code == 0, err
    # Worker processes write to the file descriptors, this process to the runner's streams.
    fd_out, fd_err = capfd.readouterr()
    everything = stdout + err + fd_out + fd_err
    assert "DOE" not in everything and "JOHN" not in everything
    # In this process too, warnings and pydicom's log lines.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        deidentify_file(inputs / "a.dcm", tmp_path / "out2", DeidConfig(), KEY)
    shown = [str(w.message) for w in caught] + [r.getMessage() for r in caplog.records]
    assert f"{inputs / 'a.dcm'}: Invalid value for VR UI: (value withheld)." in shown
    assert not [m for m in shown if "DOE" in m]


def test_pixel_cleaning_reads_pixel_data_left_in_the_source_file(tmp_path: Path) -> None:
    # A 512 x 512 CT: its pixel data (512 KiB) is over the size the reader leaves in the file.
    src = _craft(CT_HU, tmp_path / "ct.dcm", BurnedInAnnotation="YES")
    original = pydicom.dcmread(src)
    region = PixelRegion(
        manufacturer=str(original.get("Manufacturer", "")),
        rows=original.Rows,
        columns=original.Columns,
        rectangles=((0, 0, 99, 99),),
    )
    result = deidentify_file(src, tmp_path / "out", DeidConfig(pixel_cleaning=(region,)), KEY)
    assert result.record.status == "written" and result.record.pixels_cleaned
    before, after = original.pixel_array, pydicom.dcmread(result.path).pixel_array
    assert original.PhotometricInterpretation == "MONOCHROME2"
    assert (after[:100, :100] == before.min()).all()  # the darkest value of a MONOCHROME2 image
    assert np.array_equal(after[100:], before[100:]) and np.array_equal(
        after[:100, 100:], before[:100, 100:]
    )


def test_identical_inputs_give_one_file_whether_written_or_held(tmp_path: Path) -> None:
    # An ultrasound: written or held for pixel review depending on the pixel policy; either
    # way two identical inputs give one file, and the second is said to be the same.
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name in ("us-a.dcm", "us-b.dcm"):
        shutil.copy(testdata(US_PALETTE), inputs / name)
    out, hold = tmp_path / "out", tmp_path / "held"
    code, stdout, err = _run_cli(
        "deid", str(inputs), str(out), "-j", "1", "--quarantine-dir", str(hold)
    )
    assert code == 0, err
    assert len(list(out.rglob("*.dcm")) + list(hold.rglob("*.dcm"))) == 1
    said = stdout + err
    assert ".dcm: a duplicate of " in said or ".dcm: held once)" in said

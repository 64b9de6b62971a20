"""Planted PHI: names and IDs hidden where anonymizers miss them; none survives."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import ImplicitVRLittleEndian

from radprep.deid import DeidConfig, deidentify_dataset, deidentify_file, map_uid
from realfiles import CT_SMALL, testdata

KEY = b"phi-test-key-0123456789abcdef!!!"

NAME = "Plantedsurname^Johnathan"
PID = "MRN-4455667788"
OTHER_ID = "OTHERID-99887766"
ISSUER = "Planted General Hospital"
REQ_ID = "REQ-PLANTED-777"
SPS_ID = "SPS-PLANTED-555"
ACCESSION = "ACC-PLANT-123"
REF_UID = "1.2.826.0.1.3680043.2.1125.4242424242"
SRC_UID = "1.2.826.0.1.3680043.2.1125.31337"
DATE = "20190412"
COMMENT = f"Seen by Dr Plantedsurname for {PID} on 2019-04-12, phone 555-0199-321"
UN_TEXT = "UNVR Plantedsurname MRN-4455667788"

# Every planted value, and the planted parts of the input's folder and file names.
PLANTED = [
    "Plantedsurname",
    "Johnathan",
    PID,
    OTHER_ID,
    ISSUER,
    REQ_ID,
    SPS_ID,
    ACCESSION,
    REF_UID,
    SRC_UID,
    DATE,
    "2019-04-12",
    "555-0199-321",
    "UNVR",
    "Planted",
]


def planted_dataset() -> Dataset:
    """CT_small with PHI in private elements, nested sequences and free text."""
    ds = pydicom.dcmread(testdata(CT_SMALL))
    ds.PatientName = NAME
    ds.PatientID = PID
    ds.AccessionNumber = ACCESSION
    ds.StudyDate = DATE
    # Private elements: an explicit LO and DA, and a private sequence holding public PHI.
    block = ds.private_block(0x0011, "ACME PLANTED", create=True)
    block.add_new(0x10, "LO", NAME)
    block.add_new(0x11, "DA", DATE)
    inner = Dataset()
    inner.PatientName = NAME
    inner.OtherPatientIDs = OTHER_ID
    block.add_new(0x12, "SQ", Sequence([inner]))
    # A private element with VR UN (what an implicit-VR reader sees for unknown private tags).
    un_block = ds.private_block(0x0013, "ACME UN", create=True)
    un_block.add_new(0x10, "UN", UN_TEXT.encode())
    # Identifiers in the sequences the Basic Profile names.
    other = Dataset()
    other.PatientID = OTHER_ID
    other.IssuerOfPatientID = ISSUER
    ds.OtherPatientIDsSequence = Sequence([other])
    ref_study = Dataset()
    ref_study.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.1"
    ref_study.ReferencedSOPInstanceUID = REF_UID
    req = Dataset()
    req.RequestedProcedureID = REQ_ID
    req.ScheduledProcedureStepID = SPS_ID
    req.AccessionNumber = ACCESSION
    req.ReferencedStudySequence = Sequence([ref_study])
    ds.RequestAttributesSequence = Sequence([req])
    # References the IOD keeps (their UIDs are mapped), one nested two deep.
    src = Dataset()
    src.ReferencedSOPClassUID = ds.SOPClassUID
    src.ReferencedSOPInstanceUID = SRC_UID
    deriv = Dataset()
    deriv.SourceImageSequence = Sequence([src])
    ds.DerivationImageSequence = Sequence([deriv])
    ref_img = Dataset()
    ref_img.ReferencedSOPClassUID = ds.SOPClassUID
    ref_img.ReferencedSOPInstanceUID = REF_UID
    ds.ReferencedImageSequence = Sequence([ref_img])
    # Free text.
    ds.ImageComments = COMMENT
    ds.StudyComments = COMMENT
    ds.PatientComments = COMMENT
    ds.AdditionalPatientHistory = COMMENT
    ds.DerivationDescription = COMMENT
    return ds


def _planted_file(tmp_path: Path, *, implicit: bool = False) -> Path:
    folder = tmp_path / "in" / f"Plantedsurname_Johnathan_{PID}"
    folder.mkdir(parents=True)
    path = folder / f"Johnathan Plantedsurname {DATE}.dcm"
    ds = planted_dataset()
    if implicit:
        ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    ds.save_as(path, enforce_file_format=True)
    return path


def _leaks(data: bytes, name: str) -> list[str]:
    text = data.decode("latin-1")
    return [v for v in PLANTED if v in text or v in name]


@pytest.mark.parametrize("implicit", [False, True], ids=["explicit-VR", "implicit-VR-UN-privates"])
@pytest.mark.parametrize(
    "config",
    [DeidConfig(), DeidConfig(clean_descriptors=True), DeidConfig(retain_safe_private=True)],
    ids=["default", "clean-descriptors", "retain-safe-private"],
)
def test_no_planted_value_survives(tmp_path: Path, implicit: bool, config: DeidConfig) -> None:
    src = _planted_file(tmp_path, implicit=implicit)
    if implicit:  # the private elements really are UN when read back
        assert pydicom.dcmread(src)[0x00131010].VR == "UN"
    result = deidentify_file(src, tmp_path / "out", config, KEY)
    assert result.record.status == "written"
    data = result.path.read_bytes()
    rel = result.path.relative_to(tmp_path / "out").as_posix()
    assert _leaks(data, rel) == []
    assert _leaks(result.record.to_json().encode(), "") == []
    # Only the output tree exists: nothing named after the input anywhere.
    names = [p.name for p in (tmp_path / "out").rglob("*")]
    assert all(not any(v in n for v in PLANTED) for n in names)


def test_nested_references_are_mapped_not_dropped(tmp_path: Path) -> None:
    new, _ = deidentify_dataset(planted_dataset(), DeidConfig(), KEY)
    src = new.DerivationImageSequence[0].SourceImageSequence[0]
    assert src.ReferencedSOPInstanceUID == map_uid(SRC_UID, KEY)
    assert new.ReferencedImageSequence[0].ReferencedSOPInstanceUID == map_uid(REF_UID, KEY)
    assert "OtherPatientIDsSequence" not in new and "RequestAttributesSequence" not in new
    assert all(not e.tag.is_private for e in new.iterall())


def test_clean_descriptors_keeps_the_description_without_the_identifiers() -> None:
    new, record = deidentify_dataset(planted_dataset(), DeidConfig(clean_descriptors=True), KEY)
    assert new.ImageComments.startswith("Seen by Dr ***")
    assert "Plantedsurname" not in new.ImageComments and PID not in new.ImageComments
    assert "2019-04-12" not in new.ImageComments and "555-0199-321" not in new.ImageComments
    assert "113105" in record.methods
    # Without the option, descriptions go (Table E.1-1: X).
    plain, _ = deidentify_dataset(planted_dataset(), DeidConfig(), KEY)
    assert "ImageComments" not in plain and "StudyComments" not in plain


def test_the_input_dataset_is_not_changed() -> None:
    ds = planted_dataset()
    before = copy.deepcopy(ds)
    deidentify_dataset(ds, DeidConfig(clean_descriptors=True), KEY)
    assert ds == before and ds.file_meta == before.file_meta


def test_safe_private_keeps_only_the_documented_numeric_values() -> None:
    ds = planted_dataset()
    siemens = ds.private_block(0x0019, "SIEMENS MR HEADER", create=True)
    siemens.add_new(0x0C, "IS", 1000)  # B_value: on the safe list
    siemens.add_new(0x08, "CS", "PLANTED")  # not on the list
    kept, record = deidentify_dataset(ds, DeidConfig(retain_safe_private=True), KEY)
    block = kept.private_block(0x0019, "SIEMENS MR HEADER")
    assert block[0x0C].value == 1000
    assert 0x00191008 not in kept and 0x00111010 not in kept and 0x00131010 not in kept
    assert "113111" in record.methods
    dropped, _ = deidentify_dataset(ds, DeidConfig(), KEY)
    assert not any(e.tag.is_private for e in dropped.iterall())


def test_private_tags_of_a_real_vendor_file_all_go(tmp_path: Path) -> None:
    # JPEG2000.dcm repeats its series and body-part text in private groups 0009 and 0011.
    src = testdata("JPEG2000.dcm")
    shutil.copy(src, tmp_path / "a.dcm")
    original = pydicom.dcmread(src)
    assert any(e.tag.is_private for e in original.iterall())
    new, record = deidentify_dataset(original, DeidConfig(), KEY)
    assert not any(e.tag.is_private for e in new.iterall())
    assert record.removed.get("private", 0) > 0

"""De-identification of every real test file: no PHI survives, UIDs stay consistent, files stay valid.

The corpus is every file of pydicom's test files, pydicom-data and deid-data, de-identified once
per configuration (the ML default, and the Basic Profile with no option). Images that need pixel
review are held in a quarantine folder, so they are checked too. Each input gets its own output
folder (named by its index), so that each output is found by its input; all of them into one
folder, duplicates and twins included, is tested in test_deid_safety.py.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset

from radprep.deid import DeidConfig, DeidResult, deidentify_file, map_uid
from radprep.deid.actions import CLASS_UID_KEYWORDS
from radprep.deid.profile import load_profile
from radprep.deid.uids import is_standard_uid
from radprep.errors import NotDicomError, TruncatedFileError
from realfiles import deid_data_files, pydicom_data_files, pydicom_files

KEY = b"corpus-test-key-0123456789abcdef"
ALL_FILES = pydicom_files() + pydicom_data_files() + deid_data_files()

# Header de-identification on the whole corpus; burned-in text (OCR, pixel cleaning) is tested
# in test_deid_ocr.py, so pixels are not read here (pixel_ocr: off).
CONFIGS = {
    "default": DeidConfig(pixel_ocr="off"),
    "basic": DeidConfig(
        retain_longitudinal_modified_dates=False,
        retain_patient_characteristics=False,
        pixel_ocr="off",
    ),
}

# The only inputs not de-identified, by name, with the reason. Everything else must be.
EXPECTED_NOT_DONE = {
    "README": "NotDicomError",  # a text file among pydicom's DICOMDIR test files
    "rtplan.dump": "NotDicomError",  # a text dump of rtplan.dcm
    "no_meta.dcm": "NotDicomError",  # a bare data set with none of the attributes that say DICOM
    "MR_truncated.dcm": "TruncatedFileError",  # pixel data cut short (8130 of 8192 bytes)
    "rtplan_truncated.dcm": "TruncatedFileError",  # a value's length runs past the end
    # cut inside its JPEG 2000 pixel data: pydicom reads no data set at all
    "emri_small_jpeg_2k_lossless_too_short.dcm": "TruncatedFileError",
    "DICOMDIR": "skipped",  # DICOMDIRs index files by original path: rebuilt, not de-identified
    "DICOMDIR-bigEnd": "skipped",
    "DICOMDIR-empty.dcm": "skipped",
    "DICOMDIR-implicit": "skipped",
    "DICOMDIR-nooffset": "skipped",
    "DICOMDIR-nopatient": "skipped",
    "DICOMDIR-reordered": "skipped",
}

# Values too short or too plain to search for: they collide with legitimate kept values
# ("1", "0.5", "MR", "5.000000" occur as counts, geometry and codes). Not searched: anything
# shorter than 4 characters, integers shorter than 6 digits, and decimal numbers. Longer
# integers (IDs, dates) and UIDs are searched.
MIN_LEN = 4
_PLAIN_NUMBER = re.compile(r"^[+-]?(?:\d{1,5}|\d*\.\d*(?:[eE][+-]?\d+)?)$")
# A value that the same output also holds in a coded attribute (CS: ImageType 'WHOLE BODY',
# BodyPartExamined), in a time of day (TM, kept as it is under the modified-dates option) or in
# the equipment's make and model (public product names, kept by design) is not evidence of a
# leak: an input that repeats Manufacturer 'TOSHIBA_MEC' as InstitutionName 'TOSHIBA', or
# StudyTime in a private tag, would otherwise count. So is a value equal to one of the profile's
# own dummies. Such values are skipped.
_DUMMIES = {"ANONYMIZED", "19000101", "000000", "19000101000000"}
_EQUIPMENT = {
    "Manufacturer",
    "ManufacturerModelName",
    "SoftwareVersions",
    "SecondaryCaptureDeviceManufacturer",
    "SecondaryCaptureDeviceManufacturerModelName",
    "SecondaryCaptureDeviceSoftwareVersions",
}


@dataclass
class Case:
    src: Path
    result: DeidResult | None
    error: str = ""


def _run(config: DeidConfig, root: Path) -> list[Case]:
    cases = []
    for i, src in enumerate(ALL_FILES):
        cfg = config.model_copy(
            update={"quarantine": "hold", "quarantine_dir": root / "quarantine" / str(i)}
        )
        try:
            result = deidentify_file(src, root / "out" / str(i), cfg, KEY)
        except (NotDicomError, TruncatedFileError) as e:
            cases.append(Case(src, None, type(e).__name__))
            continue
        cases.append(Case(src, result))
    return cases


@pytest.fixture(scope="module", params=list(CONFIGS))
def corpus(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    name = request.param
    root = tmp_path_factory.mktemp(f"corpus-{name}")
    return name, CONFIGS[name], _run(CONFIGS[name], root)


def _done(cases: list[Case]) -> list[tuple[Case, Path]]:
    return [(c, c.result.path) for c in cases if c.result is not None and c.result.path]


def test_every_file_is_deidentified_or_listed_with_its_reason(corpus) -> None:
    _, _, cases = corpus
    assert len(ALL_FILES) > 200
    not_done = {}
    for c in cases:
        if c.error:
            not_done[c.src.name] = c.error
        elif c.result is not None and c.result.record.status == "skipped":
            not_done[c.src.name] = "skipped"
    assert not_done == EXPECTED_NOT_DONE
    done = _done(cases)
    assert len(done) == len(cases) - len([c for c in cases if c.src.name in EXPECTED_NOT_DONE])


# What the test searches for --------------------------------------------------------------------


def _searched(entry, config: DeidConfig) -> str:
    """'all', 'dates' or '' : which original values of this Table E.1-1 row must be gone."""
    opts = entry.options
    if config.retain_longitudinal_modified_dates and "retain_longitudinal_modified_dates" in opts:
        return "dates"  # shifted by whole days: the original date must not survive
    for name in ("retain_patient_characteristics",):
        if getattr(config, name) and name in opts:
            return ""  # kept (K) or cleaned in place (C) by the option
    return "all" if any(code in entry.basic for code in "DZXU") else ""


def _text_values(elem) -> list[str]:
    value = elem.value
    if value is None:
        return []
    if isinstance(value, bytes):
        text = value.decode("latin-1").strip("\x00 ")
        return [text] if text.isprintable() else []  # binary blobs: nothing to search by
    values = list(value) if isinstance(value, (list, pydicom.multival.MultiValue)) else [value]
    return [str(v).strip("\x00 ") for v in values]


def phi_values(ds: Dataset, config: DeidConfig) -> set[str]:
    """Every value of an original element that must not survive (any depth, file meta too)."""
    profile = load_profile()
    found: set[str] = set()

    def walk(d: Dataset, in_private: bool) -> None:
        for elem in d:
            private = in_private or elem.tag.is_private
            if elem.VR == "SQ":
                for item in elem.value or []:
                    walk(item, private)
                continue
            if elem.tag.group == 0x7FE0:
                continue
            if private:
                mode = "all"
            else:
                entry = profile.lookup(elem.tag)
                mode = _searched(entry, config) if entry is not None else ""
            if not mode or (mode == "dates" and elem.VR not in ("DA", "DT")):
                continue
            for v in _text_values(elem):
                if len(v) < MIN_LEN or _PLAIN_NUMBER.match(v.strip()):
                    continue
                if elem.VR == "UI" and is_standard_uid(v):
                    continue
                found.add(v)

    walk(ds.file_meta, False)
    walk(ds, False)
    return found


def _searchable(out: Path) -> tuple[bytes, Dataset]:
    raw = out.read_bytes()
    ds = pydicom.dcmread(out)
    pixels = ds.get("PixelData")
    if pixels:
        raw = raw.replace(pixels, b"", 1)  # pixel values are not text
    return raw, ds


def _read(src: Path) -> Dataset:
    try:
        return pydicom.dcmread(src)
    except pydicom.errors.InvalidDicomError:
        return pydicom.dcmread(src, force=True)


def _kept_by_design(ds: Dataset) -> list[str]:
    return [
        v
        for elem in ds.iterall()
        if not elem.tag.is_private and (elem.VR in ("CS", "TM") or elem.keyword in _EQUIPMENT)
        for v in _text_values(elem)
    ]


def test_no_original_phi_value_survives_anywhere(corpus) -> None:
    _, config, cases = corpus
    leaks = []
    searched = 0
    for case, out in _done(cases):
        src_ds = _read(case.src)
        raw, new = _searchable(out)
        kept = _kept_by_design(new)
        rel = case.result.record.output
        for value in phi_values(src_ds, config):
            if value in _DUMMIES or any(value in k for k in kept):
                continue
            searched += 1
            if value.encode("utf-8", "replace") in raw or value.encode("latin-1", "replace") in raw:
                leaks.append(f"{case.src.name}: {value!r} is in the output")
            if value in rel:
                leaks.append(f"{case.src.name}: {value!r} is in the output name {rel}")
    assert searched > 2000
    assert not leaks, "\n".join(leaks[:50])


def test_output_names_are_made_of_new_uids_only(corpus) -> None:
    _, _, cases = corpus
    uid = r"2\.25\.\d+"
    for case, out in _done(cases):
        rec = case.result.record
        assert re.fullmatch(rf"{uid}/{uid}/{uid}\.dcm", rec.output) or re.fullmatch(
            rf"(?:{uid}|no-study-uid)/(?:{uid}|no-series-uid)/{uid}\.dcm", rec.output
        ), rec.output
        assert out.as_posix().endswith(rec.output)
        for part in [case.src.stem, *(p.name for p in case.src.parents[:2])]:
            if not part.isdigit() and len(part) >= MIN_LEN:
                assert part not in rec.output


# UIDs ------------------------------------------------------------------------------------------


def _uids(ds: Dataset, *, meta: bool = True) -> list[tuple[str, str]]:
    found = []

    def walk(d: Dataset) -> None:
        for elem in d:
            if elem.VR == "SQ":
                for item in elem.value or []:
                    walk(item)
            elif elem.VR == "UI" and not elem.tag.is_private:
                found.extend((elem.keyword, v) for v in _text_values(elem) if v)

    if meta and hasattr(ds, "file_meta"):
        walk(ds.file_meta)
    walk(ds)
    return found


def test_uids_are_mapped_consistently_at_every_depth(corpus) -> None:
    _, _config, cases = corpus
    studies: dict[str, set[str]] = {}
    for case, out in _done(cases):
        src_ds = _read(case.src)
        new = pydicom.dcmread(out)
        for kw in (
            "StudyInstanceUID",
            "SeriesInstanceUID",
            "SOPInstanceUID",
            "FrameOfReferenceUID",
        ):
            if src_ds.get(kw):
                assert new.get(kw) == map_uid(str(src_ds.get(kw)), KEY), (case.src.name, kw)
        assert new.file_meta.MediaStorageSOPInstanceUID == new.SOPInstanceUID, case.src.name
        if src_ds.file_meta.get("TransferSyntaxUID"):
            assert new.file_meta.TransferSyntaxUID == src_ds.file_meta.TransferSyntaxUID
        originals = {v for _, v in _uids(src_ds)}
        mapped = {map_uid(v, KEY) for v in originals}
        if not src_ds.get("SOPInstanceUID"):
            # No SOPInstanceUID: named by a keyed hash of the file (never from the file meta).
            mapped.add(new.SOPInstanceUID)
        for kw, v in _uids(new):
            if kw in ("ImplementationClassUID",) or is_standard_uid(v):
                continue
            if kw in CLASS_UID_KEYWORDS or kw == "MediaStorageSOPClassUID":
                assert v in originals, (case.src.name, kw, v)
            else:
                assert v in mapped and v not in originals, (case.src.name, kw, v)
        if src_ds.get("StudyInstanceUID"):
            studies.setdefault(str(src_ds.StudyInstanceUID), set()).add(str(new.StudyInstanceUID))
    # Across the set: one new study UID per original study, and no two studies merged.
    assert all(len(v) == 1 for v in studies.values())
    news = [next(iter(v)) for v in studies.values()]
    assert len(set(news)) == len(news)


# Validity --------------------------------------------------------------------------------------

# Type 1 and 2 attributes of the common modules (PS3.3 C.7.1.1, C.7.2.1, C.7.3.1, C.7.4.1,
# C.7.5.1, C.7.6.1-3, C.12.1 ...): present in the input, so present in the output.
REQUIRED = [
    "SOPClassUID",
    "SOPInstanceUID",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "Modality",
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyDate",
    "StudyTime",
    "ReferringPhysicianName",
    "StudyID",
    "AccessionNumber",
    "SeriesNumber",
    "InstanceNumber",
    "Manufacturer",
    "FrameOfReferenceUID",
    "PositionReferenceIndicator",
    "ImageType",
    "SamplesPerPixel",
    "PhotometricInterpretation",
    "Rows",
    "Columns",
    "BitsAllocated",
    "BitsStored",
    "HighBit",
    "PixelRepresentation",
    "PlanarConfiguration",
    "NumberOfFrames",
    "PixelSpacing",
    "ImagePositionPatient",
    "ImageOrientationPatient",
    "SliceThickness",
    "ContentDate",
    "ContentTime",
    "ConversionType",
    "PatientOrientation",
    "Laterality",
    "ImageLaterality",
    "KVP",
    "RescaleIntercept",
    "RescaleSlope",
    "WindowCenter",
    "WindowWidth",
    "ContrastBolusAgent",
    "PerFrameFunctionalGroupsSequence",
    "SharedFunctionalGroupsSequence",
    "SegmentSequence",
    "ReferencedSeriesSequence",
    "ROIContourSequence",
    "StructureSetROISequence",
    "OperatorsName",
    "DeviceSerialNumber",
    "AcquisitionContextSequence",
    "PresentationLUTShape",
]


def test_required_attributes_stay_and_output_is_marked(corpus) -> None:
    name, _, cases = corpus
    for case, out in _done(cases):
        src_ds = _read(case.src)
        new = pydicom.dcmread(out)
        missing = [kw for kw in REQUIRED if kw in src_ds and kw not in new]
        assert not missing, (case.src.name, missing)
        assert new.PatientIdentityRemoved == "YES"
        codes = {item.CodeValue for item in new.DeidentificationMethodCodeSequence}
        assert "113100" in codes
        assert all(
            item.CodingSchemeDesignator == "DCM" for item in new.DeidentificationMethodCodeSequence
        )
        if name == "default":
            assert {"113107", "113108"} <= codes
            assert new.LongitudinalTemporalInformationModified == "MODIFIED"
        else:
            assert codes == {"113100"}
            assert new.LongitudinalTemporalInformationModified == "REMOVED"
        if "PatientAge" in new and new.PatientAge:
            assert int(str(new.PatientAge)[:3]) <= 90


def test_pixel_data_is_unchanged(corpus) -> None:
    _, _, cases = corpus
    checked = 0
    for case, out in _done(cases):
        assert not case.result.record.pixels_cleaned  # no cleaning regions given here
        src_ds = _read(case.src)
        new = pydicom.dcmread(out)
        for kw in ("PixelData", "FloatPixelData", "DoubleFloatPixelData"):
            if kw in src_ds:
                assert new[kw].value == src_ds[kw].value, (case.src.name, kw)
                checked += 1
    assert checked > 150


def test_every_output_is_readable_by_pydicom(corpus) -> None:
    _, _, cases = corpus
    for _case, out in _done(cases):
        ds = pydicom.dcmread(out)
        for elem in ds.iterall():
            str(elem.value)[:10]
        assert ds.preamble is not None


@pytest.mark.dcmtk
def test_every_output_is_readable_by_dcmdump(corpus) -> None:
    _, _, cases = corpus
    outs = [str(out) for _, out in _done(cases)]
    bad = []
    for i in range(0, len(outs), 60):
        chunk = outs[i : i + 60]
        proc = subprocess.run(["dcmdump", "-q", *chunk], capture_output=True, text=True)
        if proc.returncode != 0 or "E: " in proc.stderr:
            for f in chunk:
                one = subprocess.run(["dcmdump", "-q", f], capture_output=True, text=True)
                if one.returncode != 0 or "E: " in one.stderr:
                    bad.append(f"{f}: {one.stderr.strip()[:200]}")
    assert not bad, "\n".join(bad)

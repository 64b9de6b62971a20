"""The parts of de-identification: the table, keyed pseudonyms, date shifts, options, marking."""

from __future__ import annotations

import hashlib
import hmac
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError
from pydicom.dataset import Dataset

from radprep.deid import DeidConfig, PixelRegion, load_profile, map_uid, pseudonymize_id
from radprep.deid.actions import identifying_values, resolve_action, scrub_text
from radprep.deid.dates import cap_age, date_shift_days, shift_da, shift_dt
from radprep.deid.marking import CID_7050, mark_deidentified, method_codes
from radprep.deid.uids import is_standard_uid, load_key
from radprep.errors import RadprepWarning, SpecError

KEY = b"unit-test-key-0123456789abcdef!!"
OTHER = b"another-key-0123456789abcdef!!!!"


# Table E.1-1 -----------------------------------------------------------------------------------


def test_profile_loads_621_attributes_with_source() -> None:
    profile = load_profile()
    assert len(profile) == 621
    assert "PS3.15" in profile.source and "innolitics" in profile.source
    assert profile.lookup(0x00100010).basic == "Z"  # PatientName
    assert profile.lookup(0x00100020).basic == "Z/D"  # PatientID
    assert profile.lookup(0x0020000D).basic == "U"  # StudyInstanceUID
    assert profile.lookup(0x00280010) is None  # Rows: not named, kept by the allowlist
    assert profile.private is not None and profile.private.basic == "X"


@pytest.mark.parametrize(
    ("tag", "name"),
    [
        (0x50000010, "Curve Data"),
        (0x501E3000, "Curve Data"),
        (0x60004000, "Overlay Comments"),
        (0x601E3000, "Overlay Data"),
        (0x60023000, "Overlay Data"),
    ],
)
def test_wildcard_rows_match_repeating_groups(tag: int, name: str) -> None:
    entry = load_profile().lookup(tag)
    assert entry is not None and entry.name == name and entry.basic == "X"


def test_wildcard_rows_do_not_match_other_elements() -> None:
    assert load_profile().lookup(0x60000010) is None  # OverlayRows: not named (removed anyway)
    assert load_profile().lookup(0x70003000) is None


@pytest.mark.parametrize(
    ("keyword", "config", "expected"),
    [
        ("AcquisitionDate", DeidConfig(), ("C", "retain_longitudinal_modified_dates")),
        ("AcquisitionDate", DeidConfig(retain_longitudinal_modified_dates=False), ("X", "basic")),
        ("PatientSex", DeidConfig(), ("K", "retain_patient_characteristics")),
        ("PatientSex", DeidConfig(retain_patient_characteristics=False), ("Z", "basic")),
        ("ContentDate", DeidConfig(retain_longitudinal_modified_dates=False), ("D", "basic")),
        ("DeviceSerialNumber", DeidConfig(), ("D", "basic")),  # Type 1 in Enhanced Equipment
        (
            "DeviceSerialNumber",
            DeidConfig(retain_device_identity=True),
            ("K", "retain_device_identity"),
        ),
        ("OperatorsName", DeidConfig(), ("Z", "basic")),  # Type 2 in RT Series
        ("StationName", DeidConfig(), ("X", "basic")),  # Type 3 everywhere
        ("SourceImageSequence", DeidConfig(), ("U*", "basic")),  # Type 1 in Derivation Image
        ("ReferencedStudySequence", DeidConfig(), ("X", "basic")),
        ("StudyInstanceUID", DeidConfig(retain_uids=True), ("K", "retain_uids")),
        ("StudyDescription", DeidConfig(clean_descriptors=True), ("C", "clean_descriptors")),
        (
            "InstitutionName",
            DeidConfig(retain_institution_identity=True),
            ("K", "retain_institution_identity"),
        ),
        # Dates stay shifted when Retain Device Identity would keep them (K): dates decide.
        (
            "DateOfLastDetectorCalibration",
            DeidConfig(retain_device_identity=True),
            ("C", "retain_longitudinal_modified_dates"),
        ),
    ],
)
def test_actions_resolve_by_option_and_type(keyword: str, config: DeidConfig, expected) -> None:
    from pydicom.datadict import tag_for_keyword

    entry = load_profile().lookup(tag_for_keyword(keyword))
    assert resolve_action(entry, config, keyword) == expected


# Keyed pseudonyms ------------------------------------------------------------------------------


def test_map_uid_is_keyed_deterministic_and_valid() -> None:
    uid = "1.2.840.113619.2.55.3.604688119.969.1268071029.320"
    a, b, c = map_uid(uid, KEY), map_uid(uid, KEY), map_uid(uid, OTHER)
    assert a == b != c
    assert re.fullmatch(r"2\.25\.(0|[1-9]\d*)", a) and len(a) <= 64
    assert map_uid(uid + "\x00", KEY) == a  # padding ignored: references still match
    # The documented construction, recomputed with the standard library: the same on every
    # machine for this key.
    digest = hmac.new(KEY, b"uid\x00" + uid.encode(), hashlib.sha256).digest()
    assert a == f"2.25.{int.from_bytes(digest[:16], 'big')}"


@pytest.mark.parametrize(
    "uid",
    [
        "1.2.840.10008.5.1.4.1.1.2",
        "1.2.840.10008.1.2.4.90",
        "1.2.840.10008.1.2",
        "1.2.840.10008.2.16.4",
    ],
)
def test_standard_uids_are_never_replaced(uid: str) -> None:
    assert is_standard_uid(uid)
    assert map_uid(uid, KEY) == uid


@given(st.text(min_size=1, max_size=40))
def test_pseudonyms_follow_the_format(value: str) -> None:
    p = pseudonymize_id(value, KEY, "P{hash:10}")
    assert re.fullmatch(r"P[A-Z2-7]{10}", p)
    assert pseudonymize_id(value, KEY, "P{hash:10}") == p
    assert pseudonymize_id(value.strip("\x00 "), KEY) == pseudonymize_id(value, KEY)


def test_pseudonyms_differ_by_key_and_value() -> None:
    assert pseudonymize_id("12345", KEY) != pseudonymize_id("12345", OTHER)
    assert pseudonymize_id("12345", KEY) != pseudonymize_id("12346", KEY)
    assert pseudonymize_id("12345", KEY, "SUBJ-{hash:6}").startswith("SUBJ-")


@pytest.mark.parametrize(
    ("fmt", "message"),
    [
        ("P", r"needs exactly one \{hash:N\} field"),
        ("{hash:4}", r"N in \{hash:N\} must be 6..52"),
        ("{hash:8}-{x}", r"no other braces"),
    ],
)
def test_bad_pseudonym_formats_are_refused(fmt: str, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        pseudonymize_id("1", KEY, fmt)
    with pytest.raises(ValidationError, match=message):
        DeidConfig(patient_id_format=fmt)


def test_key_from_file_env_and_refusals(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("RADPREP_DEID_KEY", raising=False)
    with pytest.raises(
        SpecError, match=r"no de-identification key: give --key-file FILE or set RADPREP_DEID_KEY"
    ):
        load_key(None)
    monkeypatch.setenv("RADPREP_DEID_KEY", "short")
    with pytest.raises(SpecError, match=r"\$RADPREP_DEID_KEY: the key has 5 bytes, fewer than 16"):
        load_key(None)
    monkeypatch.setenv("RADPREP_DEID_KEY", "x" * 32)
    assert load_key(None) == b"x" * 32
    f = tmp_path / "deid.key"
    f.write_text("k" * 40 + "\n")
    f.chmod(0o600)
    assert load_key(f) == b"k" * 40
    f.chmod(0o644)
    with pytest.warns(RadprepWarning, match=r"can be read by other users \(mode 644\); chmod 600"):
        load_key(f)
    with pytest.raises(SpecError, match=r"--key-file .*missing: cannot read it"):
        load_key(tmp_path / "missing")


# Dates -----------------------------------------------------------------------------------------


def test_date_shift_is_whole_days_per_patient_and_keyed() -> None:
    s = date_shift_days("PAT-1", KEY)
    assert -3652 <= s <= -1
    assert date_shift_days("PAT-1", KEY) == s
    assert date_shift_days(" PAT-1\x00", KEY) == s
    assert date_shift_days("PAT-1", OTHER) != s


@given(
    st.dates(min_value=__import__("datetime").date(1900, 1, 1)),
    st.dates(min_value=__import__("datetime").date(1900, 1, 1)),
    st.integers(-3652, -1),
)
def test_shifted_dates_keep_their_interval(a, b, days: int) -> None:
    import datetime as dt

    sa = shift_da(a.strftime("%Y%m%d"), days)
    sb = shift_da(b.strftime("%Y%m%d"), days)
    da = dt.datetime.strptime(sa, "%Y%m%d").date()
    db = dt.datetime.strptime(sb, "%Y%m%d").date()
    assert (db - da) == (b - a)
    assert (da - a).days == days


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("20200301", "20200229"),
        ("2020.03.01", "20200229"),  # ACR-NEMA form, written back as DA
        ("20200101-20200301", "20191231-20200229"),
        ("", ""),
        ("not a date", None),
    ],
)
def test_shift_da(value: str, expected: str | None) -> None:
    assert shift_da(value, -1) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("20200301120000.123456+0100", "20200229120000.123456+0100"),
        ("20200301", "20200229"),
        ("2020", "2020"),  # a year alone moves by its middle
        ("20200301-20200302", "20200229-20200301"),
        ("garbage", None),
    ],
)
def test_shift_dt_keeps_time_and_offset(value: str, expected: str | None) -> None:
    assert shift_dt(value, -1) == expected


@pytest.mark.parametrize(
    ("age", "expected"),
    [
        ("089Y", "089Y"),
        ("090Y", "090Y"),
        ("091Y", "090Y"),
        ("120Y", "090Y"),
        ("006M", "006M"),
        ("999M", "999M"),
        ("070W", "070W"),
        ("", ""),
        ("abc", None),
    ],
)
def test_ages_over_89_become_090Y(age: str, expected: str | None) -> None:
    assert cap_age(age) == expected


# Options and marking ---------------------------------------------------------------------------


def test_config_defaults_are_for_ml_and_strict() -> None:
    c = DeidConfig()
    assert c.options_used() == (
        "retain_patient_characteristics",
        "retain_longitudinal_modified_dates",
    )
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        DeidConfig(retain_everything=True)
    with pytest.raises(ValidationError, match="exclude each other"):
        DeidConfig(retain_longitudinal_full_dates=True)
    with pytest.raises(ValidationError, match="quarantine 'hold' needs quarantine_dir"):
        DeidConfig(quarantine="hold")
    with pytest.raises(ValidationError, match="Input should be 'report' or 'hold'"):
        DeidConfig(quarantine="delete")
    with pytest.raises(ValidationError, match="more than the 16 characters AccessionNumber"):
        DeidConfig(accession_number_format="ACCESSION-{hash:10}")
    with pytest.raises(
        ValidationError, match=r"rectangle \(0, 0, 10, 900\) is not inside a 600 x 800"
    ):
        PixelRegion(manufacturer="X", rows=600, columns=800, rectangles=[(0, 0, 10, 900)])


def test_config_round_trips_as_a_recipe_section() -> None:
    c = DeidConfig(
        retain_device_identity=True,
        pixel_cleaning=[
            PixelRegion(
                manufacturer="Acme", model="U1", rows=480, columns=640, rectangles=[(0, 0, 39, 639)]
            )
        ],
    )
    assert DeidConfig.model_validate(c.model_dump()) == c
    assert DeidConfig.model_validate_json(c.model_dump_json()) == c


def test_marking_uses_cid_7050_for_profile_and_options() -> None:
    config = DeidConfig(retain_device_identity=True, clean_descriptors=True)
    assert method_codes(config) == ["113100", "113105", "113107", "113108", "113109"]
    assert method_codes(DeidConfig(), pixels_cleaned=True)[:2] == ["113100", "113101"]
    ds = Dataset()
    mark_deidentified(ds, config)
    assert ds.PatientIdentityRemoved == "YES"
    assert ds.LongitudinalTemporalInformationModified == "MODIFIED"
    items = ds.DeidentificationMethodCodeSequence
    assert [(i.CodeValue, i.CodingSchemeDesignator, i.CodeMeaning) for i in items] == [
        (c, "DCM", CID_7050[c]) for c in method_codes(config)
    ]
    assert all(len(v) <= 64 for v in ds.DeidentificationMethod)
    assert set(CID_7050) == {  # PS3.16 CID 7050, all of it
        "113100",
        "113101",
        "113102",
        "113103",
        "113104",
        "113105",
        "113106",
        "113107",
        "113108",
        "113109",
        "113110",
        "113111",
        "113112",
    }


# Clean Descriptors -----------------------------------------------------------------------------


def test_scrub_removes_identifying_values_dates_and_ids() -> None:
    ds = Dataset()
    ds.PatientName = "Doe^Johnathan"
    ds.PatientID = "MRN998877"
    ds.PatientBirthDate = "19610415"
    ds.InstitutionName = "Saint Elsewhere"
    idents = identifying_values(ds)
    text = (
        "Follow-up for Johnathan Doe (MRN998877), born 15/04/1961, at Saint Elsewhere; "
        "prior 2019-03-02 and Mar 4, 2020, ref 55512345; contrast bolus, axial"
    )
    out = scrub_text(text, idents)
    for gone in (
        "Johnathan",
        "Doe",
        "MRN998877",
        "15/04/1961",
        "Saint Elsewhere",
        "2019-03-02",
        "Mar 4, 2020",
        "55512345",
    ):
        assert gone not in out, gone
    assert "Follow-up for" in out and "contrast bolus, axial" in out
    assert len(scrub_text("x" * 100, [], 64)) == 64

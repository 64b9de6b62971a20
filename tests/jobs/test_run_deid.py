"""A run with de-identification on: no original id, UID, name or path in any file name, the
manifest, the ledger, the logs or the report; the same key gives the same pseudonyms."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pydicom
import pytest
from typer.testing import CliRunner

import radprep
from radprep.cli.app import app
from radprep.demo.synthetic import Abnormality, Case, build_cbis_dataset

CASES = (
    Case("P_01234", "mass", "train", "LEFT", "CC", (Abnormality((0.5, 0.35)),)),
    Case("P_05678", "calc", "test", "RIGHT", "MLO", (Abnormality((0.5, 0.6), pathology="BENIGN", shape_or_type="PUNCTATE", margins_or_distribution="CLUSTERED"),), wrong_uid_folder=True),
    Case("P_09999", "mass", "test", "LEFT", "MLO", (Abnormality((0.5, 0.3), pathology="BENIGN"),)),
)  # fmt: skip


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # The folder is named like a patient, as hospital exports often are.
    root = tmp_path_factory.mktemp("exports") / "DOE^JANE_1961"
    build_cbis_dataset(root, CASES, rows=320, cols=240)
    # One mammogram is cut short, so that a failure message is written too.
    victim = next(
        p
        for p in root.rglob("*.dcm")
        if pydicom.dcmread(p, stop_before_pixels=True).PatientID == CASES[2].folder
    )
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) // 2])
    return root


def secrets_of(root: Path) -> set[str]:
    """Every identifying value of the inputs: ids, case folders, UIDs, names, paths."""
    found = {str(root), root.name, "DOE^JANE", "P_01234", "P_05678", "P_09999"}
    for p in root.rglob("*.dcm"):
        ds = pydicom.dcmread(p, stop_before_pixels=True, force=True)
        found |= {
            str(ds.PatientID),
            str(ds.PatientName),
            str(ds.StudyInstanceUID),
            str(ds.SeriesInstanceUID),
            str(ds.SOPInstanceUID),
            p.name,
            p.parent.name,
        }
    return {s for s in found if len(s) >= 6 and s not in {"000000.dcm", "000001.dcm"}}


def recipe(root: Path, **deid: object) -> dict:
    r, _ = radprep.load_recipe("cbis-ddsm-299", overrides=[f"source.root={root}"])
    data = r.model_dump(mode="json")
    data["deid"] = {"enabled": True, **deid}
    return data


def scan(out: Path, secrets: set[str]) -> list[str]:
    leaks = []
    for p in out.rglob("*"):
        rel = p.relative_to(out).as_posix()
        leaks += [f"name {rel}: {s}" for s in secrets if s in rel]
        if not p.is_file():
            continue
        if p.suffix == ".parquet":
            text = json.dumps(pq.read_table(p).to_pylist(), default=str)
        elif p.suffix in {".png", ".npy", ".npz"}:
            continue
        else:
            text = p.read_bytes().decode("utf-8", errors="replace")
        leaks += [f"content {rel}: {s}" for s in secrets if s in text]
    return leaks


def test_no_original_value_reaches_the_outputs(
    dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RADPREP_DEID_KEY", "a-test-key-of-32-bytes-0123456789")
    out = tmp_path / "out"
    result = radprep.run(recipe(dataset), out=out, executor="serial", progress="quiet")
    assert result.done == 2 and result.failed == 1
    assert scan(out, secrets_of(dataset)) == []
    rows = pq.read_table(result.manifest).to_pylist()
    assert {r["sample_id"][0] for r in rows} == {"S"} and all(
        r["patient_id"].startswith("P") and len(r["patient_id"]) == 11 for r in rows
    )
    assert all(r["source_path"] is None for r in rows)
    (failure,) = [json.loads(x) for x in (out / "failures.jsonl").read_text().splitlines()]
    assert failure["error"] == "TruncatedFileError" and "<redacted>" in failure["message"]
    summary = json.loads((out / "deid_summary.json").read_text())
    assert summary["ids_pseudonymized"] == 3 and summary["key_source"] == "RADPREP_DEID_KEY"
    # The scan does find what a run without de-identification writes.
    plain = recipe(dataset)
    del plain["deid"]
    res = radprep.run(plain, out=tmp_path / "plain", executor="serial", progress="quiet")
    leaks = scan(res.out_dir, secrets_of(dataset))
    assert any("name full/Mass-Training_P_01234_LEFT_CC.png" in x for x in leaks)
    assert any(x.startswith("content manifest.parquet") for x in leaks)


def test_same_key_same_pseudonyms_other_key_other(dataset: Path, tmp_path: Path) -> None:
    key = tmp_path / "deid.key"
    key.write_text("the-project-secret-key-0123456789\n")
    key.chmod(0o600)
    other = tmp_path / "other.key"
    other.write_text("another-secret-key-0123456789abcd\n")
    other.chmod(0o600)
    ids = []
    for i, k in enumerate((key, key, other)):
        res = radprep.run(
            recipe(dataset, key_file=str(k)),
            out=tmp_path / f"o{i}",
            executor="serial",
            progress="quiet",
        )
        ids.append(
            sorted(
                (r["sample_id"], r["patient_id"], r["sop_instance_uid"])
                for r in pq.read_table(res.manifest).to_pylist()
            )
        )
    assert ids[0] == ids[1]
    assert {a for a, _, _ in ids[0]}.isdisjoint({a for a, _, _ in ids[2]})


def test_no_key_refuses_and_ephemeral_warns(
    dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RADPREP_DEID_KEY", raising=False)
    path = tmp_path / "r.json"
    path.write_text(json.dumps(recipe(dataset)))
    result = CliRunner().invoke(
        app, ["run", str(path), "-o", str(tmp_path / "o"), "--serial", "-q"]
    )
    assert result.exit_code == 2
    assert (
        "deid: no key; give deid.key_file, set RADPREP_DEID_KEY, or set deid.ephemeral_key"
        in result.stderr
    )
    with pytest.warns(radprep.RadprepWarning, match="ephemeral key: pseudonyms will not match"):
        res = radprep.run(
            recipe(dataset, ephemeral_key=True),
            out=tmp_path / "e",
            executor="serial",
            progress="quiet",
        )
    assert res.done == 2

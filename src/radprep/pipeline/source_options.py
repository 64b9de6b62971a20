"""The ``source`` section of a recipe: one options model per source kind.

A source registers its kind with an options model that subclasses :class:`SourceOptions`
(``register_source(kind, ..., options=Model)``); the recipe validates its ``source`` section
with the model its ``kind`` registered. The built-in kinds' models live here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from radprep.errors import SpecError
from radprep.plugins import SOURCES

__all__ = [
    "CbisDdsmSource",
    "DicomFolderSource",
    "DicomwebSource",
    "FileListSource",
    "SelectSpec",
    "SeriesFolderSource",
    "SourceOptions",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceOptions(_Strict):
    """Base of a source's options model (``register_source(kind, ..., options=Model)``).

    `location_fields` name the options that say where the data lives (folders, files): they are
    left out of the recipe hash, so moving the data redoes nothing (each item's fingerprint
    still notices a changed file).
    """

    location_fields: ClassVar[tuple[str, ...]] = ()
    kind: str


class DicomFolderSource(SourceOptions):
    """Every image instance under a folder (found by header, not by file name)."""

    location_fields: ClassVar[tuple[str, ...]] = ("root", "labels_csv")
    kind: Literal["dicom-folder"] = "dicom-folder"
    root: str = Field(description="The folder to scan recursively.")
    labels_csv: str | None = Field(
        default=None, description="A CSV of labels joined on `labels_key` (optional)."
    )
    labels_key: str = Field(
        default="path",
        description="Join column: 'path' (relative path), 'sop_instance_uid', 'patient_id' ...",
    )


class SelectSpec(_Strict):
    """Which samples to keep: filters on labels, then N per stratum (seeded), as the notebook's
    balanced pick of cases per abnormality type x pathology x subtlety."""

    where: dict[str, Any] = Field(default_factory=dict, description="label -> allowed value(s)")
    per_stratum: int | None = Field(default=None, ge=1)
    strata: list[str] = Field(default_factory=lambda: ["abnormality_type", "pathology", "subtlety"])
    seed: int = 0


class CbisDdsmSource(SourceOptions):
    """A CBIS-DDSM download (classic or NBIA layout) with its case-description CSVs."""

    location_fields: ClassVar[tuple[str, ...]] = ("root", "csv")
    kind: Literal["cbis-ddsm"] = "cbis-ddsm"
    root: str = Field(description="The download folder (DICOM tree; the CSVs may sit in it).")
    csv: list[str] = Field(
        default_factory=list, description="Case-description CSVs (default: found under root)."
    )
    per: Literal["image", "abnormality"] = Field(
        default="image",
        description="One sample per image (union mask, per-abnormality labels) or per abnormality",
    )
    pathology_binary: dict[str, int] = Field(
        default_factory=lambda: {"MALIGNANT": 1, "BENIGN": 0, "BENIGN_WITHOUT_CALLBACK": 0}
    )
    select: SelectSpec | None = None


class SeriesFolderSource(SourceOptions):
    """Every image series under a folder as a volume (one item per series, or per slice).

    DICOM SEG objects in the folder attach to the series they reference; NIfTI/NRRD label files
    in `masks` attach by name: ``<series key or SeriesInstanceUID>[__<mask name>].nii.gz``.
    """

    location_fields: ClassVar[tuple[str, ...]] = ("root", "masks")
    kind: Literal["series-folder"] = "series-folder"
    root: str = Field(description="The folder to scan recursively.")
    per: Literal["series", "slice"] = Field(
        default="series", description="One item per series (a volume) or per slice (2D)."
    )
    modalities: list[str] = Field(
        default_factory=list, description="Keep only these modalities (e.g. [CT]); all if empty."
    )
    masks: str | None = Field(
        default=None, description="A folder of NIfTI/NRRD label files named by series (optional)."
    )
    merge_masks: str | None = Field(
        default=None, description="Merge every mask of a series into one mask of this name."
    )
    irregular: Literal["warn", "resample", "error"] = Field(
        default="warn", description="Missing slices or uneven spacing: warn, resample or error."
    )
    tilt: Literal["resample", "keep", "error"] = Field(
        default="resample", description="Gantry tilt: resample, keep (sheared) or error."
    )


class _RemoteOptions(SourceOptions):
    """Retries and timeouts of every request to a remote source."""

    retries: int = Field(default=3, ge=0, le=10, description="Retries of a transient failure.")
    timeout_s: float = Field(default=30.0, gt=0, description="Connect and read timeout.")
    backoff_s: float = Field(default=0.5, ge=0, description="First wait; doubles each retry.")


class FileListSource(_RemoteOptions):
    """A CSV or Parquet of files (local paths or s3://, gs://, https:// URLs) and their labels,
    or an s5cmd manifest / idc-index export as it is; each worker fetches its own files."""

    location_fields: ClassVar[tuple[str, ...]] = ("list", "storage_options")
    kind: Literal["file-list"] = "file-list"
    list: str = Field(description="The list: CSV, Parquet or s5cmd manifest (a path or URL).")
    path_column: str | None = Field(
        default=None, description="Column of paths/URLs (default: path, url, series_aws_url...)."
    )
    id_column: str | None = Field(
        default=None, description="Column of item ids (default: 'id', else from the path)."
    )
    storage_options: dict[str, Any] = Field(
        default_factory=dict,
        description="fsspec options (endpoint_url, anon...); credentials belong in the "
        "environment (AWS_*, GOOGLE_APPLICATION_CREDENTIALS)",
    )


class DicomwebSource(_RemoteOptions):
    """Instances from a DICOMweb server (QIDO-RS to list, WADO-RS to retrieve): one study, a
    list of studies, series, or a QIDO query; each worker retrieves its own instances."""

    location_fields: ClassVar[tuple[str, ...]] = ("url", "labels_csv")
    kind: Literal["dicomweb"] = "dicomweb"
    url: str = Field(description="The DICOMweb root, e.g. https://pacs.example.org/dicom-web")
    study: str | list[str] | None = Field(default=None, description="StudyInstanceUID(s).")
    series: str | list[str] | None = Field(default=None, description="SeriesInstanceUID(s).")
    query: dict[str, str] | None = Field(
        default=None, description="QIDO-RS instance query, e.g. {Modality: CT, PatientID: X}."
    )
    username: str | None = Field(default=None, description="Basic authentication user.")
    password_env: str = Field(
        default="RADPREP_DICOMWEB_PASSWORD", description="Variable holding the basic password."
    )
    token_env: str = Field(
        default="RADPREP_DICOMWEB_TOKEN", description="Variable holding a bearer token."
    )
    http_compression: bool = Field(
        default=False,
        description="Let the server gzip its answers (helps on slow links; costs server CPU: "
        "6x slower retrieval from Orthanc on one machine)",
    )
    labels_csv: str | None = Field(default=None, description="Labels joined on `labels_key`.")
    labels_key: Literal["study_instance_uid", "series_instance_uid", "sop_instance_uid"] = (
        "sop_instance_uid"
    )

    @model_validator(mode="after")
    def _something(self) -> DicomwebSource:
        if self.study is None and self.series is None and self.query is None:
            raise ValueError("give study, series or query (what to retrieve)")
        return self


def _source_options(value: Any) -> SourceOptions:
    """Validate a ``source`` section with the options model its ``kind`` registered."""
    if isinstance(value, SourceOptions):
        return value
    if not isinstance(value, Mapping) or "kind" not in value:
        raise ValueError(f"a source is a mapping with a 'kind'; known kinds: {_known(SOURCES)}")
    try:
        model = SOURCES.options(str(value["kind"]))
    except SpecError as e:
        raise ValueError(str(e)) from None
    built = model.model_validate(value)
    assert isinstance(built, SourceOptions)
    return built


def _known(registry: Any) -> str:
    return ", ".join(registry.known())

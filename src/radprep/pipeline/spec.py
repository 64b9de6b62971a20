"""The recipe: one YAML file that says what a run reads, does and writes.

Validated by pydantic v2 (``extra="forbid"``), with error locations such as
``outputs.occluded.steps[1].buffer_px``. Steps are transform specs (``{op: name, ...}``) checked
against the registered transforms' own fields and rules. A canonical hash of the validated
recipe is recorded with every output.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import fields
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializeAsAny,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from radprep._validate import check_pseudonym_format
from radprep.errors import SpecError
from radprep.plugins import SOURCES, WRITERS, load_entry_points, load_plugins
from radprep.transforms.base import Transform, known_ops, lookup_op

__all__ = [
    "CbisDdsmSource",
    "DicomFolderSource",
    "DicomwebSource",
    "FileListSource",
    "OutputSpec",
    "ReadSpec",
    "Recipe",
    "SeriesFolderSource",
    "SourceOptions",
    "builtin_recipes",
    "canonical_step",
    "load_recipe",
    "recipe_hash",
    "validate_step",
]

RECIPE_VERSION = 1


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


class SplitSpec(_Strict):
    """Patient-level splits: no patient in two splits.

    ``patient``: seeded fractions, stratified on labels. ``official``: the dataset's own
    train/test (label ``official_split``) with validation carved by patient from train; patients
    in both official files go where `both_official` says (reported either way).
    """

    method: Literal["patient", "official"] = "patient"
    fractions: dict[str, float] = Field(
        default_factory=lambda: {"train": 0.7, "val": 0.15, "test": 0.15}
    )
    stratify: list[str] = Field(default_factory=list)
    val_fraction: float = Field(default=0.15, ge=0.0, lt=1.0)
    both_official: Literal["test", "train", "keep"] = "test"
    seed: int = 0

    @field_validator("fractions")
    @classmethod
    def _fractions(cls, value: dict[str, float]) -> dict[str, float]:
        if not value or any(v < 0 for v in value.values()) or abs(sum(value.values()) - 1) > 1e-6:
            raise ValueError(f"fractions must be >= 0 and add up to 1, got {value}")
        return value


class ReadSpec(_Strict):
    """How each DICOM file is read: the VOI choice and the frame."""

    window: str = Field(
        default="header",
        description="header, header:N, C,W[,FUNCTION], auto, auto:P1,P2, minmax, none, or a preset",
    )
    frame: int | None = Field(default=0, ge=0, description="Frame number; null for all frames.")
    dtype: Literal["float32", "uint16", "uint8"] = Field(
        default="uint16",
        description="Display values as float32 in [0, 1], or quantised to uint16 (finer than "
        "any PNG; the fast path for 16-bit radiographs) or uint8",
    )

    reduce: Literal["auto"] | int = Field(
        default=0,
        description="Read at 1/2**N of the size (0: full size), or 'auto': as small as the "
        "outputs allow (the largest resize target still covered by the short side). JPEG 2000 "
        "then decodes only the wavelet levels needed.",
    )
    reduce_to_px: int | None = Field(
        default=None,
        ge=1,
        description="With reduce: auto, the short side to keep (filled in from the outputs).",
    )

    @field_validator("reduce")
    @classmethod
    def _reduce(cls, value: Any) -> Any:
        if value != "auto" and not (isinstance(value, int) and 0 <= value <= 5):
            raise ValueError(f"reduce must be 'auto' or 0..5, got {value!r}")
        return value

    def reduce_args(self) -> dict[str, Any]:
        """The keyword arguments :func:`radprep.io.read_dicom` takes for this reduction."""
        if self.reduce == "auto":
            return {"reduce_to_px": self.reduce_to_px} if self.reduce_to_px else {}
        return {"reduce": self.reduce}

    @field_validator("window")
    @classmethod
    def _window(cls, value: str) -> str:
        from radprep.intensity.window import VOI

        VOI.parse(value)
        return value


_TYPE_TAGS = {"int", "float", "str", "bool", "none", "tuple", "list", "dict"}


def _is_type_tag(part: Any) -> bool:
    """pydantic names the member of a union it tried (``int``, ``tuple[int, int]``) in the
    location; a reader wants the option's name only."""
    if not isinstance(part, str):
        return False
    return part.lower() in _TYPE_TAGS or "[" in part or part.startswith(("function-", "literal"))


def validate_step(spec: Any, where: str) -> Transform:
    """Build one step from its spec, or raise SpecError naming where it is.

    Parameters
    ----------
    spec : mapping
        ``{"op": name, option: value, ...}``.
    where : str
        Its location in the recipe, e.g. ``outputs.occluded.steps[1]``.
    """
    if not isinstance(spec, Mapping):
        raise SpecError(f"{where}: a step is a mapping with an 'op', got {spec!r}")
    load_entry_points()
    if "op" not in spec:
        raise SpecError(f"{where}: missing 'op'; known ops: {', '.join(known_ops())}")
    op = spec["op"]
    try:
        cls, options = lookup_op(op, {k: v for k, v in spec.items() if k != "op"})
    except SpecError as e:
        raise SpecError(f"{where}.op: {e}") from None
    allowed = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    extra = sorted(set(options) - allowed)
    if extra:
        raise SpecError(
            f"{where}.{extra[0]}: {op} has no option {extra[0]!r}; its options: "
            f"{', '.join(sorted(allowed)) or '(none)'}"
        )
    try:
        built: Transform = cls.options_model().validate_python(options)
        return built
    except ValidationError as e:
        err = e.errors()[0]
        loc = ".".join(str(p) for p in err["loc"] if not _is_type_tag(p))
        msg = err["msg"].removeprefix("Value error, ")
    except SpecError as e:
        loc, msg = "", str(e)
    if not loc:
        # "buffer_px must be >= 0" names the option first: put it in the location.
        name, _, rest = msg.partition(" ")
        if name in allowed and rest:
            loc, msg = name, rest
    raise SpecError(f"{where}{'.' + loc if loc else ''}: {msg}") from None


def canonical_step(spec: Any, where: str) -> dict[str, Any]:
    """Return a step's canonical spec: validated, typed, every option written out.

    ``{op: occlude_roi}``, ``{op: occlude_roi, buffer_px: 50}`` and ``buffer_px: "50"`` give
    the same mapping, so that they give the same recipe hash.
    """
    return validate_step(spec, where).to_spec()


class PatchSpec(_Strict):
    """Square patches for patch classifiers: centred on each ROI (with jitter) and from the
    tissue away from every ROI; sizes in the output branch's pixels, seeded per sample."""

    sizes: list[int] = Field(default_factory=lambda: [224])
    per_roi: int = Field(default=1, ge=1)
    background: int = Field(default=1, ge=0, description="Background patches per sample.")
    jitter_px: int = Field(default=0, ge=0)

    @field_validator("sizes")
    @classmethod
    def _sizes(cls, value: list[int]) -> list[int]:
        if not value or any(s < 8 for s in value):
            raise ValueError(f"sizes must be a non-empty list of sides >= 8, got {value}")
        return value


class OutputSpec(_Strict):
    """One named output branch: its own steps after the shared ones, what it writes, how."""

    enabled: bool = True
    steps: list[dict[str, Any]] = Field(default_factory=list)
    format: str = Field(
        default="png8",
        description="A registered writer: png8, png16, npy, npz, nifti, nrrd, or a plugin's.",
    )
    format_options: dict[str, Any] = Field(
        default_factory=dict, description="The writer's options (its registered options model)."
    )
    write: str = Field(
        default="image",
        description="'image'; 'mask:NAME' to write a mask through the same geometry; "
        "'patches' for ROI and background patches (see `patches`)",
    )
    patches: PatchSpec | None = None

    @field_validator("format")
    @classmethod
    def _format(cls, value: str) -> str:
        try:
            WRITERS.entry(value)
        except SpecError as e:
            raise ValueError(str(e)) from None
        return value

    @field_validator("format_options")
    @classmethod
    def _format_options(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        # Typed and defaults filled, as JSON: the hash does not depend on how it was written.
        if "format" not in info.data:
            return value  # the format itself was wrong; that error says so
        options = WRITERS.validate_options(info.data["format"], value)
        dumped: dict[str, Any] = options.model_dump(mode="json")
        return dumped

    @field_validator("write")
    @classmethod
    def _write(cls, value: str) -> str:
        if value not in ("image", "patches") and not (value.startswith("mask:") and len(value) > 5):
            raise ValueError(f"write must be 'image', 'mask:NAME' or 'patches', got {value!r}")
        return value


class ManifestSpec(_Strict):
    """The manifest: Parquet always, and a CSV copy when asked."""

    csv: bool = True


class ReportSpec(_Strict):
    """The QA report: thumbnails and histograms per item, one HTML page per run."""

    enabled: bool = True
    page_size: int = Field(default=200, ge=10, le=5000, description="Thumbnails per page.")


class DeidSpec(_Strict):
    """De-identification of a run: keyed pseudonyms for sample and patient ids, UIDs mapped,
    source paths removed; no original value in file names, the manifest, logs or the report.
    The key comes from `key_file`, else RADPREP_DEID_KEY; without one the run refuses unless
    `ephemeral_key` is true. (To de-identify DICOM files themselves: `radprep deid`.)"""

    enabled: bool = True
    key_file: str | None = None
    ephemeral_key: bool = False
    sample_id_format: str = "S{hash:12}"
    patient_id_format: str = "P{hash:10}"

    @field_validator("sample_id_format")
    @classmethod
    def _safe_name(cls, fmt: str) -> str:
        check_pseudonym_format(fmt, file_name=True)  # sample ids name output files
        return fmt


class Recipe(_Strict):
    """A whole run: where items come from, how they are read, processed and written."""

    version: Literal[1] = Field(description="Recipe format version.")
    plugins: list[str] = Field(
        default_factory=list,
        description="Modules to import first (they register ops, sources, writers).",
    )
    name: str = ""
    description: str = ""
    source: SerializeAsAny[SourceOptions]
    read: ReadSpec = Field(default_factory=ReadSpec)
    steps: list[dict[str, Any]] = Field(default_factory=list)
    outputs: dict[str, OutputSpec] = Field(min_length=1)
    manifest: ManifestSpec = Field(default_factory=ManifestSpec)
    report: ReportSpec = Field(default_factory=ReportSpec)
    split: SplitSpec | None = None
    deid: DeidSpec | None = None
    out: str | None = Field(default=None, description="Output folder (or --out).")
    seed: int = 0

    @field_validator("plugins")
    @classmethod
    def _plugins(cls, value: list[str]) -> list[str]:
        # Before `source` and the steps (fields validate in order): plugins register them.
        try:
            load_plugins(value)
        except SpecError as e:
            raise ValueError(str(e)) from None
        return value

    @field_validator("source", mode="before")
    @classmethod
    def _source(cls, value: Any) -> SourceOptions:
        return _source_options(value)

    @field_validator("outputs")
    @classmethod
    def _names(cls, value: dict[str, OutputSpec]) -> dict[str, OutputSpec]:
        for name in value:
            if not name.replace("_", "").replace("-", "").isalnum():
                raise ValueError(f"output name {name!r} must be letters, digits, '_' or '-'")
        return value

    @model_validator(mode="after")
    def _canonical_steps(self) -> Recipe:
        # Steps are kept in their canonical form (typed, defaults filled): the hash and the
        # record of a run do not depend on how a recipe was written.
        shared = [canonical_step(s, f"steps[{i}]") for i, s in enumerate(self.steps)]
        outputs = {
            name: o.model_copy(
                update={
                    "steps": [
                        canonical_step(s, f"outputs.{name}.steps[{i}]")
                        for i, s in enumerate(o.steps)
                    ]
                }
            )
            for name, o in self.outputs.items()
        }
        object.__setattr__(self, "steps", shared)
        object.__setattr__(self, "outputs", outputs)
        return self

    @model_validator(mode="after")
    def _sizes_within_limit(self) -> Recipe:
        # A size is checked against the decoded-size limit before anything that big exists:
        # resize size [100000, 100000] would allocate 40 GB of float32 per item.
        from radprep._limits import format_bytes, max_decoded_bytes

        limit = max_decoded_bytes()
        places = [("steps", self.steps)] + [
            (f"outputs.{name}.steps", out.steps) for name, out in self.outputs.items()
        ]
        for where, steps in places:
            for i, step in enumerate(steps):
                size = step.get("size") if isinstance(step, Mapping) else None
                sides = size if isinstance(size, (list, tuple)) else [size, size]
                if not sides or not all(isinstance(v, int) and v > 0 for v in sides):
                    continue
                need = 4 * 3 * math.prod(sides)  # float32, up to three channels
                if need > limit:
                    raise ValueError(
                        f"{where}[{i}].size: {list(sides)} needs {format_bytes(need)} per image, "
                        f"past the decoded-size limit of {format_bytes(limit)}; choose a smaller "
                        "size (or raise RADPREP_MAX_DECODED_BYTES)"
                    )
        return self

    @model_validator(mode="after")
    def _auto_reduce(self) -> Recipe:
        if self.read.reduce == "auto" and self.read.reduce_to_px is None:
            side = self.output_side_px()
            if side is not None:
                object.__setattr__(
                    self, "read", self.read.model_copy(update={"reduce_to_px": side})
                )
        return self

    def output_side_px(self) -> int | None:
        """The largest side any output is resized to, or None when some output keeps the
        image's own size (then nothing can be read reduced)."""
        sides = []
        for out in self.active_outputs().values():
            sizes = [s.get("size") for s in [*self.steps, *out.steps] if s.get("op") == "resize"]
            if not sizes or sizes[-1] is None:
                return None
            size = sizes[-1]
            sides.append(max(size) if isinstance(size, (list, tuple)) else int(size))
        return max(sides) if sides else None

    def active_outputs(self) -> dict[str, OutputSpec]:
        """The outputs that are enabled (``enabled: false`` keeps one in the recipe, off)."""
        return {name: o for name, o in self.outputs.items() if o.enabled}

    def transforms(self) -> tuple[list[Transform], dict[str, list[Transform]]]:
        """Build the shared steps and each output's steps (SpecError names the location)."""
        shared = [validate_step(s, f"steps[{i}]") for i, s in enumerate(self.steps)]
        per_output = {
            name: [validate_step(s, f"outputs.{name}.steps[{i}]") for i, s in enumerate(o.steps)]
            for name, o in self.active_outputs().items()
        }
        return shared, per_output

    def canonical(self) -> str:
        """The part of the recipe that decides the output files, as canonical JSON.

        Sorted keys, typed values, defaults filled (steps included). Left out: the output
        folder, where the data lives (the source's `location_fields`, the key file's path), the
        outputs that are off, and the sections that only shape the manifest and the report
        (``manifest``, ``split``, ``report``), so changing a split does not redo the images.
        """
        data = self.model_dump(
            mode="json", exclude={"out", "manifest", "split", "report", "name", "description"}
        )
        for name in type(self.source).location_fields:
            data["source"].pop(name, None)
        data["outputs"] = {k: v for k, v in data["outputs"].items() if v["enabled"]}
        if data.get("deid"):
            data["deid"].pop("key_file", None)
        return json.dumps(data, sort_keys=True, separators=(",", ":"))


def recipe_hash(recipe: Recipe) -> str:
    """Return the SHA-256 of the canonical recipe, first 16 hex digits."""
    return hashlib.sha256(recipe.canonical().encode()).hexdigest()[:16]


def _format_validation(e: ValidationError) -> str:
    parts = []
    for err in e.errors():
        loc = ""
        for p in err["loc"]:
            if _is_type_tag(p):
                continue
            loc += f"[{p}]" if isinstance(p, int) else (f".{p}" if loc else str(p))
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
        elif err["type"] == "missing":
            msg = "missing required field"
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts)


def builtin_recipes() -> dict[str, str]:
    """Return the built-in recipes: name -> YAML text."""
    out = {}
    for entry in sorted(resources.files("radprep.recipes").iterdir(), key=lambda p: p.name):
        if entry.name.endswith(".yaml"):
            out[entry.name.removesuffix(".yaml")] = entry.read_text()
    return out


def _set_dotted(data: dict[str, Any], key: str, value: Any) -> None:
    # ``steps[1].size`` and ``steps.1.size`` name the same place.
    parts = re.sub(r"\[(\d+)\]", r".\1", key).split(".")
    node: Any = data
    for i, part in enumerate(parts[:-1]):
        if isinstance(node, list):
            node = node[int(part)]
            continue
        if part not in node or node[part] is None:
            node[part] = {}
        node = node[part]
        if not isinstance(node, (dict, list)):
            raise SpecError(f"--set {key}: {'.'.join(parts[: i + 1])} is not a section")
    last = parts[-1]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value


def parse_overrides(pairs: Sequence[str]) -> list[tuple[str, Any]]:
    """Parse ``KEY=VALUE`` overrides; VALUE is read as YAML (``3``, ``true``, ``[1, 2]``)."""
    out = []
    for pair in pairs:
        if "=" not in pair:
            raise SpecError(f"--set {pair!r}: use KEY=VALUE, e.g. source.root=/data/CBIS-DDSM")
        key, raw = pair.split("=", 1)
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        out.append((key.strip(), value))
    return out


def load_recipe(
    source: str | os.PathLike[str] | Mapping[str, Any],
    *,
    overrides: Sequence[str] = (),
) -> tuple[Recipe, Path | None]:
    """Load and validate a recipe: a YAML path, a built-in name, or a mapping.

    Parameters
    ----------
    source : path, str or mapping
        A YAML file, the name of a built-in recipe (``radprep recipes`` lists them), or the data.
    overrides : sequence of str
        ``KEY=VALUE`` with dotted keys (``source.root=/data``), applied before validation.

    Returns
    -------
    recipe : Recipe
    base : Path or None
        The folder relative paths in the recipe are taken from (the YAML file's folder; the
        working folder for built-in recipes and mappings).

    Raises
    ------
    SpecError
        With the location of each problem (``outputs.full.format: ...``) and, for steps, what
        the op accepts.
    """
    base: Path | None = None
    if isinstance(source, Mapping):
        data = json.loads(json.dumps(source))
        label = "recipe"
    else:
        text_source = os.fspath(source)
        path = Path(text_source)
        builtins = builtin_recipes()
        if path.is_file():
            text = path.read_text()
            base = path.resolve().parent
            label = str(path)
        elif text_source in builtins:
            text = builtins[text_source]
            label = f"built-in recipe {text_source!r}"
        else:
            raise SpecError(
                f"recipe {text_source!r} is neither a file nor a built-in recipe; "
                f"built-in: {', '.join(builtins) or '(none)'}"
            )
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise SpecError(f"{label}: not valid YAML ({' '.join(str(e).split())})") from None
        if not isinstance(data, dict):
            raise SpecError(f"{label}: a recipe is a mapping (version, source, outputs ...)")
    for key, value in parse_overrides(overrides):
        try:
            _set_dotted(data, key, value)
        except (IndexError, ValueError, TypeError):
            raise SpecError(f"--set {key}: no such place in the recipe") from None
    try:
        recipe = Recipe.model_validate(data)
    except ValidationError as e:
        raise SpecError(f"{label}: {_format_validation(e)}") from None
    try:
        recipe.transforms()
    except SpecError as e:
        raise SpecError(f"{label}: {e}") from None
    return recipe, base

"""The recipe: one YAML file that says what a run reads, does and writes.

Validated by pydantic v2 (``extra="forbid"``), with error locations such as
``outputs.occluded.steps[1].buffer_px``. Steps are transform specs (``{op: name, ...}``) checked
against the registered transforms' own fields and rules. A canonical hash of the validated
recipe is recorded with every output. The source models are in
:mod:`radprep.pipeline.source_options`, step validation in :mod:`radprep.pipeline.steps` and
loading (YAML, built-in names, ``--set``) in :mod:`radprep.pipeline.load`; all are importable
from here.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from pydantic import (
    Field,
    SerializeAsAny,
    ValidationInfo,
    field_validator,
    model_validator,
)

from radprep._validate import check_pseudonym_format
from radprep.errors import SpecError
from radprep.pipeline.source_options import (
    CbisDdsmSource,
    DicomFolderSource,
    DicomwebSource,
    FileListSource,
    SelectSpec,
    SeriesFolderSource,
    SourceOptions,
    _source_options,
    _Strict,
)
from radprep.pipeline.steps import canonical_step, validate_step
from radprep.plugins import WRITERS, load_plugins
from radprep.transforms.base import Transform

if TYPE_CHECKING:
    from radprep.pipeline.load import builtin_recipes, load_recipe, parse_overrides

__all__ = [
    "CbisDdsmSource",
    "DicomFolderSource",
    "DicomwebSource",
    "FileListSource",
    "OutputSpec",
    "ReadSpec",
    "Recipe",
    "SelectSpec",
    "SeriesFolderSource",
    "SourceOptions",
    "builtin_recipes",
    "canonical_step",
    "load_recipe",
    "parse_overrides",
    "recipe_hash",
    "validate_step",
]

_LOADING = ("builtin_recipes", "load_recipe", "parse_overrides")


def __getattr__(name: str) -> Any:
    # Loading lives in pipeline/load.py, which imports Recipe from here: resolved on first use.
    if name in _LOADING:
        from radprep.pipeline import load

        return getattr(load, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


RECIPE_VERSION = 1


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

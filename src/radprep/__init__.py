"""radprep: raw DICOM to model-ready data.

The public API is what ``__all__`` lists (a test pins it)::

    import radprep
    image = radprep.read_dicom("chest.dcm", voi="header")   # display values, higher is brighter
    hu = radprep.read_dicom("ct.dcm").pixels                 # Hounsfield units, float32
    result = radprep.run("recipe.yaml", out="out/")          # a whole recipe run
    done = radprep.process_item(item, "recipe.yaml")         # one item in memory (Ray, Spark)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from radprep._lazy import lazy_exports

# The public API is loaded when first used, so that ``import radprep`` (and every command of
# the CLI) imports only what it needs: name -> (module, attribute).
_LAZY: dict[str, tuple[str, str]] = {
    **{
        name: ("radprep.errors", name)
        for name in (
            "DecoderMissingError",
            "InputError",
            "InvalidAttributeError",
            "NoPixelDataError",
            "NotDicomError",
            "OutputError",
            "PixelDecodeError",
            "RadprepError",
            "RadprepWarning",
            "SpecError",
            "TruncatedFileError",
        )
    },
    "Geometry": ("radprep.geometry", "Geometry"),
    "AppliedStep": ("radprep.image", "AppliedStep"),
    "Image": ("radprep.image", "Image"),
    "ImageMeta": ("radprep.image", "ImageMeta"),
    "apply_modality": ("radprep.intensity.modality", "apply_modality"),
    "CT_PRESETS": ("radprep.intensity.window", "CT_PRESETS"),
    "VOI": ("radprep.intensity.window", "VOI"),
    "apply_voi": ("radprep.intensity.window", "apply_voi"),
    "read_dicom": ("radprep.io.dicom", "read_dicom"),
    "read_header": ("radprep.io.dicom", "read_header"),
    "RunResult": ("radprep.jobs.runner", "RunResult"),
    "run": ("radprep.jobs.runner", "run_recipe"),
    "Pipeline": ("radprep.pipeline", "Pipeline"),
    "Recipe": ("radprep.pipeline", "Recipe"),
    "load_recipe": ("radprep.pipeline", "load_recipe"),
    "ProcessedItem": ("radprep.jobs.process", "ProcessedItem"),
    "list_items": ("radprep.jobs.process", "list_items"),
    "process_item": ("radprep.jobs.process", "process_item"),
}

if TYPE_CHECKING:  # what type checkers and IDEs see
    from radprep.errors import (
        DecoderMissingError,
        InputError,
        InvalidAttributeError,
        NoPixelDataError,
        NotDicomError,
        OutputError,
        PixelDecodeError,
        RadprepError,
        RadprepWarning,
        SpecError,
        TruncatedFileError,
    )
    from radprep.geometry import Geometry
    from radprep.image import AppliedStep, Image, ImageMeta
    from radprep.intensity.modality import apply_modality
    from radprep.intensity.window import CT_PRESETS, VOI, apply_voi
    from radprep.io.dicom import read_dicom, read_header
    from radprep.jobs.process import ProcessedItem, list_items, process_item
    from radprep.jobs.runner import RunResult
    from radprep.jobs.runner import run_recipe as run
    from radprep.pipeline import Pipeline, Recipe, load_recipe

__version__ = "0.1.0"

__all__ = [
    "CT_PRESETS",
    "VOI",
    "AppliedStep",
    "DecoderMissingError",
    "Geometry",
    "Image",
    "ImageMeta",
    "InputError",
    "InvalidAttributeError",
    "NoPixelDataError",
    "NotDicomError",
    "OutputError",
    "Pipeline",
    "PixelDecodeError",
    "ProcessedItem",
    "RadprepError",
    "RadprepWarning",
    "Recipe",
    "RunResult",
    "SpecError",
    "TruncatedFileError",
    "__version__",
    "apply_modality",
    "apply_voi",
    "list_items",
    "load_recipe",
    "process_item",
    "read_dicom",
    "read_header",
    "run",
]


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)

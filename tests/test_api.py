"""The public API is pinned, and imports point one way through the layers."""

from __future__ import annotations

import ast
from pathlib import Path

import radprep

SRC = Path(radprep.__file__).parent

# Lower layers never import higher ones (ARCHITECTURE.md section 1). The core types sit at the
# bottom together: the intensity chain reads ImageMeta, so image.py is core, not a stage product.
LAYERS: list[set[str]] = [
    {
        "types",
        "errors",
        "_validate",
        "_dtype",
        "_dicom",
        "_limits",
        "_lazy",
        "geometry",
        "image",
        "plugins",
    },
    {"intensity", "spatial", "roi", "clean", "color"},
    {"sample", "transforms"},
    {"pipeline"},
    {"io", "export", "datasets", "demo", "deid", "report", "recipes"},
    {"batch"},
    {"jobs", "experiments"},
    {"cli"},
]


def _layer(top: str) -> int:
    for i, names in enumerate(LAYERS):
        if top in names:
            return i
    raise AssertionError(f"radprep.{top} is in no layer; add it to LAYERS in this test")


def test_public_api_is_pinned() -> None:
    assert sorted(radprep.__all__) == sorted(
        [
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
            "Recipe",
            "RunResult",
            "PixelDecodeError",
            "ProcessedItem",
            "RadprepError",
            "RadprepWarning",
            "SpecError",
            "TruncatedFileError",
            "__version__",
            "apply_modality",
            "apply_voi",
            "read_dicom",
            "list_items",
            "load_recipe",
            "process_item",
            "read_header",
            "run",
        ]
    )
    for name in radprep.__all__:
        assert hasattr(radprep, name), name


def test_errors_subclass_the_matching_builtin() -> None:
    assert issubclass(radprep.SpecError, ValueError)
    assert issubclass(radprep.InputError, ValueError)
    assert issubclass(radprep.OutputError, OSError)
    for cls in (
        radprep.NotDicomError,
        radprep.TruncatedFileError,
        radprep.NoPixelDataError,
        radprep.DecoderMissingError,
        radprep.PixelDecodeError,
        radprep.InvalidAttributeError,
    ):
        assert issubclass(cls, radprep.InputError)


def test_imports_point_one_way() -> None:
    wrong = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC)
        if rel.name == "__init__.py" and rel.parent == Path("."):
            continue  # the package root re-exports the public API from every layer
        top = rel.parts[0].removesuffix(".py")
        own = _layer(top)
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for name in names:
                parts = name.split(".")
                if parts[0] != "radprep" or len(parts) < 2:
                    continue
                if _layer(parts[1]) > own:
                    wrong.append(f"{rel} imports {name}")
    assert not wrong, "\n".join(wrong)


def test_tests_mirror_the_package_layout() -> None:
    """Each test folder is named after a package of src/radprep/, and test file names are
    unique (pytest imports test modules by their base name)."""
    tests = Path(__file__).parent
    packages = {p.name for p in SRC.iterdir() if (p / "__init__.py").exists()}
    folders = {p.parent.name for p in tests.rglob("test_*.py") if p.parent != tests}
    assert folders <= packages, folders - packages
    assert len(folders) >= 10
    names = [p.name for p in tests.rglob("test_*.py")]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)

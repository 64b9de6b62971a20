"""Plugins: registered sources and writers are usable in recipes, with their typed options;
third-party plugins load by entry point or by a recipe's ``plugins`` list."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, ClassVar, Literal

import cv2
import numpy as np
import pydicom
import pytest
from pydantic import Field

import radprep
from radprep.datasets.sources import Item, fingerprint, load_dicom, register_source
from radprep.errors import SpecError
from radprep.export.writers import register_writer
from radprep.geometry import Geometry
from radprep.pipeline import load_recipe, recipe_hash
from radprep.pipeline.spec import SourceOptions
from radprep.plugins import NoOptions
from realfiles import CR_MONO1_10BIT, CT_SMALL, MR_SMALL, testdata


@pytest.fixture(autouse=True)
def _registries_restored() -> Any:
    """What a test registers (ops, sources, writers) is gone after it: other test files list
    the known names."""
    from radprep.plugins import SOURCES, WRITERS
    from radprep.transforms.base import _REGISTRY

    SOURCES.known(), WRITERS.known()  # the built-in entries, registered before the snapshot
    saved = (dict(SOURCES._entries), dict(WRITERS._entries), dict(_REGISTRY))
    yield
    for live, before in zip((SOURCES._entries, WRITERS._entries, _REGISTRY), saved, strict=True):
        live.clear()
        live.update(before)  # type: ignore[arg-type]


SRC = Path(radprep.__file__).parents[1]


class FileListSource(SourceOptions):
    """Items from a text file listing DICOM files, one a line."""

    location_fields: ClassVar[tuple[str, ...]] = ("list_file",)
    kind: Literal["test-file-list"] = "test-file-list"
    list_file: str
    label: str = Field(default="none")


def _file_list_items(spec: FileListSource, base: Path) -> list[Item]:
    paths = Path(spec.list_file).read_text().split()
    return [
        Item(id=Path(p).stem, path=p, fingerprint=fingerprint(p), labels={"label": spec.label})
        for p in paths
    ]


class PGMOptions(NoOptions):
    maxval: int = Field(default=255, ge=1, le=65535)


def _encode_pgm(array: np.ndarray, geometry: Geometry | None, *, maxval: int) -> bytes:
    """Binary PGM (netpbm P5): display values in [0, 1] scaled to 0..maxval."""
    values = np.asarray(array, dtype=np.float64)
    if values.max() > 1:
        values = values / float(np.iinfo(array.dtype).max)
    dtype = ">u2" if maxval > 255 else "u1"
    data = np.round(values * maxval).astype(dtype)
    rows, cols = data.shape
    return f"P5\n{cols} {rows}\n{maxval}\n".encode() + data.tobytes()


register_source("test-file-list", _file_list_items, load_dicom, options=FileListSource)
register_writer("test-pgm", _encode_pgm, ".pgm", options=PGMOptions)


def _recipe(list_file: Path, **output: Any) -> dict[str, Any]:
    return {
        "version": 1,
        "source": {"kind": "test-file-list", "list_file": str(list_file), "label": "x"},
        "read": {"window": "minmax", "dtype": "uint16"},
        "outputs": {
            "pgm": {
                "format": "test-pgm",
                "steps": [{"op": "rot90", "k": 2}],
                **output,
            }
        },
    }


def test_a_registered_source_and_writer_run_in_a_recipe(tmp_path: Path) -> None:
    files = [testdata(n) for n in (CR_MONO1_10BIT, CT_SMALL, MR_SMALL)]
    listing = tmp_path / "files.txt"
    listing.write_text("\n".join(str(f) for f in files) + "\n")
    recipe, _ = load_recipe(_recipe(listing, format_options={"maxval": "65535"}))
    assert isinstance(recipe.source, FileListSource)
    assert recipe.outputs["pgm"].format_options == {"maxval": 65535}
    result = radprep.run(recipe, out=tmp_path / "out", executor="serial", progress="quiet")
    assert (result.done, result.failed, result.outputs) == (3, 0, 3)
    for f in files:
        written = tmp_path / "out" / "pgm" / f"{f.stem}.pgm"
        # OpenCV's own PGM decoder reads what the plugin wrote; it matches the image read
        # independently with pydicom (min-max, MONOCHROME1 inverted) and turned by numpy.
        decoded = cv2.imread(str(written), cv2.IMREAD_UNCHANGED)
        ds = pydicom.dcmread(f)
        assert decoded.shape == (ds.Rows, ds.Columns) and decoded.dtype == np.uint16
        ref = ds.pixel_array.astype(np.float64)
        ref = (ref - ref.min()) / (ref.max() - ref.min())
        if ds.PhotometricInterpretation == "MONOCHROME1":
            ref = 1 - ref
        ref = np.rot90(ref, 2) * 65535
        assert np.abs(decoded - ref).max() <= 1
    # The source's location field is not part of the hash: a moved listing redoes nothing.
    moved = tmp_path / "elsewhere.txt"
    moved.write_text(listing.read_text())
    again, _ = load_recipe(_recipe(moved, format_options={"maxval": 65535}))
    assert recipe_hash(again) == recipe_hash(recipe)


def test_registered_options_are_checked_with_their_location(tmp_path: Path) -> None:
    listing = tmp_path / "files.txt"
    listing.write_text("")
    with pytest.raises(
        SpecError, match=r"outputs\.pgm\.format_options\.maxval: Input should be less"
    ):
        load_recipe(_recipe(listing, format_options={"maxval": 70000}))
    bad_source = {**_recipe(listing), "source": {"kind": "test-file-list", "lst": "a"}}
    with pytest.raises(SpecError, match=r"source\.list_file: missing required field"):
        load_recipe(bad_source)
    unknown = {**_recipe(listing), "source": {"kind": "nope", "root": "."}}
    with pytest.raises(SpecError, match=r"source: unknown source kind 'nope'; known: .*cbis-ddsm"):
        load_recipe(unknown)
    with pytest.raises(SpecError, match=r"outputs\.pgm\.format: unknown output format 'gif'"):
        load_recipe(_recipe(listing, format="gif"))
    with pytest.raises(TypeError, match="must subclass SourceOptions"):
        register_source("test-bad", _file_list_items, load_dicom, options=PGMOptions)  # type: ignore[arg-type]


def test_a_recipe_plugins_list_imports_modules_that_register(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "lab_ops_for_test.py").write_text(
        textwrap.dedent(
            """
            from dataclasses import dataclass
            from typing import Any, ClassVar

            from radprep.sample import Sample
            from radprep.transforms.base import Transform


            @dataclass(frozen=True, kw_only=True)
            class Negate(Transform):
                op: ClassVar[str] = "lab_negate_for_test"
                scale: float = 1.0

                def apply(self, sample: Sample, **params: Any) -> Sample:
                    return sample.with_pixels(-self.scale * sample.image.pixels, self.step())
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    data = {
        "version": 1,
        "plugins": ["lab_ops_for_test"],
        "source": {"kind": "dicom-folder", "root": "."},
        "outputs": {"a": {"format": "npy", "steps": [{"op": "lab_negate_for_test"}]}},
    }
    recipe, _ = load_recipe(data)
    assert recipe.outputs["a"].steps == [{"op": "lab_negate_for_test", "scale": 1.0}]
    with pytest.raises(SpecError, match=r"plugins\[0\]: cannot import 'no_such_lab_module'"):
        load_recipe({**data, "plugins": ["no_such_lab_module"]})


_PLUGIN = """
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from radprep.datasets.sources import load_dicom, register_source
from radprep.pipeline.spec import SourceOptions
from radprep.sample import Sample
from radprep.transforms.base import Transform


class PacsExport(SourceOptions):
    location_fields: ClassVar[tuple[str, ...]] = ("root",)
    kind: Literal["mylab-pacs"] = "mylab-pacs"
    root: str
    study_limit: int = 10


register_source("mylab-pacs", lambda spec, base: [], load_dicom, options=PacsExport)


@dataclass(frozen=True, kw_only=True)
class Invert(Transform):
    op: ClassVar[str] = "mylab_invert_for_test"

    def apply(self, sample: Sample, **params: Any) -> Sample:
        return sample
"""


def _install_plugin(site: Path) -> None:
    """A package with a ``radprep.plugins`` entry point (a source kind and an op) in `site`."""
    (site / "mylab_radprep_for_test").mkdir(parents=True)
    (site / "mylab_radprep_for_test" / "__init__.py").write_text(_PLUGIN)
    dist = site / "mylab_radprep_for_test-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: mylab-radprep-for-test\n")
    (dist / "entry_points.txt").write_text("[radprep.plugins]\nmylab = mylab_radprep_for_test\n")


def test_an_entry_point_plugin_registers_a_source_kind(tmp_path: Path) -> None:
    site = tmp_path / "site"
    _install_plugin(site)
    code = textwrap.dedent(
        """
        from radprep.pipeline import load_recipe
        recipe, _ = load_recipe({
            "version": 1,
            "source": {"kind": "mylab-pacs", "root": "/pacs", "study_limit": "3"},
            "outputs": {"a": {"format": "npy"}},
        })
        print(type(recipe.source).__name__, recipe.source.study_limit)
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(SRC)])}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["PacsExport", "3"]


def test_a_plugin_installed_after_the_first_look_is_found(tmp_path: Path) -> None:
    # A forkserver (or a notebook) looked for plugins before this one was installed: a name
    # it does not know makes it look again, for source kinds and for ops.
    site = tmp_path / "site"
    _install_plugin(site)
    code = textwrap.dedent(
        f"""
        import sys
        from radprep.plugins import load_entry_points
        load_entry_points()
        sys.path.insert(0, {str(site)!r})
        from radprep.pipeline.steps import validate_step
        print(type(validate_step({{"op": "mylab_invert_for_test"}}, "steps[0]")).__name__)
        from radprep.pipeline import load_recipe
        recipe, _ = load_recipe({{
            "version": 1,
            "source": {{"kind": "mylab-pacs", "root": "/pacs"}},
            "outputs": {{"a": {{"format": "npy"}}}},
        }})
        print(type(recipe.source).__name__)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["Invert", "PacsExport"]


# A script piped to Python (its classes live in __main__, which no worker can import) that
# defines its own op and runs a recipe with it on two worker processes, then on Dask.
_MAIN_SCRIPT = """
import json, sys
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import radprep
from radprep.sample import Sample
from radprep.transforms.base import Transform


@dataclass(frozen=True, kw_only=True)
class Posterise(Transform):
    op: ClassVar[str] = "posterise_for_test"
    levels: int = 4

    def apply(self, sample: Sample, **params: Any) -> Sample:
        p = sample.image.pixels
        out = (np.floor(p.astype(np.float64) / 65536 * self.levels) * (65535 // (self.levels - 1)))
        return sample.with_pixels(out.astype(np.uint16), self.step())


recipe = {
    "version": 1,
    "source": {"kind": "dicom-folder", "root": sys.argv[1]},
    "read": {"window": "minmax", "dtype": "uint16"},
    "report": {"enabled": False},
    "outputs": {"poster": {"format": "npy", "steps": [{"op": "posterise_for_test", "levels": 3}]}},
}
counts = {}
for name, kwargs in (("pool", {"workers": 2}), ("dask", {"scheduler": "local", "workers": 2})):
    if name not in sys.argv[3:]:
        continue
    r = radprep.run(recipe, out=sys.argv[2] + "/" + name, progress="quiet", **kwargs)
    counts[name] = [r.done, r.failed, [f["message"] for f in r.failures]]
print(json.dumps(counts))
"""


def _run_main_script(data: Path, out: Path, *executors: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    done = subprocess.run(
        [sys.executable, "-", str(data), str(out), *executors],
        input=_MAIN_SCRIPT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    import json

    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _posterised_files(data: Path, out: Path) -> None:
    for name in ("ct", "mr"):
        written = np.load(out / f"{name}.npy")
        ds = pydicom.dcmread(data / f"{name}.dcm")
        ref = ds.pixel_array.astype(np.float64)
        ref = (ref - ref.min()) / (ref.max() - ref.min())
        # The same three levels computed here from pydicom's pixels (minmax to uint16 first).
        levels = np.floor(np.round(ref * 65535) / 65536 * 3) * (65535 // 2)
        np.testing.assert_array_equal(written, levels.astype(np.uint16))


@pytest.fixture
def two_files(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    for name, source in (("ct", CT_SMALL), ("mr", MR_SMALL)):
        (data / f"{name}.dcm").write_bytes(testdata(source).read_bytes())
    return data


def test_an_op_defined_in_main_runs_on_the_process_pool(tmp_path: Path, two_files: Path) -> None:
    counts = _run_main_script(two_files, tmp_path / "out", "pool")
    assert counts == {"pool": [2, 0, []]}
    _posterised_files(two_files, tmp_path / "out" / "pool" / "poster")


@pytest.mark.slow
def test_an_op_defined_in_main_runs_on_dask(tmp_path: Path, two_files: Path) -> None:
    counts = _run_main_script(two_files, tmp_path / "out", "dask")
    assert counts == {"dask": [2, 0, []]}
    _posterised_files(two_files, tmp_path / "out" / "dask" / "poster")

"""Start-up: `import radprep` and each command load only what they use (checked in a fresh
interpreter, where nothing else has imported anything yet)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import radprep
from realfiles import CT_SMALL, testdata

SRC = Path(radprep.__file__).parents[1]
HEAVY = ("SimpleITK", "pyarrow", "jinja2", "matplotlib", "dask", "distributed", "torch")


def _fresh(code: str) -> dict:
    """Run `code` in a new interpreter; it prints a JSON object as its last line."""
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


# Peak RSS from VmHWM: getrusage's ru_maxrss can keep the forking parent's peak across exec.
_REPORT = """
import json, sys
mods = sorted(sys.modules)
hwm = [line for line in open("/proc/self/status") if line.startswith("VmHWM:")][0]
print(json.dumps({
    "modules": mods,
    "radprep": [m for m in mods if m.startswith("radprep")],
    "rss_mb": int(hwm.split()[1]) / 1024,
}))
"""


def test_import_radprep_loads_nothing_heavy() -> None:
    found = _fresh("import radprep\n" + _REPORT)
    # The package and its lazy-export helper (stdlib only), nothing else of radprep.
    assert found["radprep"] == ["radprep", "radprep._lazy"]
    for name in (*HEAVY, "numpy", "pydicom", "cv2", "pydantic", "typer", "PIL"):
        assert name not in found["modules"], name


def test_public_names_resolve_on_first_use() -> None:
    code = (
        "import radprep, radprep.batch.executor\n"
        "assert callable(radprep.batch.executor.get_executor)\n"
        "assert callable(radprep.run) and radprep.run.__name__ == 'run_recipe'\n"
        "assert radprep.read_dicom.__module__ == 'radprep.io.dicom'\n"
        "assert set(radprep.__all__) <= set(dir(radprep))\n"
        "assert issubclass(radprep.SpecError, ValueError)\n" + _REPORT
    )
    found = _fresh(code)
    assert "radprep.io.dicom" in found["radprep"]


def test_version_does_not_load_the_command_line_framework() -> None:
    code = (
        "import sys; sys.argv = ['radprep', '--version']\n"
        "from radprep.cli.app import main; main()\n" + _REPORT
    )
    found = _fresh(code)
    for name in ("typer", "click", "rich", "numpy", "pydicom", "pydantic"):
        assert name not in found["modules"], name


def test_info_loads_only_what_it_uses() -> None:
    path = testdata(CT_SMALL)
    code = (
        f"import sys; sys.argv = ['radprep', 'info', {str(path)!r}]\n"
        "from radprep.cli.app import main\n"
        "try:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n" + _REPORT
    )
    found = _fresh(code)
    # OpenCV alone adds 20-40 MB of RSS; the command-line framework (typer, click, rich and the
    # pydantic typer loads) about 0.2 s of start-up: a plain `info` needs none of them.
    for name in (*HEAVY, "cv2", "typer", "click", "rich", "pydantic"):
        assert name not in found["modules"], name
    for package in ("radprep.jobs", "radprep.pipeline", "radprep.datasets", "radprep.report"):
        assert package not in found["radprep"], package
    # The header, its facts and the decoder; not the whole read chain (reduced reads, colour).
    for module in ("radprep.cli.run", "radprep.cli._common", "radprep.io.dicom"):
        assert module not in found["radprep"], module
    assert found["rss_mb"] < 70, found["rss_mb"]  # 55 MB measured (pydicom and numpy: 50)

"""Shared fixtures: real files by property come from tests/realfiles.py."""

from __future__ import annotations

import shutil
import sys
import warnings
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(autouse=True)
def _quiet_pydicom() -> None:
    # pydicom warns about the deliberate defects of its own test files; those warnings are
    # not what these tests are about.
    warnings.filterwarnings("ignore", category=UserWarning, module=r"pydicom.*")


def dcmtk_available() -> bool:
    """True when dcmtk's dcmj2pnm is on PATH (make test installs it)."""
    return shutil.which("dcmj2pnm") is not None

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


# Tests `make test-fast` leaves out (`make test` runs everything): end-to-end runs on worker
# pools and Dask, whole corpora, external tools and browsers. Listed here, in one place, from
# measured durations; a test can also carry @pytest.mark.slow itself.
SLOW_FILES = {
    "test_dcmtk_crosscheck.py",  # dcmj2pnm on 28 files
    "test_deid_corpus.py",  # every file of deid-data and pydicom's test files
    "test_deid_dciodvfy.py",  # dciodvfy on de-identified files
    "test_report.py",  # the report in a real browser
}
SLOW_TESTS = {
    "tests/test_cli.py::test_demo_writes_what_it_prints",
    "tests/test_run.py::test_serial_and_two_process_runs_write_identical_bytes",
    "tests/test_run.py::test_resume_skips_done_items_and_redoes_changed_ones",
    "tests/test_run.py::test_one_bad_item_does_not_stop_the_run",
    "tests/test_cbis.py::test_both_layouts_give_the_same_samples_and_labels",
    "tests/test_cbis.py::test_reduced_read_keeps_the_rois_and_the_occlusion_buffer",
    "tests/test_cbis.py::test_patient_split_of_the_manifest_is_stratified",
    "tests/test_cbis.py::test_patch_output_roi_centred_and_background_away_from_rois",
    "tests/test_volume_recipes.py::test_torch_dataset_over_a_manifest",
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.name in SLOW_FILES or item.nodeid.split("[")[0] in SLOW_TESTS:
            item.add_marker(pytest.mark.slow)

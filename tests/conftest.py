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
    "test_occlusion.py",  # runs and models built per module
    "test_torch_dataset.py",  # torch's import alone takes seconds
    "test_source_dicomweb.py",  # a real Orthanc per module
    "test_source_file_list.py",  # a moto S3 server, Dask, SIGKILL
    "test_run_deid.py",  # whole de-identified runs
    "test_io_stream.py",  # real mammograms written uncompressed, read at every reduction
}
SLOW_TESTS = {
    "test_cli.py::test_demo_writes_what_it_prints",
    "test_run.py::test_serial_and_two_process_runs_write_identical_bytes",
    "test_run.py::test_resume_skips_done_items_and_redoes_changed_ones",
    "test_run.py::test_one_bad_item_does_not_stop_the_run",
    "test_cbis.py::test_both_layouts_give_the_same_samples_and_labels",
    "test_cbis.py::test_reduced_read_keeps_the_rois_and_the_occlusion_buffer",
    "test_cbis.py::test_patient_split_of_the_manifest_is_stratified",
    "test_cbis.py::test_patch_output_roi_centred_and_background_away_from_rois",
    "test_volume_recipes.py::test_torch_dataset_over_a_manifest",
    # measured over 2.4 s each (pytest --durations)
    "test_cbis.py::test_demo_sample_is_the_real_files_in_tcia_layout",
    "test_cbis.py::test_every_image_is_a_sample_and_none_fails",
    "test_cbis.py::test_missing_files_fail_with_their_reason",
    "test_io_decode.py::test_every_real_file_decodes_or_fails_as_documented",
    "test_deid_cli.py::test_pixel_ocr_and_pixel_text_flags_on_a_real_ultrasound",
    "test_deid_cli.py::test_same_key_file_same_pseudonyms_across_runs",
    "test_deid_cli.py::test_deid_a_folder_with_key_file_audit_and_crosswalk",
    "test_deid_safety.py::test_identical_inputs_give_one_file_whether_written_or_held",
    "test_deid_ocr.py::test_burned_identifiers_are_read_then_cleaned",
    "test_plugins.py::test_an_op_defined_in_main_runs_on_the_process_pool",
    "test_fuzz.py::test_mutants_raise_only_documented_errors",
    "test_cbis.py::test_demo_rois_lie_in_the_breast_never_in_the_air",
    "test_report_synthetic.py::test_long_lists_get_their_own_page_and_stale_pages_go",
    "test_report_synthetic.py::test_the_report_is_deterministic",
    "test_deid_safety.py::test_one_image_in_many_transfer_syntaxes_all_reach_one_output_folder",
    "test_deid_ocr.py::test_cine_ultrasound_is_cleaned_in_every_frame",
    "test_accounting.py::test_deflate_bomb_is_refused_with_little_memory",
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if (
            item.path.name in SLOW_FILES
            or f"{item.path.name}::{item.name.split('[')[0]}" in SLOW_TESTS
        ):
            item.add_marker(pytest.mark.slow)

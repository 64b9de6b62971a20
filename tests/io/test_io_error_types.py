"""Per-file data problems are InputErrors (a batch counts the file failed and goes on, exit 1),
never SpecErrors (a bad command or recipe: nothing done, exit 2); errors mapped by type."""

from __future__ import annotations

from pathlib import Path
from struct import error as struct_error

import numpy as np
import pydicom
import pytest
import typer
from pydicom.errors import BytesLengthException

from radprep.cli._common import EXIT_FAILURES, handle_errors
from radprep.errors import (
    CorruptFileError,
    EmptyImageError,
    FrameNotFoundError,
    InputError,
    SpecError,
    TruncatedFileError,
    UnwritableImageError,
)
from radprep.export.png import encode, write_array
from radprep.export.writers import get_writer
from radprep.io import read_dicom
from radprep.io.error_map import header_error
from realfiles import testdata


def test_a_missing_frame_is_an_input_error() -> None:
    with pytest.raises(InputError, match=r"frame 10 does not exist; NumberOfFrames") as info:
        read_dicom(testdata("emri_small.dcm"), frames=[0, 10])
    assert isinstance(info.value, FrameNotFoundError) and not isinstance(info.value, SpecError)
    assert str(testdata("emri_small.dcm")) in str(info.value)


def test_modality_values_written_as_png_are_an_input_error(tmp_path: Path) -> None:
    hu = read_dicom(testdata("MR_small.dcm")).pixels  # int16 modality values, no window
    assert hu.dtype == np.int16
    for fmt in ("png8", "png16"):
        with pytest.raises(UnwritableImageError, match=r"cannot write int16 pixels as PNG"):
            encode(hu, fmt)  # type: ignore[arg-type]
    with pytest.raises(InputError):
        write_array(tmp_path / "ct.png", hu, "png8")
    assert not (tmp_path / "ct.png").exists()


def test_a_stack_written_as_png_is_an_input_error() -> None:
    stack = read_dicom(testdata("emri_small.dcm"), voi="minmax").pixels
    assert stack.shape == (10, 64, 64)
    with pytest.raises(UnwritableImageError, match=r"got shape \(10, 64, 64\); pick a frame"):
        get_writer("png8")(stack, None)


@pytest.mark.parametrize("fmt", ["png8", "png16", "npy", "npz", "nifti", "nrrd"])
@pytest.mark.parametrize("shape", [(0, 64), (64, 0), (0, 64, 3)])
def test_an_empty_image_is_an_input_error(fmt: str, shape: tuple[int, ...]) -> None:
    # A real image cropped to nothing: OpenCV used to assert, SimpleITK to fail as an output error.
    image = read_dicom(testdata("CT_small.dcm"), voi="header").pixels
    empty = image[: shape[0], : shape[1]]
    if len(shape) == 3:
        empty = np.repeat(empty[..., None], 3, axis=-1)
    assert empty.size == 0
    with pytest.raises(EmptyImageError, match=r"the image has no pixels \(shape .*\); nothing"):
        get_writer(fmt)(empty, None)


def test_the_command_line_counts_them_as_failed_inputs_not_usage_errors() -> None:
    hu = read_dicom(testdata("MR_small.dcm")).pixels

    @handle_errors
    def command() -> None:
        encode(hu, "png8")

    with pytest.raises(typer.Exit) as info:
        command()
    assert info.value.exit_code == EXIT_FAILURES == 1


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        # Typed: mapped by type whatever the words say.
        (BytesLengthException("truncated? no: 3 bytes for a US"), CorruptFileError),
        (pydicom.errors.InvalidDicomError("unexpected end of file"), CorruptFileError),
        (EOFError("x"), TruncatedFileError),
        (struct_error("unpack requires a buffer of 4 bytes"), TruncatedFileError),
        (RecursionError("maximum recursion depth exceeded"), CorruptFileError),
        # Bare builtins say nothing by type: their words are read.
        (ValueError("unexpected end of file reading the tag"), TruncatedFileError),
        (NotImplementedError("Unknown Value Representation 'ZZ'"), CorruptFileError),
        (ValueError("something else"), CorruptFileError),
    ],
)
def test_header_errors_by_type(error: BaseException, expected: type[Exception]) -> None:
    mapped = header_error(error, "a.dcm")
    assert type(mapped) is expected
    assert str(mapped).startswith("a.dcm: ")

"""Finding the image series under a folder or among files, grouped by SeriesInstanceUID.

Files that are not DICOM, and objects that carry no image volume (SEG, RT, SR, presentation
states), are left out. :mod:`radprep.io.series` assembles one series into a volume.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pydicom.dataset import Dataset

from radprep.errors import InputError, RadprepError, SpecError
from radprep.io.dicom import read_header
from radprep.io.frames import int_or_none
from radprep.io.series_grid import series_key

__all__ = ["SeriesInfo", "find_series"]

Source = str | os.PathLike[str] | Iterable[str | os.PathLike[str]]

# Objects that carry no image volume even when they carry pixel data.
_NOT_VOLUMES = {"SEG", "RTSTRUCT", "RTPLAN", "RTDOSE", "RTRECORD", "SR", "PR", "KO", "DOC", "REG"}


@dataclass(frozen=True)
class SeriesInfo:
    """One series found under a folder: what it is and which files hold it (no patient data).

    Attributes
    ----------
    series_instance_uid : str
    study_instance_uid : str
    modality : str
    series_number : int or None
    paths : tuple of str
        The files of the series, sorted.
    n_frames : int
        Frames over all its files.
    patient_id : str
        For patient-level splits only; never used in names.
    """

    series_instance_uid: str
    study_instance_uid: str = ""
    modality: str = ""
    series_number: int | None = None
    paths: tuple[str, ...] = ()
    n_frames: int = 0
    patient_id: str = ""

    @property
    def key(self) -> str:
        """A file-name-safe name without patient data: see :func:`series_key`."""
        return series_key(self.series_instance_uid, self.modality, self.series_number)


def _files(source: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> list[Path]:
    items = [Path(source)] if isinstance(source, (str, os.PathLike)) else [Path(p) for p in source]
    out: list[Path] = []
    for item in items:
        if item.is_dir():
            for root, dirs, files in os.walk(item):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                out.extend(Path(root) / f for f in sorted(files) if not f.startswith("."))
        elif item.exists():
            out.append(item)
        else:
            raise InputError(f"{item}: no such file or folder")
    return out


def _headers(paths: Sequence[Path]) -> list[tuple[Path, Dataset]]:
    out = []
    for p in paths:
        try:
            ds = read_header(p)
        except RadprepError:
            continue  # not DICOM, or unreadable: not part of any series
        if "Rows" not in ds or str(ds.get("Modality", "")).upper() in _NOT_VOLUMES:
            continue
        out.append((p, ds))
    return out


def find_series(
    source: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
) -> list[SeriesInfo]:
    """Return the image series under a folder (or among files), grouped by SeriesInstanceUID.

    Files that are not DICOM, and objects that are not images of a volume (SEG, RT, SR,
    presentation states), are left out. Series are sorted by (modality, series number, UID).
    """
    groups: dict[str, list[tuple[Path, Dataset]]] = {}
    for path, ds in _headers(_files(source)):
        groups.setdefault(str(ds.get("SeriesInstanceUID", "") or ""), []).append((path, ds))
    out = []
    for uid, members in groups.items():
        first = members[0][1]
        out.append(
            SeriesInfo(
                series_instance_uid=uid,
                study_instance_uid=str(first.get("StudyInstanceUID", "") or ""),
                modality=str(first.get("Modality", "") or ""),
                series_number=int_or_none(first.get("SeriesNumber")),
                paths=tuple(sorted(str(p) for p, _ in members)),
                n_frames=sum(int(ds.get("NumberOfFrames") or 1) for _, ds in members),
                patient_id=str(first.get("PatientID", "") or ""),
            )
        )
    return sorted(out, key=lambda s: (s.modality, s.series_number or 0, s.series_instance_uid))


def _select(
    groups: dict[str, list[tuple[Path, Dataset]]], uid: str | None
) -> tuple[str, list[tuple[Path, Dataset]]]:
    if not groups:
        raise InputError("no DICOM image series found (no file with Rows (0028,0010))")
    if uid is not None:
        if uid not in groups:
            raise SpecError(
                f"series_instance_uid {uid!r} is not among the {len(groups)} series found; "
                "list them with radprep.io.series.find_series"
            )
        return uid, groups[uid]
    if len(groups) > 1:
        raise SpecError(
            f"{len(groups)} series found (SeriesInstanceUID (0020,000E) differs); "
            "give series_instance_uid, or list them with radprep.io.series.find_series"
        )
    return next(iter(groups.items()))


def _group(
    source: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    series_instance_uid: str | None,
) -> tuple[str, list[tuple[Path, Dataset]]]:
    groups: dict[str, list[tuple[Path, Dataset]]] = {}
    for path, ds in _headers(_files(source)):
        groups.setdefault(str(ds.get("SeriesInstanceUID", "") or ""), []).append((path, ds))
    return _select(groups, series_instance_uid)

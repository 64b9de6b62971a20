"""Progress: a rich bar on a terminal, plain periodic lines otherwise, nothing when quiet."""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["Progress"]


class Progress:
    """Count done and failed items and show rate and ETA.

    Parameters
    ----------
    total : int
        Items to do in this run.
    mode : {"auto", "bar", "lines", "quiet"}
        ``auto``: a bar when `stream` is a terminal, lines otherwise.
    every_s : float
        Seconds between plain lines.
    """

    def __init__(
        self,
        total: int,
        *,
        mode: str = "auto",
        stream: TextIO | None = None,
        every_s: float = 10.0,
        label: str = "items",
    ) -> None:
        self.total, self.done, self.failed = total, 0, 0
        self.stream = stream or sys.stderr
        if mode == "auto":
            mode = "bar" if self.stream.isatty() else "lines"
        self.mode, self.every_s, self.label = mode, every_s, label
        self.t0 = time.perf_counter()
        self._last = self.t0
        self._bar = None
        if mode == "bar" and total:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )
            from rich.progress import Progress as RichProgress

            self._bar = RichProgress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[failed]} failed"),
                TextColumn("{task.fields[rate]}"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                transient=False,
            )
            self._task = self._bar.add_task(label, total=total, failed=0, rate="")
            self._bar.start()

    def rate(self) -> float:
        """Items per second so far."""
        dt = time.perf_counter() - self.t0
        return (self.done + self.failed) / dt if dt > 0 else 0.0

    def update(self, ok: bool) -> None:
        """Count one finished item."""
        if ok:
            self.done += 1
        else:
            self.failed += 1
        n = self.done + self.failed
        if self._bar is not None:
            self._bar.update(
                self._task, completed=n, failed=self.failed, rate=f"{self.rate():.1f}/s"
            )
        elif self.mode == "lines":
            now = time.perf_counter()
            if now - self._last >= self.every_s or n == self.total:
                self._last = now
                rate = self.rate()
                eta = (self.total - n) / rate if rate > 0 else float("nan")
                print(
                    f"{n}/{self.total} {self.label} ({self.failed} failed), "
                    f"{rate:.1f}/s, ETA {eta:.0f} s",
                    file=self.stream,
                    flush=True,
                )

    def close(self) -> None:
        """Stop the bar."""
        if self._bar is not None:
            self._bar.stop()

"""Progress reporting, passed into the core as an object so the core never imports the UI.

The core calls ``progress.task(description, total)`` around long work and ``advance(n)`` as it
goes (bytes hashed, lines counted, steps replayed). The CLI supplies rich bars on a terminal,
plain log lines otherwise, and nothing with --quiet.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO


class Progress:
    """Reports nothing (the default, and --quiet)."""

    @contextmanager
    def task(self, description: str, total: int | None = None, unit: str = "") -> Iterator[Callable[[int], None]]:
        yield lambda n=1: None

    def note(self, message: str) -> None:
        pass


class LogProgress(Progress):
    """One plain line per finished task (CI logs, pipes)."""

    def __init__(self, stream: TextIO):
        self.stream = stream

    @contextmanager
    def task(self, description, total=None, unit=""):
        done = [0]
        began = time.perf_counter()

        def advance(n: int = 1) -> None:
            done[0] += n

        yield advance
        amount = f", {_human(done[0], unit)}" if done[0] and unit else ""
        print(f"{description}: done{amount} in {time.perf_counter() - began:.1f} s", file=self.stream, flush=True)

    def note(self, message):
        print(message, file=self.stream, flush=True)


class RichProgress(Progress):
    """Live bars with amount and rate on a terminal."""

    def __init__(self, console):
        from rich.progress import (BarColumn, DownloadColumn, Progress as Bars, SpinnerColumn, TextColumn,
                                   TimeElapsedColumn, TransferSpeedColumn)  # fmt: skip

        self.console = console
        self.bars = Bars(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                         TransferSpeedColumn(), TimeElapsedColumn(), console=console, transient=True)  # fmt: skip
        self._open = 0

    @contextmanager
    def task(self, description, total=None, unit=""):
        if not self._open:  # the display lives while any task does (tasks nest: hashing spans the checks)
            self.bars.start()
        self._open += 1
        tid = self.bars.add_task(description, total=total)
        try:
            yield lambda n=1: self.bars.advance(tid, n)
        finally:
            self.bars.remove_task(tid)
            self._open -= 1
            if not self._open:
                self.bars.stop()

    def note(self, message):
        self.console.print(message, highlight=False)


def _human(n: int, unit: str) -> str:
    if unit != "B":
        return f"{n} {unit}"
    for suffix in ("B", "KB", "MB", "GB", "TB"):
        if n < 1000 or suffix == "TB":
            return f"{n:.0f} {suffix}" if suffix == "B" else f"{n:.1f} {suffix}"
        n /= 1000
    return f"{n} B"

"""A one-line progress bar with ETA on stderr; silent when stderr is not a terminal or --quiet."""

from __future__ import annotations

import sys
import time

_WIDTH = 30


class ProgressBar:
    def __init__(self, label: str, *, enabled: bool | None = None, stream=None) -> None:
        self.label = label
        self.stream = stream = stream or sys.stderr  # looked up now: tests swap sys.stderr
        self.enabled = stream.isatty() if enabled is None else enabled
        self.started = time.monotonic()
        self._last = ""

    def update(self, fraction: float, stage: str = "") -> None:
        if not self.enabled:
            return
        fraction = min(max(fraction, 0.0), 1.0)
        elapsed = time.monotonic() - self.started
        eta = f"ETA {format_seconds(elapsed / fraction - elapsed)}" if 0.02 < fraction < 1 else ""
        filled = int(fraction * _WIDTH)
        line = (f"\r{self.label} [{'#' * filled}{'.' * (_WIDTH - filled)}] {fraction:4.0%} "
                f"{stage:<14} {format_seconds(elapsed)} {eta}")
        if line != self._last:
            self.stream.write(line.ljust(len(self._last)))
            self.stream.flush()
            self._last = line

    def close(self) -> None:
        if self.enabled and self._last:
            self.stream.write("\n")
            self.stream.flush()


def format_seconds(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 \
        else f"{seconds // 60}:{seconds % 60:02d}"

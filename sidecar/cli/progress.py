"""A one-line progress bar with ETA on stderr (tqdm); silent when stderr is not a terminal or --quiet."""

from __future__ import annotations

import sys

from tqdm import tqdm

_STEPS = 1000  # the server reports a fraction; tqdm counts steps


class ProgressBar:
    """Takes the fraction done and the stage name from a job's progress events."""

    def __init__(self, label: str, *, enabled: bool | None = None, stream=None) -> None:
        stream = stream or sys.stderr  # looked up now: tests swap sys.stderr
        self.enabled = stream.isatty() if enabled is None else enabled
        self._bar = tqdm(
            total=_STEPS,
            desc=label,
            file=stream,
            disable=not self.enabled,
            leave=True,
            dynamic_ncols=True,
            bar_format="{desc} {bar} {percentage:3.0f}%{postfix} {elapsed} ETA {remaining}",
        )

    def update(self, fraction: float, stage: str = "") -> None:
        if not self.enabled:
            return
        self._bar.n = round(min(max(fraction, 0.0), 1.0) * _STEPS)
        self._bar.set_postfix_str(stage, refresh=False)
        self._bar.refresh()

    def close(self) -> None:
        self._bar.close()

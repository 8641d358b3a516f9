"""Who goes first when live streams and file jobs share the CPU or GPU.

Three classes: live streams (captions, real-time denoise), interactive file jobs (an action in
Audacity or OBS), batch file jobs (folders, long files). A waiting file job with a higher class
gets the next job slot, and work already running yields at every step: a file job's step (one
window of a transcription, one block of a separation) starts only when no step of a higher
class is running or waiting. A step is never interrupted, so a live decode waits at most for
the one file step already running.

The class of the request being served is in a context variable: the servicer sets it from the
call's metadata, and the job queue and the worker threads (which copy the context) read it.
"""

from __future__ import annotations

import contextlib
import contextvars
import enum
import threading
from collections import Counter
from collections.abc import Iterator

__all__ = ["Priority", "PRIORITIES", "ComputeGate", "current_priority", "requested_priority"]

_WAIT_SLICE_SECONDS = 0.1  # a waiting step looks at its cancel token this often


class Priority(enum.IntEnum):
    """Lower runs first."""

    LIVE = 0
    INTERACTIVE = 1
    BATCH = 2


PRIORITIES = {p.name.lower(): p for p in Priority}
requested_priority: contextvars.ContextVar[Priority] = contextvars.ContextVar(
    "requested_priority", default=Priority.INTERACTIVE
)


def current_priority() -> Priority:
    return requested_priority.get()


class ComputeGate:
    """Steps of work take a turn of their class; a turn waits while a higher class runs or waits."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._running: Counter[Priority] = Counter()
        self._waiting: Counter[Priority] = Counter()

    @contextlib.contextmanager
    def turn(self, priority: Priority, cancelled=lambda: False) -> Iterator[None]:
        """Holds a turn for one step. `cancelled()` is polled while waiting: a job whose client
        left stops waiting and runs its (cancelled) step at once, which ends it."""
        with self._changed:
            self._waiting[priority] += 1
            try:
                while self._ahead_of(priority) and not cancelled():
                    self._changed.wait(_WAIT_SLICE_SECONDS)
            finally:
                self._waiting[priority] -= 1
            self._running[priority] += 1
        try:
            yield
        finally:
            with self._changed:
                self._running[priority] -= 1
                self._changed.notify_all()

    def _ahead_of(self, priority: Priority) -> bool:
        return any(self._running[p] or self._waiting[p] for p in Priority if p < priority)

    def steps(self, priority: Priority, items: Iterator, cancelled=lambda: False) -> Iterator:
        """Iterates `items`, taking a turn for each next(); what is yielded is handed on outside it."""
        while True:
            with self.turn(priority, cancelled):
                try:
                    item = next(items)
                except StopIteration:
                    return
            yield item

    def busy(self) -> dict[str, int]:
        """Steps running now, by class (for metrics)."""
        with self._changed:
            return {p.name.lower(): self._running[p] for p in Priority}

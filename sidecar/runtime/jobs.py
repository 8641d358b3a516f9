"""A bounded job queue that runs blocking work in threads and can cancel it.

Engines are blocking generators (CTranslate2 and torch release the GIL). The queue runs at
most `max_running` of them at once, lets `max_waiting` more wait, and refuses the rest with
BusyError instead of growing without bound. Items reach the caller through a small bounded
hand-off (sidecar.runtime.threads.in_thread), so a slow client throttles the work instead of
filling memory. Cancelling the
caller (a client that disconnects) stops the work at its next item, and the slot is free as
soon as the worker thread has ended.

A call that uploads audio takes its place in the queue (admit()) as soon as its config
arrives, before the upload is read: a full server refuses it at once, not after gigabytes.
A refusal carries a retry delay: about as long as the jobs ahead are expected to take.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TypeVar

from sidecar.errors import BusyError
from sidecar.runtime.threads import CancelToken, in_thread

__all__ = ["JobQueue"]

log = logging.getLogger(__name__)
RETRY_SECONDS_PER_JOB = 5.0  # the retry delay a full queue suggests, per job ahead
T = TypeVar("T")


class Admission:
    """A place in the queue, taken before the job's input is read; run() uses it, close()
    gives it back if the job never runs."""

    def __init__(self, queue: JobQueue) -> None:
        self._queue: JobQueue | None = queue

    def take(self) -> JobQueue:
        queue, self._queue = self._queue, None
        if queue is None:
            raise RuntimeError("this admission was used already")
        return queue

    def close(self) -> None:
        if self._queue is not None:
            self._queue._admitted -= 1
            self._queue = None


class JobQueue:
    def __init__(
        self,
        max_running: int,
        max_waiting: int,
        scope: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
    ) -> None:
        if max_running < 1 or max_waiting < 0:
            raise ValueError("max_running must be >= 1 and max_waiting >= 0")
        self.max_running = max_running
        self.max_waiting = max_waiting
        self._scope = scope  # entered on a job's thread for the job's length (models in use)
        self._admitted = 0  # running + waiting
        self._running = 0
        self._slots: asyncio.Semaphore | None = None

    @property
    def running(self) -> int:
        return self._running

    @property
    def waiting(self) -> int:
        return self._admitted - self._running

    def admit(self) -> Admission:
        """Takes a place in the queue for a job to come, or raises BusyError with a retry delay."""
        if self._admitted >= self.max_running + self.max_waiting:
            delay = RETRY_SECONDS_PER_JOB * (1 + self.waiting)
            raise BusyError(
                f"the server is busy: {self._running} job(s) running and {self.waiting} waiting "
                f"(the queue is full); try again in {delay:g} s",
                retry_after=delay,
            )
        self._admitted += 1
        return Admission(self)

    async def run(
        self, name: str, work: Callable[[CancelToken], Iterator[T]], admission: Admission | None = None
    ) -> AsyncIterator[T]:
        """Runs work(token) in a thread once a slot is free, yielding what it yields; with the
        place `admission` holds, else one taken now."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.max_running)
        (admission or self.admit()).take()
        try:
            await self._slots.acquire()
        except BaseException:
            self._admitted -= 1
            raise
        self._running += 1

        def release() -> None:
            self._running -= 1
            self._admitted -= 1
            self._slots.release()

        def scoped(token: CancelToken) -> Iterator[T]:
            with self._scope():
                yield from work(token)

        # The slot is released when the worker thread ends, not when the caller leaves.
        async with contextlib.aclosing(in_thread(f"job-{name}", scoped, on_exit=release)) as items:
            async for item in items:
                yield item

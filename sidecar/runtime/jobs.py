"""A bounded job queue that runs blocking work in threads and can cancel it.

Engines are blocking generators (CTranslate2 and torch release the GIL). The queue runs at
most `max_running` of them at once, lets `max_waiting` more wait, and refuses the rest with
BusyError instead of growing without bound. Items reach the caller through a small bounded
hand-off (sidecar.runtime.threads.in_thread), so a slow client throttles the work instead of
filling memory. Cancelling the
caller (a client that disconnects) stops the work at its next item, and the slot is free as
soon as the worker thread has ended.
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
T = TypeVar("T")


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

    async def run(self, name: str, work: Callable[[CancelToken], Iterator[T]]) -> AsyncIterator[T]:
        """Runs work(token) in a thread once a slot is free, yielding what it yields."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.max_running)
        if self._admitted >= self.max_running + self.max_waiting:
            raise BusyError(
                f"the server is busy: {self._running} job(s) running and {self.waiting} waiting "
                "(the queue is full); try again later"
            )
        self._admitted += 1
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

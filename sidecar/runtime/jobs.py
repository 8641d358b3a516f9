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

Waiting jobs get a free slot by priority class (sidecar.runtime.priority), then in arrival
order, and a running job takes a turn of its class for each step, so that live streams and
interactive jobs go before it. When the server stops, interrupt() ends the jobs still running
with ShuttingDownError; their threads stop at their next step.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TypeVar

from sidecar.errors import BusyError, ShuttingDownError
from sidecar.runtime.priority import ComputeGate, Priority, current_priority
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
        gate: ComputeGate | None = None,
    ) -> None:
        if max_running < 1 or max_waiting < 0:
            raise ValueError("max_running must be >= 1 and max_waiting >= 0")
        self.max_running = max_running
        self.max_waiting = max_waiting
        self.gate = gate or ComputeGate()
        self._scope = scope  # entered on a job's thread for the job's length (models in use)
        self._admitted = 0  # running + waiting
        self._running = 0
        self._waiters: list[tuple[int, int, asyncio.Future]] = []  # a heap by (priority, arrival)
        self._arrivals = itertools.count()
        self._closing: str | None = None  # why new jobs are refused, once the server stops
        self._interrupted: asyncio.Event | None = None

    @property
    def running(self) -> int:
        return self._running

    @property
    def waiting(self) -> int:
        return self._admitted - self._running

    def admit(self) -> Admission:
        """Takes a place in the queue for a job to come, or raises BusyError with a retry delay."""
        if self._closing:
            raise ShuttingDownError(self._closing)
        if self._admitted >= self.max_running + self.max_waiting:
            delay = RETRY_SECONDS_PER_JOB * (1 + self.waiting)
            raise BusyError(
                f"the server is busy: {self._running} job(s) running and {self.waiting} waiting "
                f"(the queue is full); try again in {delay:g} s",
                retry_after=delay,
            )
        self._admitted += 1
        return Admission(self)

    def close(self, reason: str) -> None:
        """Refuses new jobs from now on with ShuttingDownError(reason)."""
        self._closing = reason

    def interrupt(self, reason: str) -> None:
        """Ends every job waiting or running with ShuttingDownError(reason)."""
        self.close(reason)
        self._get_interrupted().set()
        for _, _, granted in self._waiters:
            if not granted.done():
                granted.set_exception(ShuttingDownError(reason))
        self._waiters.clear()

    def _get_interrupted(self) -> asyncio.Event:
        if self._interrupted is None:  # created on the event loop, at first use
            self._interrupted = asyncio.Event()
        return self._interrupted

    async def _slot(self, priority: Priority) -> None:
        # No await between a slot being taken and the job's thread starting (see run), so a
        # cancelled caller never holds a slot that no thread will give back.
        if self._running < self.max_running and not self._waiters:
            self._running += 1
            return
        granted = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (priority, next(self._arrivals), granted))
        try:
            await granted
        except BaseException:
            if granted.done() and not granted.cancelled() and granted.exception() is None:
                self._free_slot()  # granted as it was cancelled: hand it on
            raise

    def _free_slot(self) -> None:
        """Hands a finished job's slot to the first waiter still waiting, or frees it."""
        while self._waiters:
            _, _, granted = heapq.heappop(self._waiters)
            if not granted.done():
                granted.set_result(None)
                return
        self._running -= 1

    async def run(
        self, name: str, work: Callable[[CancelToken], Iterator[T]], admission: Admission | None = None
    ) -> AsyncIterator[T]:
        """Runs work(token) in a thread once a slot is free, yielding what it yields; with the
        place `admission` holds, else one taken now. The priority is the request's
        (sidecar.runtime.priority.current_priority)."""
        priority = current_priority()
        (admission or self.admit()).take()
        try:
            if self._closing and self._get_interrupted().is_set():
                raise ShuttingDownError(self._closing)
            await self._slot(priority)
        except BaseException:
            self._admitted -= 1
            raise

        def release() -> None:
            self._admitted -= 1
            self._free_slot()

        def scoped(token: CancelToken) -> Iterator[T]:
            items = work(token)
            try:
                with self._scope():
                    yield from self.gate.steps(priority, items, lambda: token.cancelled)
            finally:
                if hasattr(items, "close"):
                    items.close()

        # The slot is released when the worker thread ends, not when the caller leaves.
        work_items = in_thread(
            f"job-{name}",
            scoped,
            on_exit=release,
            interrupted=self._get_interrupted(),
            interruption=lambda: ShuttingDownError(self._closing or "the sidecar is shutting down"),
        )
        async with contextlib.aclosing(work_items) as items:
            async for item in items:
                yield item

"""A bounded job queue that runs blocking work in threads and can cancel it.

Engines are blocking generators (CTranslate2 and torch release the GIL). The queue runs at
most `max_running` of them at once, lets `max_waiting` more wait, and refuses the rest with
BusyError instead of growing without bound. Items reach the caller through a small bounded
hand-off, so a slow client throttles the work instead of filling memory. Cancelling the
caller (a client that disconnects) stops the work at its next item, and the slot is free as
soon as the worker thread has ended.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TypeVar

from sidecar.errors import BusyError, CancelledError

log = logging.getLogger(__name__)
T = TypeVar("T")

_HANDOFF_ITEMS = 4  # items in flight between a worker thread and its caller
_POLL_SECONDS = 0.1


class CancelToken:
    """Tells blocking work that its caller has gone; long loops check it between steps."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise CancelledError("the job was cancelled")


class JobQueue:
    def __init__(self, max_running: int, max_waiting: int) -> None:
        if max_running < 1 or max_waiting < 0:
            raise ValueError("max_running must be >= 1 and max_waiting >= 0")
        self.max_running = max_running
        self.max_waiting = max_waiting
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
        loop = asyncio.get_running_loop()
        handoff: asyncio.Queue = asyncio.Queue(maxsize=_HANDOFF_ITEMS)
        token = CancelToken()

        def release() -> None:
            self._running -= 1
            self._admitted -= 1
            self._slots.release()

        def put(kind: str, value: object) -> bool:
            future = asyncio.run_coroutine_threadsafe(handoff.put((kind, value)), loop)
            while True:
                try:
                    future.result(timeout=_POLL_SECONDS)
                    return True
                except concurrent.futures.TimeoutError:
                    if token.cancelled:
                        future.cancel()
                        return False

        def worker() -> None:
            try:
                for item in work(token):
                    if token.cancelled or not put("item", item):
                        break
            except CancelledError:
                pass
            except BaseException as exc:  # handed to the caller, which maps it to a status
                put("error", exc)
            finally:
                loop.call_soon_threadsafe(release)
                if not token.cancelled:
                    put("done", None)

        threading.Thread(target=worker, name=f"job-{name}", daemon=True).start()
        try:
            while True:
                kind, value = await handoff.get()
                if kind == "done":
                    return
                if kind == "error":
                    raise value
                yield value
        finally:
            token.cancel()

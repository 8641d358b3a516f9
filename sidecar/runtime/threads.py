"""Blocking work in a worker thread, seen from the other side as an iterator: the one bridge.

Model libraries block (CTranslate2, torch) or report only through callbacks (pyannote's hook,
a transformers stopping criterion). `in_thread` runs a blocking generator for an asyncio caller;
`from_callbacks` runs a call that reports through a callback for a blocking caller,
`side_by_side` several such calls at once, read in order, and `in_lanes` a call on each of many
items, a few at once. They hand items over a queue (bounded for the first two: a slow consumer
slows the work instead of filling memory), re-raise the worker's exception on the consumer's
side, and tell the worker to stop when the consumer goes away.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import queue
import threading
import time
from collections.abc import AsyncIterator, Callable, Generator, Iterator, Sequence
from typing import TypeVar

from sidecar.errors import CancelledError

T = TypeVar("T")
R = TypeVar("R")

HANDOFF_ITEMS = 4  # items in flight between a worker thread and its consumer
_POLL_SECONDS = 0.1
_workers: set[threading.Thread] = set()  # in_thread's threads still running


class CancelToken:
    """Tells blocking work that its consumer has gone; long loops check it between steps."""

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


async def in_thread(
    name: str,
    work: Callable[[CancelToken], Iterator[T]],
    on_exit: Callable[[], None] | None = None,
    interrupted: asyncio.Event | None = None,
    interruption: Callable[[], BaseException] = CancelledError,
) -> AsyncIterator[T]:
    """Runs work(token) in a thread named `name`, yielding what it yields. Closing the iterator
    cancels the token; `on_exit` runs on the event loop once the thread has ended. Once
    `interrupted` is set, the iterator raises interruption() instead of waiting for the next item."""
    loop = asyncio.get_running_loop()
    handoff: asyncio.Queue = asyncio.Queue(maxsize=HANDOFF_ITEMS)
    token = CancelToken()

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
        items = work(token)
        try:
            for item in items:
                if token.cancelled or not put("item", item):
                    break
            if hasattr(items, "close"):  # its `finally` and `with` blocks run on this thread
                items.close()
        except CancelledError:
            pass
        except BaseException as exc:  # handed to the consumer, which maps it to a status
            put("error", exc)
        finally:
            if on_exit is not None:
                loop.call_soon_threadsafe(on_exit)
            if not token.cancelled:
                put("done", None)
            _workers.discard(threading.current_thread())

    # The request's context (its id in log lines, its priority) goes with the work.
    thread = threading.Thread(target=contextvars.copy_context().run, args=(worker,), name=name, daemon=True)
    _workers.add(thread)
    thread.start()
    try:
        while True:
            kind, value = await (handoff.get() if interrupted is None else _unless(interrupted, handoff, interruption))
            if kind == "done":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        token.cancel()


async def _unless(interrupted: asyncio.Event, handoff: asyncio.Queue, interruption: Callable[[], BaseException]):
    """The next item from `handoff`, or interruption() raised once `interrupted` is set."""
    if interrupted.is_set():
        raise interruption()
    getting = asyncio.ensure_future(handoff.get())  # cancelling a Queue.get loses no item
    stopped = asyncio.ensure_future(interrupted.wait())
    try:
        await asyncio.wait({getting, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
        if not getting.done():
            getting.cancel()
    if not getting.done() or getting.cancelled():
        raise interruption()
    return getting.result()


def wait_for_workers(timeout: float) -> list[threading.Thread]:
    """Waits up to `timeout` seconds in all for in_thread's threads to end (their consumers
    have gone, so they stop at their next check); returns those still running."""
    deadline = time.monotonic() + timeout
    for thread in list(_workers):
        thread.join(max(0.0, deadline - time.monotonic()))
    return [thread for thread in list(_workers) if thread.is_alive()]


def from_callbacks(
    name: str, call: Callable[[Callable[[T], bool]], R], max_pending: int = HANDOFF_ITEMS
) -> Generator[T, None, R]:
    """Runs call(report) in a thread named `name`; yields each item it reports and returns
    what it returns (use with `yield from`). report(item) returns True once this generator has
    been closed, so the call can stop at its next report (max_pending=0: never wait)."""
    items: queue.Queue = queue.Queue(maxsize=max_pending)
    stopped = threading.Event()

    def report(item: T) -> bool:
        while not stopped.is_set():
            try:
                items.put(("item", item), timeout=_POLL_SECONDS)
                break
            except queue.Full:
                continue
        return stopped.is_set()

    def run() -> None:
        try:
            outcome = ("done", call(report))
        except BaseException as exc:  # handed to the consumer, which re-raises it
            outcome = ("error", exc)
        while not stopped.is_set():
            try:
                items.put(outcome, timeout=_POLL_SECONDS)
                return
            except queue.Full:
                continue

    worker = threading.Thread(target=contextvars.copy_context().run, args=(run,), name=name, daemon=True)
    worker.start()
    try:
        return (yield from _received(items, worker))
    finally:
        stopped.set()
        worker.join()


def _received(items: queue.Queue | queue.SimpleQueue, worker: threading.Thread) -> Generator:
    """Yields the items a worker puts as ("item", value), raises its ("error", exc), and
    returns the value of its ("done", value)."""
    while True:
        try:
            kind, value = items.get(timeout=_POLL_SECONDS)
        except queue.Empty:
            if not worker.is_alive() and items.empty():
                raise RuntimeError(f"{worker.name}: the worker thread ended without a result") from None
            continue
        if kind == "error":
            raise value
        if kind == "done":
            return value
        yield value


def side_by_side(name: str, calls: Sequence[Callable[[Callable[[T], bool]], object]]) -> Iterator[T]:
    """Runs every call(report) at once, each in a thread named `name-i`, when the first item is
    asked for; yields what the first call reports, then what the second reports, and so on: work
    side by side, read in order. What a call reports ahead of the reader waits in memory. A
    call's exception is raised where its items would have come; once the iterator is closed,
    report() returns True, so that each call can stop, and closing waits for them."""
    stopped = threading.Event()
    outboxes: list[queue.SimpleQueue] = [queue.SimpleQueue() for _ in calls]

    def run(call, outbox: queue.SimpleQueue) -> None:
        def report(item: T) -> bool:
            outbox.put(("item", item))
            return stopped.is_set()

        try:
            call(report)
            outbox.put(("done", None))
        except BaseException as exc:  # handed to the consumer, which re-raises it
            outbox.put(("error", exc))

    workers = [
        threading.Thread(
            target=contextvars.copy_context().run, args=(run, call, outbox), name=f"{name}-{i}", daemon=True
        )
        for i, (call, outbox) in enumerate(zip(calls, outboxes))
    ]
    for worker in workers:
        worker.start()
    try:
        for worker, outbox in zip(workers, outboxes):
            yield from _received(outbox, worker)
    finally:
        stopped.set()
        for worker in workers:
            worker.join()


def in_lanes(name: str, lanes: int, work: Callable[[T], R], items: Sequence[T]) -> Iterator[tuple[int, R]]:
    """Runs work(item) on every item, at most `lanes` at once, each lane a daemon thread named
    `name-i` taking the next item when it is free; yields (index, result) as each finishes. An
    exception of work() is raised where its result would have come. Once the iterator is
    closed no lane takes another item, and the work under way is not waited for: a Ctrl-C
    ends the process, and with it the calls the lanes are in."""
    results: queue.SimpleQueue = queue.SimpleQueue()
    stopped = threading.Event()
    upcoming = iter(enumerate(items))
    taking = threading.Lock()

    def lane() -> None:
        try:
            while not stopped.is_set():
                with taking:
                    index, item = next(upcoming, (None, None))
                if index is None:
                    break
                results.put(("item", (index, work(item))))
            results.put(("done", None))
        except BaseException as exc:  # handed to the consumer, which re-raises it
            results.put(("error", exc))

    workers = [
        threading.Thread(target=contextvars.copy_context().run, args=(lane,), name=f"{name}-{i}", daemon=True)
        for i in range(min(lanes, len(items)))
    ]
    for worker in workers:
        worker.start()
    try:
        for _ in workers:
            while True:
                try:
                    kind, value = results.get(timeout=_POLL_SECONDS)
                except queue.Empty:
                    if not any(worker.is_alive() for worker in workers) and results.empty():
                        raise RuntimeError(f"{name}: the lanes ended without their results") from None
                    continue
                if kind == "error":
                    raise value
                if kind == "done":
                    break
                yield value
    finally:
        stopped.set()

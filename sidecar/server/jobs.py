"""The one shape of a file servicer: run the pipeline as a job, turn each event into a response.

Every file RPC reads its config, checks it, then returns `respond(...)` over its pipeline. Only
what differs lives in the service's `JobResponses`: the message class, and how its info, items
and summary look.
"""

from __future__ import annotations

import abc
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import Any

from sidecar.runtime.events import Finished, Info, Item, JobEvent, Progress
from sidecar.runtime.jobs import Admission
from sidecar.runtime.runtime import Runtime
from sidecar.runtime.threads import CancelToken
from sidecar.server import convert

log = logging.getLogger(__name__)


class JobResponses(abc.ABC):
    """One service's responses to job events; `response` is its response message class."""

    response: Any

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.item_count = 0

    def progress(self, event: Progress):
        return self.response(
            progress=convert.progress(
                event.stage, event.fraction_done, event.processed_seconds, event.total_seconds, self.started
            )
        )

    def info(self, info) -> Any:
        """The response for the job's Info event; a service whose stream has none never gets one."""
        raise TypeError(f"{type(self).__name__}: this service sends no info message")

    @abc.abstractmethod
    def items(self, item) -> Iterable[Any]:
        """The responses for one of the job's results."""

    @abc.abstractmethod
    def summary(self, finished: Finished, elapsed: float) -> Any:
        """The last response, from the Finished event and the job's wall time."""

    @staticmethod
    def speed(finished: Finished, elapsed: float) -> float:
        """The summaries' speed_factor: audio seconds per second of processing."""
        return finished.audio_seconds / elapsed if elapsed > 0 else 0.0


async def respond(
    runtime: Runtime,
    name: str,
    pipeline: Callable[[CancelToken], Iterator[JobEvent]],
    responses: JobResponses,
    admission: Admission | None = None,
) -> AsyncIterator[Any]:
    """Runs pipeline(token) on the job queue (in the place `admission` took, if given) and
    yields the response for each of its events."""
    async with contextlib.aclosing(runtime.jobs.run(name, pipeline, admission)) as events:
        async for event in events:
            match event:
                case Progress():
                    yield responses.progress(event)
                case Info():
                    yield responses.info(event.info)
                case Item():
                    responses.item_count += 1
                    for response in responses.items(event.item):
                        yield response
                case Finished():
                    elapsed = time.perf_counter() - responses.started
                    yield responses.summary(event, elapsed)
                    log.info(
                        "%s: %.1f s of audio, %d item(s) in %.2f s (%.1fx real time)",
                        name,
                        event.audio_seconds,
                        responses.item_count,
                        elapsed,
                        responses.speed(event, elapsed),
                    )
                case _:
                    raise TypeError(f"{name}: a job yielded {type(event).__name__}, not a job event")


async def result_of(
    runtime: Runtime,
    name: str,
    pipeline: Callable[[CancelToken], Iterator[JobEvent]],
    admission: Admission | None = None,
) -> Any:
    """Runs pipeline(token) on the job queue for a unary RPC: the result its Finished event carries."""
    async with contextlib.aclosing(runtime.jobs.run(name, pipeline, admission)) as events:
        async for event in events:
            if isinstance(event, Finished):
                return event.result
    raise RuntimeError(f"{name}: the job ended without a Finished event")

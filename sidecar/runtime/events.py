"""The typed events every job yields, whatever the service.

A pipeline (sidecar/pipelines) yields `Progress` whenever it knows how far it is, `Info` once
before its results (what model, what format), an `Item` per result (a segment, a turn, a block
of audio) and `Finished` last. The servicer's `JobResponses` turns each into its own response
message, so the same four shapes carry every file job.
"""

from __future__ import annotations

import dataclasses
from typing import Generic, TypeVar

InfoT = TypeVar("InfoT")
ItemT = TypeVar("ItemT")
ResultT = TypeVar("ResultT")


@dataclasses.dataclass(frozen=True)
class Progress:
    """How far the job is: `processed_seconds` of `total_seconds` of audio (None while unknown)."""

    stage: str
    processed_seconds: float = 0.0
    total_seconds: float | None = None
    fraction: float | None = None  # when the stage knows better than processed / total

    @property
    def fraction_done(self) -> float:
        if self.fraction is not None:
            return self.fraction
        return self.processed_seconds / self.total_seconds if self.total_seconds else 0.0


@dataclasses.dataclass(frozen=True)
class Info(Generic[InfoT]):
    """What the job works with, sent once before its items."""

    info: InfoT


@dataclasses.dataclass(frozen=True)
class Item(Generic[ItemT]):
    """One result, in order."""

    item: ItemT


@dataclasses.dataclass(frozen=True)
class Finished(Generic[ResultT]):
    """The end of the job: the audio it covered and what its summary reports."""

    audio_seconds: float
    result: ResultT | None = None


JobEvent = Progress | Info | Item | Finished

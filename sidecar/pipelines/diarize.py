"""Who spoke when in a file; also the diarization step a transcription runs for speaker labels."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator

from sidecar.engines import diarization as engine
from sidecar.engines import pyannote_backend
from sidecar.pipelines.decoding import decoded_mono
from sidecar.runtime.events import Finished, Item, JobEvent, Progress
from sidecar.runtime.threads import CancelToken


@dataclasses.dataclass(frozen=True)
class DiarizedFile:
    """What a DiarizeFile summary reports."""

    diarization: engine.Diarization
    backend: str
    model: str
    device: str


def diarizer_for(runtime, options: engine.DiarizationOptions):
    """The loaded backend for these options, loaded once per server."""
    family = pyannote_backend.MODEL_FAMILY if options.backend == engine.PYANNOTE else engine.MODEL_FAMILY
    return runtime.model(family, options.model)


def turns_for(
    runtime,
    options: engine.DiarizationOptions,
    samples,
    token: CancelToken,
    stage_prefix: str = "",
    total_seconds: float | None = None,
    share: float = 1.0,
) -> Iterator[Progress]:
    """Diarizes 16 kHz mono samples, yielding Progress as it goes; returns the Diarization
    (use with `yield from`). `share` is the part of the whole job's progress diarization makes:
    a transcription reports its own progress once segments come, so it gives 0."""
    diarizer = diarizer_for(runtime, options)
    with contextlib.closing(diarizer.diarize(samples, options)) as steps:
        for step in steps:
            token.raise_if_cancelled()
            if isinstance(step, engine.Diarization):
                return step
            done = step.fraction * share
            yield Progress(stage_prefix + step.stage, done * (total_seconds or 0.0), total_seconds, fraction=done)
    raise RuntimeError("the diarizer ended without a result")


def diarize_file(runtime, upload, options: engine.DiarizationOptions, max_seconds: float):
    """The DiarizeFile job: an Item per SpeakerTurn, then Finished(DiarizedFile)."""

    def pipeline(token: CancelToken) -> Iterator[JobEvent]:
        audio = yield from decoded_mono(upload, engine.SAMPLE_RATE, max_seconds, token)
        yield Progress("loading model", 0.0, audio.duration)
        result = yield from turns_for(runtime, options, audio.mono(), token, total_seconds=audio.duration)
        diarizer = diarizer_for(runtime, options)
        for turn in result.turns:
            yield Item(turn)
        yield Finished(result.duration, DiarizedFile(result, options.backend, diarizer.name, diarizer.device))

    return pipeline

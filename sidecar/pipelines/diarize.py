"""Who spoke when in a file; also the diarization step a transcription runs for speaker labels."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator

from sidecar.engines import diarization as engine
from sidecar.engines import pyannote_backend, speakers
from sidecar.media import audio as media
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
                if not options.known_speakers or options.backend == engine.OFFLINE:
                    return step  # the offline backend names them itself
                yield Progress(stage_prefix + "naming speakers", share * (total_seconds or 0.0), total_seconds)
                # Voiceprints come from the offline encoder whichever backend found the turns.
                voices = runtime.model(engine.MODEL_FAMILY, None)
                return speakers.name_speakers(step, samples, options.known_speakers, voices, options.name_threshold)
            done = step.fraction * share
            yield Progress(stage_prefix + step.stage, done * (total_seconds or 0.0), total_seconds, fraction=done)
    raise RuntimeError("the diarizer ended without a result")


def enroll_speaker(runtime, upload, name: str, save: Callable[[media.Audio], object], max_seconds: float):
    """The EnrollSpeaker job: decodes `name`'s reference, checks that it holds enough speech,
    and saves it; Finished(what `save` returns)."""

    def pipeline(token: CancelToken) -> Iterator[JobEvent]:
        try:
            audio = upload.decode(
                sample_rate=engine.SAMPLE_RATE,
                mono=True,
                max_seconds=max_seconds,
                between_blocks=token.raise_if_cancelled,
            )
        finally:
            upload.close()
        reference = audio.mono()[: int(engine.MAX_SPEAKER_REFERENCE_SECONDS * engine.SAMPLE_RATE)]
        known = engine.KnownSpeaker(name, reference)
        known.validate()
        token.raise_if_cancelled()
        yield Progress("checking the voice", 0.0, audio.duration)
        runtime.model(engine.MODEL_FAMILY, None).reference_print(known)  # refuses too little speech
        yield Finished(audio.duration, save(media.Audio(reference[None, :], engine.SAMPLE_RATE)))

    return pipeline


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

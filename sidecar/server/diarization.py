"""DiarizationService: who spoke when, over a config-first stream; also the diarization step
that TranscribeFile runs when its options ask for speaker labels."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator

import grpc

from sidecar.engines import diarization as engine
from sidecar.engines import diarization_models
from sidecar.errors import InvalidOptionsError
from sidecar.runtime.jobs import CancelToken
from sidecar.runtime.runtime import Runtime
from sidecar.server import convert
from sidecar.server.status import mapped_errors
from sidecar.server.upload import read_config_first
from sidecar.v1 import diarization_pb2 as pb
from sidecar.v1 import diarization_pb2_grpc

log = logging.getLogger(__name__)

_BACKENDS = {pb.DIARIZATION_BACKEND_UNSPECIFIED: engine.OFFLINE,
             pb.DIARIZATION_BACKEND_OFFLINE: engine.OFFLINE,
             pb.DIARIZATION_BACKEND_PYANNOTE: engine.PYANNOTE}
_BACKEND_ENUMS = {engine.OFFLINE: pb.DIARIZATION_BACKEND_OFFLINE,
                  engine.PYANNOTE: pb.DIARIZATION_BACKEND_PYANNOTE}


def options_from_proto(o: pb.DiarizationOptions) -> engine.DiarizationOptions:
    """Checked engine options; unknown enum values and out-of-range counts are refused."""
    if o.backend not in _BACKENDS:
        raise InvalidOptionsError(f"unknown diarization backend {o.backend}")
    options = engine.DiarizationOptions(
        backend=_BACKENDS[o.backend],
        model=o.model or None,
        speaker_count=o.speaker_count or None,
        min_speakers=o.min_speaker_count or None,
        max_speakers=o.max_speaker_count or None,
    )
    for name in ("speaker_count", "min_speaker_count", "max_speaker_count"):
        if getattr(o, name) < 0:
            raise InvalidOptionsError(f"{name} must not be negative, got {getattr(o, name)}")
    options.validate()
    return options


def options_for_transcript(o) -> engine.DiarizationOptions | None:
    """The diarization a TranscriptionOptions asks for, or None when it asks for none."""
    if not o.HasField("diarization"):
        return None
    if o.HasField("word_timestamps") and not o.word_timestamps:
        raise InvalidOptionsError("diarization labels words, so it needs word_timestamps")
    return options_from_proto(o.diarization)


def diarizer_for(runtime: Runtime, options: engine.DiarizationOptions):
    """The loaded backend for these options, loaded once per server."""
    if options.backend == engine.PYANNOTE:
        from sidecar.engines import pyannote_backend

        name = options.model or pyannote_backend.DEFAULT_PIPELINE
        entry = runtime.models.get(diarization_models.pyannote_key(name),
                                   lambda: pyannote_backend.load(name, runtime.config.device))
    else:
        entry = runtime.models.get(diarization_models.OFFLINE_KEY,
                                   lambda: engine.load_offline(runtime.config.device))
    return entry.model


def turns_for(runtime: Runtime, options: engine.DiarizationOptions, samples, token: CancelToken,
              message: Callable[[engine.Step], object]) -> Iterator[object]:
    """Diarizes 16 kHz mono samples, yielding message(step) as it goes; returns the
    Diarization (use with `yield from`)."""
    diarizer = diarizer_for(runtime, options)
    with contextlib.closing(diarizer.diarize(samples, options)) as items:
        for item in items:
            token.raise_if_cancelled()
            if isinstance(item, engine.Diarization):
                return item
            yield message(item)
    raise RuntimeError("the diarizer ended without a result")


def turn_to_proto(t: engine.SpeakerTurn) -> pb.SpeakerTurn:
    turn = pb.SpeakerTurn(start_offset=convert.duration(t.start), end_offset=convert.duration(t.end),
                          speaker_label=t.speaker)
    if t.confidence is not None:
        turn.confidence = t.confidence
    return turn


def progress(stage: str, done: float, total: float, started: float) -> pb.DiarizeFileResponse:
    return pb.DiarizeFileResponse(progress=convert.progress(stage, done, done * total, total, started))


class DiarizationServicer(diarization_pb2_grpc.DiarizationServiceServicer):
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def DiarizeFile(self, request_iterator, context: grpc.aio.ServicerContext):
        started = time.perf_counter()
        limits = self.runtime.config
        async with mapped_errors(context, "DiarizeFile"):
            config, upload = await read_config_first(request_iterator, limits)
            with upload.closed_on_error():
                options = options_from_proto(config.options)

            def work(token):
                try:
                    yield progress("decoding", 0.0, 0.0, started)
                    audio = upload.decode(sample_rate=engine.SAMPLE_RATE, mono=True,
                                          max_seconds=limits.max_audio_seconds)
                finally:
                    upload.close()
                token.raise_if_cancelled()
                yield progress("loading model", 0.0, audio.duration, started)
                result = yield from turns_for(
                    self.runtime, options, audio.mono(), token,
                    lambda step: progress(step.stage, step.fraction, audio.duration, started))
                diarizer = diarizer_for(self.runtime, options)
                yield result, diarizer.name, diarizer.device

            async with contextlib.aclosing(self.runtime.jobs.run("diarize", work)) as items:
                async for item in items:
                    if isinstance(item, tuple):
                        result, model, device = item
                    else:
                        yield item
            for turn in result.turns:
                yield pb.DiarizeFileResponse(turn=turn_to_proto(turn))
            elapsed = time.perf_counter() - started
            yield pb.DiarizeFileResponse(summary=pb.DiarizationSummary(
                speaker_count=len(result.speakers), speaker_labels=result.speakers,
                turn_count=len(result.turns), audio_duration=convert.duration(result.duration),
                speech_duration=convert.duration(result.speech_duration),
                backend=_BACKEND_ENUMS[options.backend], model=model, device=device,
                processing_duration=convert.duration(elapsed),
                speed_factor=result.duration / elapsed if elapsed > 0 else 0.0,
            ))
            log.info("DiarizeFile: %.1f s of audio, %d speakers, %d turns in %.2f s (%s on %s)",
                     result.duration, len(result.speakers), len(result.turns), elapsed, model, device)


def register(server: grpc.aio.Server, runtime: Runtime) -> str:
    diarization_pb2_grpc.add_DiarizationServiceServicer_to_server(DiarizationServicer(runtime), server)
    return pb.DESCRIPTOR.services_by_name["DiarizationService"].full_name

"""TranscriptionService: file transcription over a config-first stream."""

from __future__ import annotations

import contextlib
import logging
import time

import grpc

from sidecar.engines import speakers, whisper
from sidecar.runtime.runtime import Runtime
from sidecar.server import convert, diarization
from sidecar.server.status import mapped_errors
from sidecar.server.upload import read_config_first
from sidecar.v1 import transcription_pb2 as pb
from sidecar.v1 import transcription_pb2_grpc

log = logging.getLogger(__name__)


def options_from_proto(o: pb.TranscriptionOptions) -> whisper.TranscriptionOptions:
    defaults = whisper.TranscriptionOptions()
    return whisper.TranscriptionOptions(
        language=o.language_code or None,
        translate=o.translate,
        word_timestamps=o.word_timestamps if o.HasField("word_timestamps") else defaults.word_timestamps,
        vad_filter=o.vad_filter if o.HasField("vad_filter") else defaults.vad_filter,
        initial_prompt=o.initial_prompt or None,
        hotwords=o.hotwords or None,
        beam_size=o.beam_size or defaults.beam_size,
    )


def segment_to_proto(s: whisper.Segment) -> pb.Segment:
    return pb.Segment(
        index=s.index,
        start_offset=convert.duration(s.start),
        end_offset=convert.duration(s.end),
        text=s.text,
        words=[
            pb.Word(text=w.text, start_offset=convert.duration(w.start),
                    end_offset=convert.duration(w.end), probability=w.probability,
                    speaker_label=w.speaker or "")
            for w in s.words
        ],
        average_log_probability=s.average_log_probability,
        no_speech_probability=s.no_speech_probability,
        speaker_label=s.speaker or "",
    )


def progress(stage: str, done: float, processed: float, total: float, started: float) -> pb.TranscribeFileResponse:
    return pb.TranscribeFileResponse(progress=convert.progress(stage, done, processed, total, started))


class TranscriptionServicer(transcription_pb2_grpc.TranscriptionServiceServicer):
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def TranscribeFile(self, request_iterator, context: grpc.aio.ServicerContext):
        started = time.perf_counter()
        limits = self.runtime.config
        async with mapped_errors(context, "TranscribeFile"):
            config, upload = await read_config_first(request_iterator, limits)
            with upload.closed_on_error():
                options = options_from_proto(config.options)
                speaker_options = diarization.options_for_transcript(config.options)
            model_name = config.options.model

            def work(token):
                try:
                    yield progress("decoding", 0.0, 0.0, 0.0, started)
                    audio = upload.decode(sample_rate=whisper.SAMPLE_RATE, mono=True,
                                          max_seconds=limits.max_audio_seconds)
                finally:
                    upload.close()
                token.raise_if_cancelled()
                yield progress("loading model", 0.0, 0.0, audio.duration, started)
                engine = self.runtime.whisper(model_name)
                info, segments = engine.transcribe(audio.mono(), options)
                if speaker_options is not None:
                    diarized = yield from diarization.turns_for(
                        self.runtime, speaker_options, audio.mono(), token,
                        lambda step: progress(f"diarizing: {step.stage}", 0.0, 0.0, audio.duration, started))
                    segments = speakers.label_segments(segments, diarized.turns)
                yield pb.TranscribeFileResponse(info=pb.TranscriptionInfo(
                    language_code=info.language, language_probability=info.language_probability,
                    audio_duration=convert.duration(info.duration),
                    speech_duration=convert.duration(info.speech_duration),
                    model=engine.name, device=engine.device,
                ))
                for segment in segments:
                    token.raise_if_cancelled()
                    yield segment
                    yield progress("transcribing", segment.end / info.duration if info.duration else 1.0,
                                   segment.end, info.duration, started)
                yield info

            count = 0
            duration = 0.0
            async with contextlib.aclosing(self.runtime.jobs.run("transcribe", work)) as items:
                async for item in items:
                    if isinstance(item, whisper.Segment):
                        count += 1
                        yield pb.TranscribeFileResponse(segment=segment_to_proto(item))
                    elif isinstance(item, whisper.TranscriptionInfo):
                        duration = item.duration
                    else:
                        yield item
            elapsed = time.perf_counter() - started
            yield pb.TranscribeFileResponse(summary=pb.TranscriptionSummary(
                segment_count=count, processing_duration=convert.duration(elapsed),
                speed_factor=duration / elapsed if elapsed > 0 else 0.0,
            ))
            log.info("TranscribeFile: %.1f s of audio, %d segments in %.2f s (model %s)",
                     duration, count, elapsed, model_name or limits.default_whisper_model)


def register(server: grpc.aio.Server, runtime: Runtime) -> str:
    transcription_pb2_grpc.add_TranscriptionServiceServicer_to_server(
        TranscriptionServicer(runtime), server)
    return pb.DESCRIPTOR.services_by_name["TranscriptionService"].full_name

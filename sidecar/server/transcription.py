"""TranscriptionService: file transcription over a config-first stream."""

from __future__ import annotations

import asyncio

import grpc

from sidecar.engines import whisper
from sidecar.pipelines import sentence_translation
from sidecar.pipelines.transcribe import TranscriptionStarted, transcribe_file
from sidecar.runtime import voices
from sidecar.runtime.events import Finished
from sidecar.runtime.runtime import Runtime
from sidecar.server import convert
from sidecar.server import translation as translation_server
from sidecar.server.diarization_options import options_for_transcript
from sidecar.server.jobs import JobResponses, respond
from sidecar.server.status import mapped_errors
from sidecar.server.upload import read_config_first
from sidecar.v1 import transcription_pb2 as pb
from sidecar.v1 import transcription_pb2_grpc


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
        batch_size=o.batch_size or None,
        language_per_segment=o.language_per_segment,
        pieces=o.pieces or None,
    )


def segment_to_proto(s: whisper.Segment) -> pb.Segment:
    return pb.Segment(
        index=s.index,
        time_range=convert.time_range(s.start, s.end),
        text=s.text,
        words=[
            pb.Word(
                text=w.text,
                time_range=convert.time_range(w.start, w.end),
                probability=w.probability,
                speaker_label=w.speaker or "",
            )
            for w in s.words
        ],
        average_log_probability=s.average_log_probability,
        no_speech_probability=s.no_speech_probability,
        speaker_label=s.speaker or "",
        language_code=s.language or "",
    )


class TranscriptionResponses(JobResponses):
    response = pb.TranscribeFileResponse

    def info(self, started: TranscriptionStarted) -> pb.TranscribeFileResponse:
        info = started.info
        return pb.TranscribeFileResponse(
            info=pb.TranscriptionInfo(
                language_code=info.language,
                language_probability=info.language_probability,
                audio_duration=convert.duration(info.duration),
                speech_duration=convert.duration(info.speech_duration),
                model=started.model,
                device=started.device,
            )
        )

    def __init__(self) -> None:
        super().__init__()
        self.segment_count = 0

    def items(self, item: whisper.Segment | sentence_translation.TranslatedSentence):
        if isinstance(item, sentence_translation.TranslatedSentence):
            yield pb.TranscribeFileResponse(translated_sentence=translation_server.translated_sentence_to_proto(item))
        else:
            self.segment_count += 1
            yield pb.TranscribeFileResponse(segment=segment_to_proto(item))

    def summary(self, finished: Finished, elapsed: float) -> pb.TranscribeFileResponse:
        return pb.TranscribeFileResponse(
            summary=pb.TranscriptionSummary(
                segment_count=self.segment_count,
                processing_duration=convert.duration(elapsed),
                speed_factor=self.speed(finished, elapsed),
            )
        )


class TranscriptionServicer(transcription_pb2_grpc.TranscriptionServiceServicer):
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.speakers = voices.SpeakerStore(runtime.config.speakers_dir)  # enrolled people to name

    async def TranscribeFile(self, request_iterator, context: grpc.aio.ServicerContext):
        responses = TranscriptionResponses()
        limits = self.runtime.config
        async with mapped_errors(context, "TranscribeFile", self.runtime.metrics):
            config, upload = await read_config_first(request_iterator, self.runtime)
            with upload.closed_on_error():
                options = options_from_proto(config.options)
                speaker_options = await asyncio.to_thread(options_for_transcript, config.options, self.speakers)
                translation = None
                if config.options.HasField("translation"):
                    translation = translation_server.speech_translation_from_proto(config.options.translation)
                pipeline = transcribe_file(
                    self.runtime,
                    upload,
                    options,
                    config.options.model,
                    speaker_options,
                    limits.max_audio_seconds,
                    translation,
                )
            async for response in respond(self.runtime, "TranscribeFile", pipeline, responses, upload.admission):
                yield response


def register(server: grpc.aio.Server, runtime: Runtime) -> str:
    transcription_pb2_grpc.add_TranscriptionServiceServicer_to_server(TranscriptionServicer(runtime), server)
    return pb.DESCRIPTOR.services_by_name["TranscriptionService"].full_name

"""SynthesisService: cloned-voice speech streamed sentence by sentence, and saved voices."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time

import grpc

from sidecar.engines import xtts, xtts_models
from sidecar.errors import InvalidOptionsError
from sidecar.media import audio as media
from sidecar.pipelines.synthesize import (
    MAX_REFERENCE_UPLOAD_SECONDS,
    SynthesisStarted,
    create_voice,
    synthesize,
)
from sidecar.runtime import voices
from sidecar.runtime.events import Finished
from sidecar.runtime.runtime import Runtime
from sidecar.server import convert
from sidecar.server.jobs import JobResponses, respond, result_of
from sidecar.server.status import mapped_errors
from sidecar.server.upload import decode_inline, read_config_first
from sidecar.v1 import audio_pb2, synthesis_pb2_grpc
from sidecar.v1 import synthesis_pb2 as pb

log = logging.getLogger(__name__)


def options_from_proto(language_code: str, o: pb.SynthesisOptions) -> xtts.SynthesisOptions:
    return xtts.SynthesisOptions(
        language=language_code,
        speed=o.speed or 1.0,
        temperature=o.temperature or None,
        top_k=o.top_k or None,
        top_p=o.top_p or None,
        repetition_penalty=o.repetition_penalty or None,
        seed=o.seed if o.HasField("seed") else None,
        max_sentence_seconds=(
            convert.seconds(o.max_sentence_duration) if o.HasField("max_sentence_duration") else None
        ),
    )


def decode_reference(reference: pb.VoiceReference) -> media.Audio:
    """Reference audio sent inline, decoded to mono at the rate XTTS conditions at."""
    return decode_inline(
        reference.audio_format,
        reference.audio_content,
        xtts.REFERENCE_SAMPLE_RATE,
        MAX_REFERENCE_UPLOAD_SECONDS,
        "the reference audio",
    )


def voice_to_proto(record: voices.VoiceRecord) -> pb.Voice:
    return pb.Voice(
        voice_id=record.voice_id,
        display_name=record.display_name,
        model=record.model,
        transcript=record.transcript,
        reference_duration=convert.duration(record.reference_seconds),
        create_time=convert.timestamp(record.created),
    )


class SynthesisResponses(JobResponses):
    response = pb.SynthesizeResponse

    def __init__(self, voice_id: str) -> None:
        super().__init__()
        self.voice_id = voice_id
        self.first_audio: float | None = None
        self.chunks = self.sentences = 0

    def info(self, started: SynthesisStarted) -> pb.SynthesizeResponse:
        self.spec = started.spec
        return pb.SynthesizeResponse(
            info=pb.SynthesisInfo(
                model=started.model,
                device=started.device,
                audio_format=convert.pcm_format(started.spec),
                sentences=started.sentences,
                language_code=started.language,
                voice_id=self.voice_id,
            )
        )

    def items(self, spoken: xtts.SpeechChunk | xtts.SpokenSentence):
        if isinstance(spoken, xtts.SpeechChunk):
            if self.first_audio is None:
                self.first_audio = time.perf_counter() - self.started
            self.chunks += 1
            yield pb.SynthesizeResponse(
                audio=audio_pb2.AudioChunk(
                    format=convert.pcm_format(self.spec),
                    data=media.encode_pcm(spoken.samples[None, :], self.spec.encoding),
                    start_offset=convert.duration(spoken.start),
                )
            )
        else:
            self.sentences += 1
            yield pb.SynthesizeResponse(
                sentence=pb.SynthesizedSentence(
                    index=spoken.index, text=spoken.text, time_range=convert.time_range(spoken.start, spoken.end)
                )
            )

    def summary(self, finished: Finished, elapsed: float) -> pb.SynthesizeResponse:
        return pb.SynthesizeResponse(
            summary=pb.SynthesisSummary(
                first_audio_duration=convert.duration(self.first_audio or 0.0),
                audio_duration=convert.duration(finished.audio_seconds),
                processing_duration=convert.duration(elapsed),
                speed_factor=self.speed(finished, elapsed),
                chunk_count=self.chunks,
                sentence_count=self.sentences,
            )
        )


class SynthesisServicer(synthesis_pb2_grpc.SynthesisServiceServicer):
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.store = voices.VoiceStore(runtime.config.voices_dir)

    async def Synthesize(self, request: pb.SynthesizeRequest, context: grpc.aio.ServicerContext):
        responses = SynthesisResponses(request.voice_id)
        async with mapped_errors(context, "Synthesize", self.runtime.metrics):
            text = xtts.check_text(request.text)
            options = options_from_proto(request.language_code, request.options)
            xtts_models.require_license(self.runtime.config.agree_coqui_license)
            kind = request.WhichOneof("voice")
            if kind is None:
                raise InvalidOptionsError("set `voice_id` (a saved voice) or `reference` (reference audio)")
            encoding = convert.output_encoding(request.options.output_encoding, media.PCM_F32LE)
            saved = await asyncio.to_thread(self.store.get, request.voice_id) if kind == "voice_id" else None
            model_name = request.options.model or (saved[0].model if saved else "")
            pipeline = synthesize(
                self.runtime, text, options, model_name, encoding, saved, lambda: decode_reference(request.reference)
            )
            async for response in respond(self.runtime, "Synthesize", pipeline, responses):
                yield response

    async def CreateVoice(self, request_iterator, context: grpc.aio.ServicerContext) -> pb.CreateVoiceResponse:
        started = time.perf_counter()
        async with mapped_errors(context, "CreateVoice", self.runtime.metrics):
            xtts_models.require_license(self.runtime.config.agree_coqui_license)
            config, upload = await read_config_first(request_iterator, self.runtime)
            with upload.closed_on_error():
                voices.check_record_text(config.display_name, config.transcript)
                if config.voice_id:
                    self.store.check_free(config.voice_id)

            def save(engine: xtts.XttsEngine, audio: media.Audio, conditioning: xtts.Conditioning):
                record = voices.make_record(
                    config.voice_id,
                    config.display_name,
                    engine.name,
                    engine.fingerprint,
                    config.transcript,
                    audio.duration,
                )
                return self.store.save(record, dataclasses.asdict(conditioning))

            record = await result_of(
                self.runtime, "CreateVoice", create_voice(self.runtime, upload, config.model, save), upload.admission
            )
            log.info(
                "CreateVoice: %s from %.1f s of reference in %.2f s (model %s)",
                record.voice_id,
                record.reference_seconds,
                time.perf_counter() - started,
                record.model,
            )
            return pb.CreateVoiceResponse(voice=voice_to_proto(record))

    async def ListVoices(self, request: pb.ListVoicesRequest, context) -> pb.ListVoicesResponse:
        async with mapped_errors(context, "ListVoices", self.runtime.metrics):
            records = await asyncio.to_thread(self.store.list, request.model)
            return pb.ListVoicesResponse(voices=[voice_to_proto(r) for r in records])

    async def DeleteVoice(self, request: pb.DeleteVoiceRequest, context) -> pb.DeleteVoiceResponse:
        async with mapped_errors(context, "DeleteVoice", self.runtime.metrics):
            if not request.voice_id:
                raise InvalidOptionsError("`voice_id` is required")
            record = await asyncio.to_thread(self.store.delete, request.voice_id)
            log.info("DeleteVoice: %s", record.voice_id)
            return pb.DeleteVoiceResponse(voice=voice_to_proto(record))


def register(server: grpc.aio.Server, runtime: Runtime) -> str:
    synthesis_pb2_grpc.add_SynthesisServiceServicer_to_server(SynthesisServicer(runtime), server)
    return pb.DESCRIPTOR.services_by_name["SynthesisService"].full_name

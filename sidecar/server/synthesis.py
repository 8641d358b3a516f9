"""SynthesisService: cloned-voice speech streamed sentence by sentence, and saved voices."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time

import grpc
from google.protobuf import timestamp_pb2

from sidecar.engines import xtts, xtts_models
from sidecar.errors import InvalidAudioError, InvalidOptionsError, LimitExceededError
from sidecar.media import audio as media
from sidecar.runtime import voices
from sidecar.runtime.runtime import Runtime
from sidecar.server import convert
from sidecar.server.status import mapped_errors
from sidecar.server.upload import read_config_first
from sidecar.v1 import audio_pb2, synthesis_pb2_grpc
from sidecar.v1 import synthesis_pb2 as pb

log = logging.getLogger(__name__)

MAX_REFERENCE_UPLOAD_SECONDS = 600.0  # reference audio decoded at most; the model uses 30 s


def options_from_proto(language_code: str, o: pb.SynthesisOptions) -> xtts.SynthesisOptions:
    return xtts.SynthesisOptions(
        language=language_code,
        speed=o.speed or 1.0,
        temperature=o.temperature or None,
        top_k=o.top_k or None,
        top_p=o.top_p or None,
        repetition_penalty=o.repetition_penalty or None,
        seed=o.seed if o.HasField("seed") else None,
        max_sentence_seconds=(convert.seconds(o.max_sentence_duration)
                              if o.HasField("max_sentence_duration") else None),
    )


def engine_for(runtime: Runtime, model_name: str) -> xtts.XttsEngine:
    """The loaded engine for a model name, after the licence check (every call makes it)."""
    resolved = xtts_models.resolve(model_name, license_agreed=runtime.config.agree_coqui_license)
    entry = runtime.models.get(("xtts", str(resolved.path)),
                               lambda: xtts.load(resolved, runtime.config.device))
    return entry.model


def decode_reference(reference: pb.VoiceReference) -> media.Audio:
    """Reference audio sent inline, decoded to mono at the rate XTTS conditions at."""
    kind = reference.audio_format.WhichOneof("format")
    if kind is None:
        raise InvalidOptionsError("`reference.audio_format` must be `encoded_file` or `pcm`")
    if not reference.audio_content:
        raise InvalidAudioError("the reference audio is empty: no bytes were sent")
    if kind == "pcm":
        audio = media.decode_pcm(reference.audio_content, convert.pcm_spec(reference.audio_format.pcm))
    else:
        audio = media.decode_file(reference.audio_content, mono=True,
                                  sample_rate=xtts.REFERENCE_SAMPLE_RATE,
                                  max_duration=MAX_REFERENCE_UPLOAD_SECONDS,
                                  name=reference.audio_format.encoded_file.filename or "the reference audio")
    return media.resample(audio, xtts.REFERENCE_SAMPLE_RATE, mono=True)


def check_reference_length(audio: media.Audio) -> None:
    if audio.duration > MAX_REFERENCE_UPLOAD_SECONDS:
        raise LimitExceededError(
            f"the reference audio is {audio.duration:.0f} s long; at most "
            f"{MAX_REFERENCE_UPLOAD_SECONDS:g} s may be sent (the model uses the first 30 s)")


def voice_to_proto(record: voices.VoiceRecord) -> pb.Voice:
    created = timestamp_pb2.Timestamp()
    created.FromNanoseconds(int(record.created * 1e9))
    return pb.Voice(voice_id=record.voice_id, display_name=record.display_name, model=record.model,
                    transcript=record.transcript,
                    reference_duration=convert.duration(record.reference_seconds),
                    create_time=created)


def saved_conditioning(record: voices.VoiceRecord, arrays: dict,
                       engine: xtts.XttsEngine) -> xtts.Conditioning:
    if record.model_fingerprint != engine.fingerprint:
        raise InvalidOptionsError(
            f"voice {record.voice_id!r} was made for model {record.model!r}, not "
            f"{engine.name!r}: leave the model unset, or create the voice again for this model")
    names = [f.name for f in dataclasses.fields(xtts.Conditioning)]
    if sorted(arrays) != sorted(names):
        raise InvalidOptionsError(f"voice {record.voice_id!r} holds no XTTS conditioning: create it again")
    return xtts.Conditioning(**arrays)


def progress(stage: str, done: float, produced: float, started: float) -> pb.SynthesizeResponse:
    return pb.SynthesizeResponse(progress=convert.progress(stage, done, produced, None, started))


@dataclasses.dataclass
class Tally:
    """What one Synthesize call has sent so far, for its summary."""

    started: float
    first_audio: float | None = None
    chunks: int = 0
    sentences: int = 0
    produced: float = 0.0  # seconds of audio

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def response(self, item, spec: media.PcmSpec | None) -> pb.SynthesizeResponse:
        """The message for an engine item (a chunk or a finished sentence) or a ready one."""
        if isinstance(item, xtts.SpeechChunk):
            if self.first_audio is None:
                self.first_audio = self.elapsed
            self.chunks += 1
            self.produced = item.start + item.samples.size / spec.sample_rate
            return pb.SynthesizeResponse(audio=audio_pb2.AudioChunk(
                format=convert.pcm_format(spec), data=media.encode_pcm(item.samples[None, :], spec.encoding),
                start_offset=convert.duration(item.start)))
        if isinstance(item, xtts.SpokenSentence):
            self.sentences += 1
            return pb.SynthesizeResponse(sentence=pb.SynthesizedSentence(
                index=item.index, text=item.text, time_range=audio_pb2.TimeRange(
                    start_offset=convert.duration(item.start), end_offset=convert.duration(item.end))))
        return item

    def summary(self) -> pb.SynthesizeResponse:
        elapsed = self.elapsed
        return pb.SynthesizeResponse(summary=pb.SynthesisSummary(
            first_audio_duration=convert.duration(self.first_audio or 0.0),
            audio_duration=convert.duration(self.produced),
            processing_duration=convert.duration(elapsed),
            speed_factor=self.produced / elapsed if elapsed > 0 else 0.0,
            chunk_count=self.chunks, sentence_count=self.sentences))


class SynthesisServicer(synthesis_pb2_grpc.SynthesisServiceServicer):
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.store = voices.VoiceStore(runtime.config.voices_dir)

    async def Synthesize(self, request: pb.SynthesizeRequest, context: grpc.aio.ServicerContext):
        tally = Tally(time.perf_counter())
        async with mapped_errors(context, "Synthesize"):
            text = xtts.check_text(request.text)
            options = options_from_proto(request.language_code, request.options)
            xtts_models.require_license(self.runtime.config.agree_coqui_license)
            kind = request.WhichOneof("voice")
            if kind is None:
                raise InvalidOptionsError("set `voice_id` (a saved voice) or `reference` (reference audio)")
            saved = await asyncio.to_thread(self.store.get, request.voice_id) if kind == "voice_id" else None
            work = self._synthesis(request, text, options, saved, tally.started)
            spec = None
            async with contextlib.aclosing(self.runtime.jobs.run("synthesize", work)) as items:
                async for item in items:
                    if isinstance(item, media.PcmSpec):
                        spec = item
                    else:
                        yield tally.response(item, spec)
            yield tally.summary()
            log.info("Synthesize: %d sentence(s), %.2f s of speech in %.2f s, first audio after "
                     "%.2f s (voice %s)", tally.sentences, tally.produced, tally.elapsed,
                     tally.first_audio or 0.0, request.voice_id or "from reference")

    def _synthesis(self, request: pb.SynthesizeRequest, text: str, options: xtts.SynthesisOptions,
                   saved: tuple | None, started: float):
        """The job: load, plan, condition, then the engine's chunks and sentences as they come."""
        model_name = request.options.model or (saved[0].model if saved else "")

        def work(token):
            yield progress("loading model", 0.0, 0.0, started)
            engine = engine_for(self.runtime, model_name)
            sentences = engine.plan(text, options)
            spec = convert.output_spec(request.options.output_encoding, engine.sample_rate, 1)
            if saved:
                voice = saved_conditioning(*saved, engine)
            else:
                yield progress("conditioning voice", 0.0, 0.0, started)
                reference = decode_reference(request.reference)
                check_reference_length(reference)
                voice = engine.condition(reference.mono())
            token.raise_if_cancelled()
            yield spec
            yield pb.SynthesizeResponse(info=pb.SynthesisInfo(
                model=engine.name, device=engine.device, audio_format=convert.pcm_format(spec),
                sentences=sentences, language_code=options.primary_language,
                voice_id=request.voice_id))
            for item in engine.synthesize(sentences, voice, options):
                token.raise_if_cancelled()
                yield item
                if isinstance(item, xtts.SpokenSentence):
                    yield progress("synthesizing", (item.index + 1) / len(sentences), item.end, started)

        return work

    async def CreateVoice(self, request_iterator, context: grpc.aio.ServicerContext) -> pb.CreateVoiceResponse:
        started = time.perf_counter()
        async with mapped_errors(context, "CreateVoice"):
            xtts_models.require_license(self.runtime.config.agree_coqui_license)
            config, upload = await read_config_first(request_iterator, self.runtime.config)
            with upload.closed_on_error():
                voices.check_record_text(config.display_name, config.transcript)
                if config.voice_id:
                    self.store.check_free(config.voice_id)

            def work(token):
                try:
                    audio = upload.decode(sample_rate=xtts.REFERENCE_SAMPLE_RATE, mono=True,
                                          max_seconds=MAX_REFERENCE_UPLOAD_SECONDS)
                finally:
                    upload.close()
                check_reference_length(audio)
                token.raise_if_cancelled()
                engine = engine_for(self.runtime, config.model)
                conditioning = engine.condition(audio.mono())
                record = voices.make_record(config.voice_id, config.display_name, engine.name,
                                            engine.fingerprint, config.transcript, audio.duration)
                yield self.store.save(record, dataclasses.asdict(conditioning))

            record = None
            async with contextlib.aclosing(self.runtime.jobs.run("create-voice", work)) as items:
                async for record in items:  # noqa: B007 - the last item is the saved voice
                    pass
            log.info("CreateVoice: %s from %.1f s of reference in %.2f s (model %s)", record.voice_id,
                     record.reference_seconds, time.perf_counter() - started, record.model)
            return pb.CreateVoiceResponse(voice=voice_to_proto(record))

    async def ListVoices(self, request: pb.ListVoicesRequest, context) -> pb.ListVoicesResponse:
        async with mapped_errors(context, "ListVoices"):
            records = await asyncio.to_thread(self.store.list, request.model)
            return pb.ListVoicesResponse(voices=[voice_to_proto(r) for r in records])

    async def DeleteVoice(self, request: pb.DeleteVoiceRequest, context) -> pb.DeleteVoiceResponse:
        async with mapped_errors(context, "DeleteVoice"):
            if not request.voice_id:
                raise InvalidOptionsError("`voice_id` is required")
            record = await asyncio.to_thread(self.store.delete, request.voice_id)
            log.info("DeleteVoice: %s", record.voice_id)
            return pb.DeleteVoiceResponse(voice=voice_to_proto(record))


def register(server: grpc.aio.Server, runtime: Runtime) -> str:
    synthesis_pb2_grpc.add_SynthesisServiceServicer_to_server(SynthesisServicer(runtime), server)
    return pb.DESCRIPTOR.services_by_name["SynthesisService"].full_name

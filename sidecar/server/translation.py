"""TranslationService: batches of texts translated into one language (NLLB-200, M2M-100, OPUS-MT)."""

from __future__ import annotations

import logging
import time

import grpc

from sidecar.engines import translation
from sidecar.pipelines import sentence_translation
from sidecar.pipelines.translate import TranslationRequest, TranslationResult, translate
from sidecar.runtime.runtime import Runtime
from sidecar.server import convert
from sidecar.server.jobs import result_of
from sidecar.server.status import mapped_errors
from sidecar.v1 import translation_pb2 as pb
from sidecar.v1 import translation_pb2_grpc

log = logging.getLogger(__name__)


def options_from_proto(o: pb.TranslationOptions) -> translation.TranslationOptions:
    return translation.TranslationOptions(beam_size=o.beam_size or translation.DEFAULT_BEAM_SIZE)


def speech_translation_from_proto(c: pb.SpeechTranslationConfig) -> sentence_translation.SpeechTranslation:
    return sentence_translation.SpeechTranslation(
        tuple(c.target_language_codes), c.options.model.strip(), options_from_proto(c.options)
    )


def translated_sentence_to_proto(t: sentence_translation.TranslatedSentence) -> pb.TranslatedSentence:
    return pb.TranslatedSentence(
        language_code=t.language.code,
        translated_text=t.text,
        source_text=t.sentence.text,
        time_range=convert.time_range(t.sentence.start, t.sentence.end),
    )


def request_from_proto(request: pb.TranslateRequest) -> TranslationRequest:
    return TranslationRequest.make(
        request.contents,
        request.target_language_code,
        request.source_language_code,
        request.options.model,
        options_from_proto(request.options),
        validate_only=request.validate_only,
    )


def response_to_proto(result: TranslationResult, elapsed: float) -> pb.TranslateResponse:
    return pb.TranslateResponse(
        translations=[pb.Translation(translated_text=text) for text in result.translations],
        source_language_code=result.source.code if result.source else "",
        detected_language_code=result.source.code if result.source_detected else "",
        target_language_code=result.target.code,
        model=result.model,
        device=result.device,
        processing_duration=convert.duration(elapsed),
    )


class TranslationServicer(translation_pb2_grpc.TranslationServiceServicer):
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def Translate(self, request: pb.TranslateRequest, context: grpc.aio.ServicerContext):
        started = time.perf_counter()
        async with mapped_errors(context, "Translate", self.runtime.metrics):
            domain = request_from_proto(request)
            result: TranslationResult = await result_of(self.runtime, "Translate", translate(self.runtime, domain))
            elapsed = time.perf_counter() - started
            log.info(
                "Translate: %d text(s), %s to %s with %s in %.2f s",
                len(result.translations),
                result.source.code if result.source else "?",
                result.target.code,
                result.model,
                elapsed,
            )
            return response_to_proto(result, elapsed)


def register(server: grpc.aio.Server, runtime: Runtime) -> str:
    translation_pb2_grpc.add_TranslationServiceServicer_to_server(TranslationServicer(runtime), server)
    return pb.DESCRIPTOR.services_by_name["TranslationService"].full_name

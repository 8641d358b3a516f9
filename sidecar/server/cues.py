"""CueGenerationService: music and sound cues from a prompt (MusicGen), streamed as generated."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc

from sidecar.engines import musicgen
from sidecar.errors import InvalidOptionsError
from sidecar.media import audio as media
from sidecar.pipelines.generate_cue import CueStarted, generate_cue
from sidecar.runtime.events import Finished
from sidecar.runtime.runtime import Runtime
from sidecar.server import convert
from sidecar.server.jobs import JobResponses, respond
from sidecar.server.status import mapped_errors
from sidecar.server.upload import Upload, paced, read_config_first
from sidecar.v1 import audio_pb2, cues_pb2_grpc
from sidecar.v1 import cues_pb2 as pb

log = logging.getLogger(__name__)

_MODES = {pb.REFERENCE_MODE_MELODY: musicgen.MELODY, pb.REFERENCE_MODE_CONTINUATION: musicgen.CONTINUATION}
_MODE_ENUMS = {v: k for k, v in _MODES.items()}


def options_from_proto(s: pb.CueSettings) -> musicgen.CueOptions:
    if s.reference_mode not in _MODES and s.reference_mode != pb.REFERENCE_MODE_UNSPECIFIED:
        raise InvalidOptionsError(f"unknown reference_mode {s.reference_mode}")
    defaults = musicgen.CueOptions(prompt=s.prompt)
    return musicgen.CueOptions(
        prompt=s.prompt,
        duration=(convert.seconds(s.audio_duration) if s.HasField("audio_duration") else defaults.duration),
        seed=s.seed if s.HasField("seed") else None,
        guidance_scale=s.guidance_scale if s.HasField("guidance_scale") else defaults.guidance_scale,
        top_k=s.top_k if s.HasField("top_k") else defaults.top_k,
        top_p=s.top_p if s.HasField("top_p") else defaults.top_p,
        temperature=s.temperature if s.HasField("temperature") else defaults.temperature,
        reference_mode=_MODES.get(s.reference_mode),
    )


def settings_to_proto(options: musicgen.CueOptions, model: str, plan: musicgen.CuePlan) -> pb.CueSettings:
    """The complete settings of a generated cue: every default filled in."""
    return pb.CueSettings(
        model=model,
        prompt=options.prompt,
        audio_duration=convert.duration(options.duration),
        seed=options.seed,
        guidance_scale=options.guidance_scale,
        top_k=options.top_k,
        top_p=options.top_p,
        temperature=options.temperature,
        reference_mode=_MODE_ENUMS.get(options.reference_mode, pb.REFERENCE_MODE_UNSPECIFIED),
        reference_sha256=plan.reference_sha256,
    )


async def read_cue_config(requests: AsyncIterator[Any], runtime: Runtime) -> tuple[Any, Upload | None]:
    """The config and, when it names an audio format, the reference upload behind it."""
    requests = aiter(paced(requests, runtime.config.stream_idle_seconds))
    first = None
    async for first in requests:  # noqa: B007 - only the first message is wanted here
        break
    if first is not None and first.WhichOneof("request") == "config" and first.config.HasField("audio_format"):

        async def replay():
            yield first
            async for request in requests:
                yield request

        return await read_config_first(replay(), runtime)
    if first is None or first.WhichOneof("request") != "config":
        raise InvalidOptionsError("the first message of the stream must carry `config`")
    async for _ in requests:  # no audio_format: no reference may follow
        raise InvalidOptionsError(
            "reference audio was sent but the config sets no `audio_format`: set it (and "
            "`settings.reference_mode`), or send no audio"
        )
    return first.config, None


def check_reference_settings(options: musicgen.CueOptions, upload: Upload | None) -> None:
    if options.reference_mode is not None and upload is None:
        raise InvalidOptionsError(
            f"reference_mode {options.reference_mode} needs reference audio: set `audio_format` "
            "and send the audio after the config"
        )
    if options.reference_mode is None and upload is not None:
        raise InvalidOptionsError(
            "reference audio was sent without a `reference_mode`: say whether the cue follows "
            "its melody or continues it"
        )


class CueResponses(JobResponses):
    response = pb.GenerateCueResponse

    def __init__(self, options: musicgen.CueOptions) -> None:
        super().__init__()
        self.options = options
        self.first_audio: float | None = None

    def info(self, started: CueStarted) -> pb.GenerateCueResponse:
        self.started_with = started
        return pb.GenerateCueResponse(
            info=pb.CueInfo(
                model=started.model,
                device=started.device,
                audio_format=convert.pcm_format(started.spec),
                step_count=started.plan.step_count,
                reference_duration=convert.duration(started.plan.reference_seconds),
            )
        )

    def items(self, chunk: musicgen.CueChunk):
        if self.first_audio is None:
            self.first_audio = time.perf_counter() - self.started
        spec = self.started_with.spec
        yield pb.GenerateCueResponse(
            audio=audio_pb2.AudioChunk(
                format=convert.pcm_format(spec),
                data=media.encode_pcm(chunk.samples, spec.encoding),
                start_offset=convert.duration(chunk.start),
            )
        )

    def summary(self, finished: Finished, elapsed: float) -> pb.GenerateCueResponse:
        started = self.started_with
        return pb.GenerateCueResponse(
            summary=pb.CueSummary(
                settings=settings_to_proto(self.options, started.model, started.plan),
                first_audio_duration=convert.duration(self.first_audio or 0.0),
                audio_duration=convert.duration(finished.audio_seconds),
                processing_duration=convert.duration(elapsed),
                speed_factor=self.speed(finished, elapsed),
                chunk_count=self.item_count,
            )
        )


class CueGenerationServicer(cues_pb2_grpc.CueGenerationServiceServicer):
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def GenerateCue(self, request_iterator, context: grpc.aio.ServicerContext):
        async with mapped_errors(context, "GenerateCue", self.runtime.metrics):
            config, upload = await read_cue_config(request_iterator, self.runtime)
            try:
                options = options_from_proto(config.settings).with_seed()
                options.validate()
                check_reference_settings(options, upload)
                encoding = convert.output_encoding(config.output_encoding, media.PCM_F32LE)
            except BaseException:
                if upload is not None:
                    upload.close()
                raise
            pipeline = generate_cue(self.runtime, upload, options, config.settings.model, encoding)
            admission = upload.admission if upload is not None else None
            async for response in respond(self.runtime, "GenerateCue", pipeline, CueResponses(options), admission):
                yield response


def register(server: grpc.aio.Server, runtime: Runtime) -> str:
    cues_pb2_grpc.add_CueGenerationServiceServicer_to_server(CueGenerationServicer(runtime), server)
    return pb.DESCRIPTOR.services_by_name["CueGenerationService"].full_name

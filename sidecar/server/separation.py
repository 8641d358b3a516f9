"""SeparationService: split a file into stems with Demucs, streaming each stem as it is made."""

from __future__ import annotations

import grpc

from sidecar.engines import demucs_engine
from sidecar.media import audio as media
from sidecar.pipelines.separate import SeparationStarted, StemAudio, separate_file
from sidecar.runtime.events import Finished
from sidecar.runtime.runtime import Runtime
from sidecar.server import convert
from sidecar.server.jobs import JobResponses, respond
from sidecar.server.status import mapped_errors
from sidecar.server.upload import read_config_first
from sidecar.v1 import separation_pb2 as pb
from sidecar.v1 import separation_pb2_grpc

DEFAULT_OVERLAP = demucs_engine.SeparationOptions().overlap


def options_from_proto(o: pb.SeparationOptions) -> demucs_engine.SeparationOptions:
    segment = convert.seconds(o.segment_duration) if o.HasField("segment_duration") else None
    return demucs_engine.SeparationOptions(
        stems=tuple(o.stems),
        two_stems=o.two_stems or None,
        shifts=o.shift_count,
        overlap=o.overlap if o.HasField("overlap") else DEFAULT_OVERLAP,
        segment_seconds=segment,
    )


class SeparationResponses(JobResponses):
    response = pb.SeparateFileResponse

    def info(self, started: SeparationStarted) -> pb.SeparateFileResponse:
        self.spec = started.spec
        info = pb.SeparationInfo(
            model=started.model,
            device=started.device,
            stems=started.stems,
            output_format=convert.pcm_format(started.spec),
            segment_duration=convert.duration(started.segment_seconds),
        )
        if started.audio_seconds is not None:
            info.audio_duration.CopyFrom(convert.duration(started.audio_seconds))
        return pb.SeparateFileResponse(info=info)

    def items(self, audio: StemAudio):
        for chunk in convert.audio_chunks(audio.samples, audio.start_frame, self.spec):
            yield pb.SeparateFileResponse(stem_chunk=pb.StemChunk(stem=audio.stem, audio=chunk))

    def summary(self, finished: Finished, elapsed: float) -> pb.SeparateFileResponse:
        return pb.SeparateFileResponse(
            summary=pb.SeparationSummary(
                stems=finished.result,
                audio_duration=convert.duration(finished.audio_seconds),
                processing_duration=convert.duration(elapsed),
                speed_factor=self.speed(finished, elapsed),
            )
        )


class SeparationServicer(separation_pb2_grpc.SeparationServiceServicer):
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def SeparateFile(self, request_iterator, context: grpc.aio.ServicerContext):
        responses = SeparationResponses()
        limits = self.runtime.config
        async with mapped_errors(context, "SeparateFile", self.runtime.metrics):
            config, upload = await read_config_first(request_iterator, self.runtime)
            with upload.closed_on_error():
                options = options_from_proto(config.options)
                encoding = convert.output_encoding(config.options.output_encoding, media.PCM_F32LE)
            o = config.options
            pipeline = separate_file(
                self.runtime,
                upload,
                options,
                o.model,
                o.model_repository or None,
                encoding,
                o.output_sample_rate_hertz or None,
                limits.max_audio_seconds,
            )
            async for response in respond(self.runtime, "SeparateFile", pipeline, responses, upload.admission):
                yield response


def register(server: grpc.aio.Server, runtime: Runtime) -> str:
    separation_pb2_grpc.add_SeparationServiceServicer_to_server(SeparationServicer(runtime), server)
    return pb.DESCRIPTOR.services_by_name["SeparationService"].full_name

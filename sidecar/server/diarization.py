"""DiarizationService: who spoke when, over a config-first stream."""

from __future__ import annotations

import grpc

from sidecar.engines import diarization as engine
from sidecar.pipelines.diarize import DiarizedFile, diarize_file
from sidecar.runtime.events import Finished
from sidecar.runtime.runtime import Runtime
from sidecar.server import convert
from sidecar.server.diarization_options import BACKEND_ENUMS, options_from_proto
from sidecar.server.jobs import JobResponses, respond
from sidecar.server.status import mapped_errors
from sidecar.server.upload import read_config_first
from sidecar.v1 import diarization_pb2 as pb
from sidecar.v1 import diarization_pb2_grpc


def turn_to_proto(t: engine.SpeakerTurn) -> pb.SpeakerTurn:
    turn = pb.SpeakerTurn(time_range=convert.time_range(t.start, t.end), speaker_label=t.speaker)
    if t.confidence is not None:
        turn.confidence = t.confidence
    return turn


class DiarizationResponses(JobResponses):
    response = pb.DiarizeFileResponse

    def items(self, turn: engine.SpeakerTurn):
        yield pb.DiarizeFileResponse(turn=turn_to_proto(turn))

    def summary(self, finished: Finished, elapsed: float) -> pb.DiarizeFileResponse:
        done: DiarizedFile = finished.result
        result = done.diarization
        return pb.DiarizeFileResponse(
            summary=pb.DiarizationSummary(
                speaker_count=len(result.speakers),
                speaker_labels=result.speakers,
                turn_count=len(result.turns),
                audio_duration=convert.duration(result.duration),
                speech_duration=convert.duration(result.speech_duration),
                backend=BACKEND_ENUMS[done.backend],
                model=done.model,
                device=done.device,
                processing_duration=convert.duration(elapsed),
                speed_factor=self.speed(finished, elapsed),
            )
        )


class DiarizationServicer(diarization_pb2_grpc.DiarizationServiceServicer):
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def DiarizeFile(self, request_iterator, context: grpc.aio.ServicerContext):
        responses = DiarizationResponses()
        limits = self.runtime.config
        async with mapped_errors(context, "DiarizeFile"):
            config, upload = await read_config_first(request_iterator, self.runtime)
            with upload.closed_on_error():
                options = options_from_proto(config.options)
            pipeline = diarize_file(self.runtime, upload, options, limits.max_audio_seconds)
            async for response in respond(self.runtime, "DiarizeFile", pipeline, responses, upload.admission):
                yield response


def register(server: grpc.aio.Server, runtime: Runtime) -> str:
    diarization_pb2_grpc.add_DiarizationServiceServicer_to_server(DiarizationServicer(runtime), server)
    return pb.DESCRIPTOR.services_by_name["DiarizationService"].full_name

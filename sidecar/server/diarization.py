"""DiarizationService: who spoke when, over a config-first stream."""

from __future__ import annotations

import asyncio
import time

import grpc

from sidecar.engines import diarization as engine
from sidecar.pipelines.diarize import DiarizedFile, diarize_file, enroll_speaker
from sidecar.runtime import voices
from sidecar.runtime.events import Finished
from sidecar.runtime.runtime import Runtime
from sidecar.server import convert
from sidecar.server.diarization_options import BACKEND_ENUMS, MAX_REFERENCE_UPLOAD_SECONDS, options_from_proto
from sidecar.server.jobs import JobResponses, respond, result_of
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


def speaker_to_proto(record: voices.SpeakerRecord) -> pb.EnrolledSpeaker:
    return pb.EnrolledSpeaker(
        speaker_id=record.speaker_id,
        name=record.name,
        reference_duration=convert.duration(record.reference_seconds),
        create_time=convert.timestamp(record.created),
    )


class DiarizationServicer(diarization_pb2_grpc.DiarizationServiceServicer):
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.speakers = voices.SpeakerStore(runtime.config.speakers_dir)

    async def DiarizeFile(self, request_iterator, context: grpc.aio.ServicerContext):
        responses = DiarizationResponses()
        limits = self.runtime.config
        async with mapped_errors(context, "DiarizeFile", self.runtime.metrics):
            config, upload = await read_config_first(request_iterator, self.runtime)
            with upload.closed_on_error():
                options = await asyncio.to_thread(options_from_proto, config.options, self.speakers)
            pipeline = diarize_file(self.runtime, upload, options, limits.max_audio_seconds)
            async for response in respond(self.runtime, "DiarizeFile", pipeline, responses, upload.admission):
                yield response

    async def EnrollSpeaker(self, request_iterator, context: grpc.aio.ServicerContext) -> pb.EnrollSpeakerResponse:
        async with mapped_errors(context, "EnrollSpeaker", self.runtime.metrics):
            config, upload = await read_config_first(request_iterator, self.runtime)
            with upload.closed_on_error():
                speaker_id = voices.speaker_id_for(config.name)
                self.speakers.check_free(speaker_id)

            def save(reference) -> voices.SpeakerRecord:
                record = voices.SpeakerRecord(speaker_id, config.name.strip(), reference.duration, time.time())
                return self.speakers.save(record, {"audio": reference.mono()})

            job = enroll_speaker(self.runtime, upload, config.name.strip(), save, MAX_REFERENCE_UPLOAD_SECONDS)
            record = await result_of(self.runtime, "EnrollSpeaker", job, upload.admission)
            return pb.EnrollSpeakerResponse(speaker=speaker_to_proto(record))

    async def ListSpeakers(self, request: pb.ListSpeakersRequest, context) -> pb.ListSpeakersResponse:
        async with mapped_errors(context, "ListSpeakers", self.runtime.metrics):
            records = await asyncio.to_thread(self.speakers.list)
            return pb.ListSpeakersResponse(speakers=[speaker_to_proto(r) for r in records])

    async def DeleteSpeaker(self, request: pb.DeleteSpeakerRequest, context) -> pb.DeleteSpeakerResponse:
        async with mapped_errors(context, "DeleteSpeaker", self.runtime.metrics):
            record = await asyncio.to_thread(self.speakers.delete, request.speaker_id)
            return pb.DeleteSpeakerResponse(speaker=speaker_to_proto(record))


def register(server: grpc.aio.Server, runtime: Runtime) -> str:
    diarization_pb2_grpc.add_DiarizationServiceServicer_to_server(DiarizationServicer(runtime), server)
    return pb.DESCRIPTOR.services_by_name["DiarizationService"].full_name

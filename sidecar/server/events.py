"""EventDetectionService: sound-event regions (laughter, applause, music...) on the timeline."""

from __future__ import annotations

import grpc

from sidecar.engines import audio_events
from sidecar.pipelines.detect_events import DetectionStarted, detect_events
from sidecar.runtime.events import Finished
from sidecar.runtime.runtime import Runtime
from sidecar.server import convert
from sidecar.server.jobs import JobResponses, respond
from sidecar.server.status import mapped_errors
from sidecar.server.upload import read_config_first
from sidecar.v1 import events_pb2 as pb
from sidecar.v1 import events_pb2_grpc


def options_from_proto(o: pb.EventDetectionOptions) -> audio_events.EventOptions:
    defaults = audio_events.EventOptions()
    window = convert.seconds(o.window_duration) if o.HasField("window_duration") else defaults.window_seconds
    return audio_events.EventOptions(
        labels=tuple(o.labels),
        window_seconds=window,
        hop_seconds=convert.seconds(o.hop_duration) if o.HasField("hop_duration") else None,
        threshold=o.threshold if o.HasField("threshold") else None,
        min_region_seconds=(
            convert.seconds(o.min_region_duration) if o.HasField("min_region_duration") else defaults.min_region_seconds
        ),
        merge_gap_seconds=(
            convert.seconds(o.merge_gap_duration) if o.HasField("merge_gap_duration") else defaults.merge_gap_seconds
        ),
    )


def region_to_proto(index: int, r: audio_events.Region) -> pb.EventRegion:
    return pb.EventRegion(
        index=index,
        label=r.label,
        score=r.score,
        mean_score=r.mean_score,
        time_range=convert.time_range(r.start, r.end),
    )


class EventResponses(JobResponses):
    response = pb.DetectEventsResponse

    def info(self, started: DetectionStarted) -> pb.DetectEventsResponse:
        options = started.options
        return pb.DetectEventsResponse(
            info=pb.EventDetectionInfo(
                model=started.model,
                device=started.device,
                labels=started.labels,
                audio_duration=convert.duration(started.audio_seconds),
                window_duration=convert.duration(options.window_seconds),
                hop_duration=convert.duration(options.hop),
                threshold=started.threshold,
                min_region_duration=convert.duration(options.min_region_seconds),
                merge_gap_duration=convert.duration(options.merge_gap_seconds),
            )
        )

    def items(self, region: audio_events.Region):
        yield pb.DetectEventsResponse(region=region_to_proto(self.item_count - 1, region))

    def summary(self, finished: Finished, elapsed: float) -> pb.DetectEventsResponse:
        return pb.DetectEventsResponse(
            summary=pb.EventDetectionSummary(
                region_count=self.item_count,
                window_count=finished.result,
                processing_duration=convert.duration(elapsed),
                speed_factor=self.speed(finished, elapsed),
            )
        )


class EventDetectionServicer(events_pb2_grpc.EventDetectionServiceServicer):
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def DetectEvents(self, request_iterator, context: grpc.aio.ServicerContext):
        responses = EventResponses()
        limits = self.runtime.config
        async with mapped_errors(context, "DetectEvents", self.runtime.metrics):
            config, upload = await read_config_first(request_iterator, self.runtime)
            with upload.closed_on_error():
                options = options_from_proto(config.options)
                options.validate()
            pipeline = detect_events(self.runtime, upload, options, config.options.model, limits.max_audio_seconds)
            async for response in respond(self.runtime, "DetectEvents", pipeline, responses, upload.admission):
                yield response


def register(server: grpc.aio.Server, runtime: Runtime) -> str:
    events_pb2_grpc.add_EventDetectionServiceServicer_to_server(EventDetectionServicer(runtime), server)
    return pb.DESCRIPTOR.services_by_name["EventDetectionService"].full_name

"""EventDetectionService: sound-event regions (laughter, applause, music...) on the timeline."""

from __future__ import annotations

import contextlib
import logging
import time

import grpc

from sidecar.engines import audio_events
from sidecar.runtime.runtime import Runtime
from sidecar.server import convert
from sidecar.server.status import mapped_errors
from sidecar.server.upload import read_config_first
from sidecar.v1 import audio_pb2, events_pb2_grpc
from sidecar.v1 import events_pb2 as pb

log = logging.getLogger(__name__)


def options_from_proto(o: pb.EventDetectionOptions) -> audio_events.EventOptions:
    defaults = audio_events.EventOptions()
    window = convert.seconds(o.window_duration) if o.HasField("window_duration") else defaults.window_seconds
    return audio_events.EventOptions(
        labels=tuple(o.labels),
        window_seconds=window,
        hop_seconds=convert.seconds(o.hop_duration) if o.HasField("hop_duration") else None,
        threshold=o.threshold if o.HasField("threshold") else None,
        min_region_seconds=(convert.seconds(o.min_region_duration) if o.HasField("min_region_duration")
                            else defaults.min_region_seconds),
        merge_gap_seconds=(convert.seconds(o.merge_gap_duration) if o.HasField("merge_gap_duration")
                           else defaults.merge_gap_seconds),
    )


def region_to_proto(index: int, r: audio_events.Region) -> pb.EventRegion:
    return pb.EventRegion(index=index, label=r.label, score=r.score, mean_score=r.mean_score,
                          time_range=audio_pb2.TimeRange(start_offset=convert.duration(r.start),
                                                         end_offset=convert.duration(r.end)))


def progress(stage: str, done: float, processed: float, total: float, started: float) -> pb.DetectEventsResponse:
    return pb.DetectEventsResponse(progress=convert.progress(stage, done, processed, total, started))


class EventDetectionServicer(events_pb2_grpc.EventDetectionServiceServicer):
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def DetectEvents(self, request_iterator, context: grpc.aio.ServicerContext):
        started = time.perf_counter()
        limits = self.runtime.config
        async with mapped_errors(context, "DetectEvents"):
            config, upload = await read_config_first(request_iterator, limits)
            with upload.closed_on_error():
                options = options_from_proto(config.options)
                options.validate()

            def work(token):
                try:
                    yield progress("loading model", 0.0, 0.0, 0.0, started)
                    classifier = audio_events.classifier_for(self.runtime, config.options.model)
                    labels = classifier.labels_for(options)
                    yield progress("decoding", 0.0, 0.0, 0.0, started)
                    audio = upload.decode(sample_rate=classifier.sample_rate, mono=True,
                                          max_seconds=limits.max_audio_seconds)
                finally:
                    upload.close()
                token.raise_if_cancelled()
                duration = audio.duration
                yield duration
                yield pb.DetectEventsResponse(info=pb.EventDetectionInfo(
                    model=classifier.name, device=classifier.device, labels=labels,
                    audio_duration=convert.duration(duration),
                    window_duration=convert.duration(options.window_seconds),
                    hop_duration=convert.duration(options.hop),
                    threshold=(classifier.default_threshold() if options.threshold is None
                               else options.threshold),
                    min_region_duration=convert.duration(options.min_region_seconds),
                    merge_gap_duration=convert.duration(options.merge_gap_seconds)))
                for item in audio_events.detect(classifier, audio.mono(), options, labels):
                    token.raise_if_cancelled()
                    if isinstance(item, audio_events.WindowsDone):
                        yield item
                        yield progress("classifying", item.done / item.total, item.processed, duration, started)
                    else:
                        yield item

            regions = windows = 0
            duration = 0.0
            async with contextlib.aclosing(self.runtime.jobs.run("detect-events", work)) as items:
                async for item in items:
                    if isinstance(item, audio_events.Region):
                        yield pb.DetectEventsResponse(region=region_to_proto(regions, item))
                        regions += 1
                    elif isinstance(item, audio_events.WindowsDone):
                        windows = item.done
                    elif isinstance(item, float):
                        duration = item
                    else:
                        yield item
            elapsed = time.perf_counter() - started
            yield pb.DetectEventsResponse(summary=pb.EventDetectionSummary(
                region_count=regions, window_count=windows,
                processing_duration=convert.duration(elapsed),
                speed_factor=duration / elapsed if elapsed > 0 else 0.0))
            log.info("DetectEvents: %.1f s of audio, %d windows, %d regions in %.2f s (model %s)",
                     duration, windows, regions, elapsed, config.options.model or audio_events.DEFAULT_MODEL)


def register(server: grpc.aio.Server, runtime: Runtime) -> str:
    events_pb2_grpc.add_EventDetectionServiceServicer_to_server(EventDetectionServicer(runtime), server)
    return pb.DESCRIPTOR.services_by_name["EventDetectionService"].full_name

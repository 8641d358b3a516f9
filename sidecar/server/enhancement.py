"""EnhancementService: denoise a file block by block, or a live PCM stream chunk by chunk."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections.abc import AsyncIterator

import grpc
import numpy as np

from sidecar.engines import deepfilter
from sidecar.errors import BusyError, InvalidAudioError, InvalidOptionsError
from sidecar.media import audio as media
from sidecar.pipelines.enhance import AudioBlock, EnhancementStarted, enhance_file
from sidecar.runtime.events import Finished
from sidecar.runtime.priority import Priority
from sidecar.runtime.runtime import Runtime
from sidecar.server import convert
from sidecar.server.jobs import JobResponses, respond
from sidecar.server.status import mapped_errors
from sidecar.server.upload import first_config, paced, read_config_first
from sidecar.v1 import enhancement_pb2 as pb
from sidecar.v1 import enhancement_pb2_grpc

log = logging.getLogger(__name__)
SERVICE = "EnhancementService"


def options_from_proto(o: pb.EnhancementOptions) -> deepfilter.EnhancementOptions:
    options = deepfilter.EnhancementOptions(attenuation_limit_db=o.attenuation_limit_db, post_filter=o.post_filter)
    options.validate()
    return options


def info_for(model_name: str, spec: media.PcmSpec, duration: float | None, latency: float) -> pb.EnhancementInfo:
    info = pb.EnhancementInfo(
        output_format=convert.pcm_format(spec), model=model_name, latency_duration=convert.duration(latency)
    )
    if duration is not None:
        info.audio_duration.CopyFrom(convert.duration(duration))
    return info


class EnhancementResponses(JobResponses):
    response = pb.EnhanceFileResponse

    def info(self, started: EnhancementStarted) -> pb.EnhanceFileResponse:
        self.spec = started.spec
        return pb.EnhanceFileResponse(
            info=info_for(started.model, started.spec, started.audio_seconds, started.latency_seconds)
        )

    def items(self, block: AudioBlock):
        for chunk in convert.audio_chunks(block.samples, block.start_frame, self.spec):
            yield pb.EnhanceFileResponse(audio_chunk=chunk)

    def summary(self, finished: Finished, elapsed: float) -> pb.EnhanceFileResponse:
        return pb.EnhanceFileResponse(
            summary=pb.EnhancementSummary(
                audio_duration=convert.duration(finished.audio_seconds),
                frame_count=finished.result,
                processing_duration=convert.duration(elapsed),
                speed_factor=self.speed(finished, elapsed),
            )
        )


class EnhancementServicer(enhancement_pb2_grpc.EnhancementServiceServicer):
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def EnhanceFile(self, request_iterator, context: grpc.aio.ServicerContext):
        responses = EnhancementResponses()
        limits = self.runtime.config
        async with mapped_errors(context, "EnhanceFile", self.runtime.metrics):
            config, upload = await read_config_first(request_iterator, self.runtime)
            with upload.closed_on_error():
                options = options_from_proto(config.options)
                encoding = convert.output_encoding(config.output_encoding, media.PCM_F32LE)
            pipeline = enhance_file(self.runtime, upload, options, encoding, limits.max_audio_seconds)
            async for response in respond(self.runtime, "EnhanceFile", pipeline, responses, upload.admission):
                yield response

    async def StreamEnhance(self, request_iterator, context: grpc.aio.ServicerContext):
        async with mapped_errors(context, "StreamEnhance", self.runtime.metrics):
            requests = aiter(paced(request_iterator, self.runtime.config.stream_idle_seconds))
            config = await first_stream_config(requests)
            spec = convert.pcm_spec(config.pcm_format)
            spec.validate()
            options = options_from_proto(config.options)
            out_spec = media.PcmSpec(
                convert.output_encoding(config.output_encoding, spec.encoding), spec.sample_rate, spec.channel_count
            )
            limit = self.runtime.config.max_live_streams
            if self.runtime.live_streams[SERVICE] >= limit:
                raise BusyError(f"the server is busy: {limit} enhancement streams are running already; try again later")
            self.runtime.live_streams[SERVICE] += 1
            # The enhancer's processors must stay on the thread that made them.
            thread = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="enhance-stream")
            loop = asyncio.get_running_loop()
            enhancer = None
            try:
                model = await asyncio.to_thread(self.runtime.model, deepfilter.MODEL_FAMILY)
                enhancer = await loop.run_in_executor(
                    thread, deepfilter.Enhancer, model, options, spec.sample_rate, spec.channel_count
                )
                yield pb.StreamEnhanceResponse(info=info_for(model.name, out_spec, None, model.latency_seconds))
                frames = 0

                def process(block: np.ndarray) -> np.ndarray:
                    with self.runtime.gate.turn(Priority.LIVE):  # file jobs wait at their next step
                        return enhancer.process(block)

                async for block in pcm_blocks(requests, spec):
                    out = await loop.run_in_executor(thread, process, block)
                    for chunk in convert.audio_chunks(out, frames, out_spec):
                        yield pb.StreamEnhanceResponse(audio_chunk=chunk)
                    frames += out.shape[1]
                out = await loop.run_in_executor(thread, enhancer.finish)
                for chunk in convert.audio_chunks(out, frames, out_spec):
                    yield pb.StreamEnhanceResponse(audio_chunk=chunk)
                frames += out.shape[1]
                log.info(
                    "StreamEnhance: %.1f s of audio (%d Hz, %d channel(s))",
                    frames / spec.sample_rate,
                    spec.sample_rate,
                    spec.channel_count,
                )
            finally:
                self.runtime.live_streams[SERVICE] -= 1
                if enhancer is not None:
                    thread.submit(enhancer.close)
                thread.shutdown(wait=False)


async def first_stream_config(requests: AsyncIterator[pb.StreamEnhanceRequest]) -> pb.StreamEnhanceConfig:
    config = await first_config(requests)
    if not config.HasField("pcm_format"):
        raise InvalidOptionsError("the config must set `pcm_format`")
    return config


async def pcm_blocks(
    requests: AsyncIterator[pb.StreamEnhanceRequest], spec: media.PcmSpec
) -> AsyncIterator[np.ndarray]:
    """The (channels, frames) samples of each request's whole frames; a split frame waits."""
    pending = b""
    async for request in requests:
        if request.WhichOneof("request") != "audio_content":
            raise InvalidOptionsError("only the first message may carry `config`; later ones carry `audio_content`")
        pending += request.audio_content
        whole = len(pending) - len(pending) % spec.bytes_per_frame
        if whole:
            yield media.decode_pcm(pending[:whole], spec).samples
            pending = pending[whole:]
    if pending:
        raise InvalidAudioError(
            f"the stream ended inside a frame: {len(pending)} byte(s) left over, frames are "
            f"{spec.bytes_per_frame} bytes ({spec.channel_count} channel(s) of {spec.encoding})"
        )


def register(server: grpc.aio.Server, runtime: Runtime) -> str:
    enhancement_pb2_grpc.add_EnhancementServiceServicer_to_server(EnhancementServicer(runtime), server)
    return pb.DESCRIPTOR.services_by_name["EnhancementService"].full_name

"""EnhancementService: denoise a file block by block, or a live PCM stream chunk by chunk."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Iterator

import grpc
import numpy as np

from sidecar.engines import deepfilter
from sidecar.errors import BusyError, InvalidAudioError, InvalidOptionsError
from sidecar.media import audio as media
from sidecar.runtime.runtime import Runtime
from sidecar.server import convert
from sidecar.server.status import mapped_errors
from sidecar.server.upload import first_config, read_config_first
from sidecar.v1 import enhancement_pb2 as pb
from sidecar.v1 import enhancement_pb2_grpc

log = logging.getLogger(__name__)

BLOCK_SECONDS = 2.0  # audio decoded and enhanced per step: the pace of progress and cancelling


def options_from_proto(o: pb.EnhancementOptions) -> deepfilter.EnhancementOptions:
    options = deepfilter.EnhancementOptions(attenuation_limit_db=o.attenuation_limit_db,
                                            post_filter=o.post_filter)
    options.validate()
    return options


def info_for(model: deepfilter.DeepFilterModel, spec: media.PcmSpec, duration: float | None,
             latency: float) -> pb.EnhancementInfo:
    info = pb.EnhancementInfo(output_format=convert.pcm_format(spec), model=model.name,
                              latency_duration=convert.duration(latency))
    if duration is not None:
        info.audio_duration.CopyFrom(convert.duration(duration))
    return info


def progress(stage: str, processed: float, total: float | None, started: float) -> pb.EnhanceFileResponse:
    fraction = processed / total if total else 0.0
    return pb.EnhanceFileResponse(progress=convert.progress(stage, fraction, processed, total, started))


@dataclasses.dataclass(frozen=True)
class Enhanced:
    """What a finished EnhanceFile job hands back for its summary."""

    spec: media.PcmSpec  # the output's layout
    frames: int  # frames sent per channel


def checked(blocks: Iterator[np.ndarray], token) -> Iterator[np.ndarray]:
    """The blocks, stopping with CancelledError as soon as the caller has gone."""
    for block in blocks:
        token.raise_if_cancelled()
        yield block


class EnhancementServicer(enhancement_pb2_grpc.EnhancementServiceServicer):
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._streams = 0

    async def EnhanceFile(self, request_iterator, context: grpc.aio.ServicerContext):
        started = time.perf_counter()
        limits = self.runtime.config
        async with mapped_errors(context, "EnhanceFile"):
            config, upload = await read_config_first(request_iterator, limits)
            with upload.closed_on_error():
                options = options_from_proto(config.options)
                encoding = convert.output_encoding(config.output_encoding, media.PCM_F32LE)

            def work(token):
                try:
                    yield progress("decoding", 0.0, None, started)
                    source = upload.blocks(sample_rate=None, block_seconds=BLOCK_SECONDS,
                                           max_seconds=limits.max_audio_seconds)
                    rate, channels, total, blocks = (source.sample_rate, source.channel_count,
                                                     source.duration, source.blocks)
                    spec = media.PcmSpec(encoding, rate, channels)
                    yield progress("loading model", 0.0, total, started)
                    model = deepfilter.shared_model(self.runtime)
                    token.raise_if_cancelled()
                    yield pb.EnhanceFileResponse(info=info_for(
                        model, spec, total, model.delay_samples / deepfilter.SAMPLE_RATE))
                    frames = 0
                    for out in deepfilter.enhance_blocks(model, checked(blocks, token), rate,
                                                         channels, options):
                        for chunk in convert.audio_chunks(out, frames, spec):
                            yield pb.EnhanceFileResponse(audio_chunk=chunk)
                        frames += out.shape[1]
                        yield progress("enhancing", frames / rate, total, started)
                    yield Enhanced(spec, frames)
                finally:
                    upload.close()

            done = None
            async with contextlib.aclosing(self.runtime.jobs.run("enhance", work)) as items:
                async for item in items:
                    if isinstance(item, Enhanced):
                        done = item
                    else:
                        yield item
            spec, frames = done.spec, done.frames
            elapsed = time.perf_counter() - started
            duration = frames / spec.sample_rate
            yield pb.EnhanceFileResponse(summary=pb.EnhancementSummary(
                audio_duration=convert.duration(duration), frame_count=frames,
                processing_duration=convert.duration(elapsed),
                speed_factor=duration / elapsed if elapsed > 0 else 0.0,
            ))
            log.info("EnhanceFile: %.1f s of audio (%d Hz, %d channel(s)) in %.2f s",
                     duration, spec.sample_rate, spec.channel_count, elapsed)

    async def StreamEnhance(self, request_iterator, context: grpc.aio.ServicerContext):
        async with mapped_errors(context, "StreamEnhance"):
            requests = aiter(request_iterator)
            config = await first_stream_config(requests)
            spec = convert.pcm_spec(config.pcm_format)
            spec.validate()
            options = options_from_proto(config.options)
            out_spec = media.PcmSpec(convert.output_encoding(config.output_encoding, spec.encoding),
                                     spec.sample_rate, spec.channel_count)
            limit = self.runtime.config.max_live_streams
            if self._streams >= limit:
                raise BusyError(f"the server is busy: {limit} enhancement streams are "
                                "running already; try again later")
            self._streams += 1
            # The enhancer's processors must stay on the thread that made them.
            thread = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="enhance-stream")
            loop = asyncio.get_running_loop()
            enhancer = None
            try:
                model = await asyncio.to_thread(deepfilter.shared_model, self.runtime)
                enhancer = await loop.run_in_executor(thread, deepfilter.Enhancer, model, options,
                                                      spec.sample_rate, spec.channel_count)
                yield pb.StreamEnhanceResponse(info=info_for(model, out_spec, None,
                                                             model.latency_seconds))
                frames = 0
                async for block in pcm_blocks(requests, spec):
                    out = await loop.run_in_executor(thread, enhancer.process, block)
                    for chunk in convert.audio_chunks(out, frames, out_spec):
                        yield pb.StreamEnhanceResponse(audio_chunk=chunk)
                    frames += out.shape[1]
                out = await loop.run_in_executor(thread, enhancer.finish)
                for chunk in convert.audio_chunks(out, frames, out_spec):
                    yield pb.StreamEnhanceResponse(audio_chunk=chunk)
                frames += out.shape[1]
                log.info("StreamEnhance: %.1f s of audio (%d Hz, %d channel(s))",
                         frames / spec.sample_rate, spec.sample_rate, spec.channel_count)
            finally:
                self._streams -= 1
                if enhancer is not None:
                    thread.submit(enhancer.close)
                thread.shutdown(wait=False)


async def first_stream_config(requests: AsyncIterator[pb.StreamEnhanceRequest]) -> pb.StreamEnhanceConfig:
    config = await first_config(requests)
    if not config.HasField("pcm_format"):
        raise InvalidOptionsError("the config must set `pcm_format`")
    return config


async def pcm_blocks(requests: AsyncIterator[pb.StreamEnhanceRequest],
                     spec: media.PcmSpec) -> AsyncIterator[np.ndarray]:
    """The (channels, frames) samples of each request's whole frames; a split frame waits."""
    pending = b""
    async for request in requests:
        if request.WhichOneof("request") != "audio_content":
            raise InvalidOptionsError("only the first message may carry `config`; later ones "
                                      "carry `audio_content`")
        pending += request.audio_content
        whole = len(pending) - len(pending) % spec.bytes_per_frame
        if whole:
            yield media.decode_pcm(pending[:whole], spec).samples
            pending = pending[whole:]
    if pending:
        raise InvalidAudioError(
            f"the stream ended inside a frame: {len(pending)} byte(s) left over, frames are "
            f"{spec.bytes_per_frame} bytes ({spec.channel_count} channel(s) of {spec.encoding})")


def register(server: grpc.aio.Server, runtime: Runtime) -> str:
    enhancement_pb2_grpc.add_EnhancementServiceServicer_to_server(EnhancementServicer(runtime), server)
    return pb.DESCRIPTOR.services_by_name["EnhancementService"].full_name

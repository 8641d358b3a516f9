"""SeparationService: split a file into stems with Demucs, streaming each stem as it is made."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator

import grpc
import numpy as np

from sidecar.engines import demucs_engine, demucs_models
from sidecar.errors import InvalidOptionsError
from sidecar.media import audio as media
from sidecar.media.resampling import StreamResampler
from sidecar.runtime.runtime import Runtime
from sidecar.server import convert
from sidecar.server.status import mapped_errors
from sidecar.server.upload import Blocks, read_config_first
from sidecar.v1 import separation_pb2 as pb
from sidecar.v1 import separation_pb2_grpc

log = logging.getLogger(__name__)

BLOCK_SECONDS = 10.0  # audio decoded per step; the model's windows set the pace of output
MIN_OUTPUT_RATE = 8_000
MAX_OUTPUT_RATE = 192_000
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


def separator_for(runtime: Runtime, o: pb.SeparationOptions) -> demucs_engine.DemucsSeparator:
    """The shared, loaded separator for the model the options name."""
    resolved = demucs_models.resolve(o.model, o.model_repository or None,
                                     runtime.config.demucs_repositories)

    def load():
        model = demucs_models.load(resolved)
        separator, device = demucs_engine.load(model, resolved.name, runtime.config.device)
        return separator, device, f"{resolved.source} {resolved.path or resolved.name}".strip()

    return runtime.models.get(demucs_models.registry_key(resolved), load).model


class StemOutput:
    """Turns the engine's stem blocks into AudioChunk messages in the requested format.

    The stems come back at the input's channel count when it is mono (Demucs works in
    stereo) and at the requested rate, resampled without seams between blocks.
    """

    def __init__(self, stems: list[str], model_rate: int, spec: media.PcmSpec) -> None:
        self.spec = spec
        self.stems = stems
        channels = min(spec.channel_count, 2)
        self._resamplers = {s: StreamResampler(model_rate, spec.sample_rate, channels) for s in stems}
        self._frames = dict.fromkeys(stems, 0)

    def chunks(self, block: demucs_engine.StemBlock) -> Iterator[pb.StemChunk]:
        for name in self.stems:
            samples = block.stems[name]
            if self.spec.channel_count == 1:
                samples = samples.mean(axis=0, keepdims=True, dtype=np.float32)
            yield from self._encoded(name, self._resamplers[name].push(samples))

    def flush(self) -> Iterator[pb.StemChunk]:
        for name in self.stems:
            yield from self._encoded(name, self._resamplers[name].flush())

    def _encoded(self, name: str, samples: np.ndarray) -> Iterator[pb.StemChunk]:
        for chunk in convert.audio_chunks(samples, self._frames[name], self.spec):
            yield pb.StemChunk(stem=name, audio=chunk)
        self._frames[name] += samples.shape[1]

    @property
    def duration(self) -> float:
        return max(self._frames.values(), default=0) / self.spec.sample_rate


def output_spec(o: pb.SeparationOptions, source: Blocks, model_channels: int) -> media.PcmSpec:
    rate = o.output_sample_rate_hertz or source.source_rate
    if not MIN_OUTPUT_RATE <= rate <= MAX_OUTPUT_RATE:
        raise InvalidOptionsError(
            f"`output_sample_rate_hertz` must be {MIN_OUTPUT_RATE}..{MAX_OUTPUT_RATE}, not {rate}")
    channels = 1 if source.channel_count == 1 else model_channels
    return media.PcmSpec(convert.output_encoding(o.output_encoding, media.PCM_F32LE), rate, channels)


def progress(stage: str, processed: float, total: float | None, started: float) -> pb.SeparateFileResponse:
    return pb.SeparateFileResponse(progress=convert.progress(
        stage, processed / total if total else 0.0, processed, total, started))


class SeparationServicer(separation_pb2_grpc.SeparationServiceServicer):
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def SeparateFile(self, request_iterator, context: grpc.aio.ServicerContext):
        started = time.perf_counter()
        limits = self.runtime.config
        async with mapped_errors(context, "SeparateFile"):
            config, upload = await read_config_first(request_iterator, limits)
            with upload.closed_on_error():
                options = options_from_proto(config.options)

            def work(token):
                try:
                    yield progress("loading model", 0.0, None, started)
                    separator = separator_for(self.runtime, config.options)
                    options.validate(separator.sources, separator.max_segment_seconds)
                    token.raise_if_cancelled()
                    yield progress("decoding", 0.0, None, started)
                    source = upload.blocks(sample_rate=separator.sample_rate, block_seconds=BLOCK_SECONDS,
                                           max_seconds=limits.max_audio_seconds)
                    output = StemOutput(options.output_stems(separator.sources),
                                        separator.sample_rate,
                                        output_spec(config.options, source, separator.channel_count))
                    info = pb.SeparationInfo(
                        model=separator.name, device=separator.device, stems=output.stems,
                        output_format=convert.pcm_format(output.spec),
                        segment_duration=convert.duration(separator.segment_seconds(options)))
                    if source.duration is not None:
                        info.audio_duration.CopyFrom(convert.duration(source.duration))
                    yield pb.SeparateFileResponse(info=info)
                    for block in separator.separate(source.blocks, options,
                                                    on_window=token.raise_if_cancelled):
                        for chunk in output.chunks(block):
                            yield pb.SeparateFileResponse(stem_chunk=chunk)
                        end = (block.start_frame + block.frame_count) / separator.sample_rate
                        yield progress("separating", end, source.duration, started)
                    for chunk in output.flush():
                        yield pb.SeparateFileResponse(stem_chunk=chunk)
                    yield output
                finally:
                    upload.close()

            output = None
            async with contextlib.aclosing(self.runtime.jobs.run("separate", work)) as items:
                async for item in items:
                    if isinstance(item, StemOutput):
                        output = item
                    else:
                        yield item
            elapsed = time.perf_counter() - started
            duration = output.duration
            yield pb.SeparateFileResponse(summary=pb.SeparationSummary(
                stems=output.stems, audio_duration=convert.duration(duration),
                processing_duration=convert.duration(elapsed),
                speed_factor=duration / elapsed if elapsed > 0 else 0.0,
            ))
            log.info("SeparateFile: %.1f s of audio into %s in %.2f s (model %s, RTF %.3f)",
                     duration, ", ".join(output.stems), elapsed,
                     config.options.model or demucs_models.DEFAULT_MODEL,
                     elapsed / duration if duration else 0.0)


def register(server: grpc.aio.Server, runtime: Runtime) -> str:
    separation_pb2_grpc.add_SeparationServiceServicer_to_server(SeparationServicer(runtime), server)
    return pb.DESCRIPTOR.services_by_name["SeparationService"].full_name

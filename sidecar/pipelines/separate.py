"""Stems of a file with Demucs, each stem streamed as the model's windows finish."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import numpy as np

from sidecar.engines import demucs_engine, demucs_models
from sidecar.errors import InvalidOptionsError
from sidecar.media import audio as media
from sidecar.media.resampling import StreamResampler
from sidecar.runtime.events import Finished, Info, Item, JobEvent, Progress
from sidecar.runtime.threads import CancelToken

BLOCK_SECONDS = 10.0  # audio decoded per step; the model's windows set the pace of output
MIN_OUTPUT_RATE = 8_000
MAX_OUTPUT_RATE = 192_000


@dataclasses.dataclass(frozen=True)
class SeparationStarted:
    """What a SeparationInfo reports."""

    model: str
    device: str
    stems: tuple[str, ...]
    spec: media.PcmSpec  # of every stem's output
    segment_seconds: float
    audio_seconds: float | None  # as the upload's header states it


@dataclasses.dataclass(frozen=True)
class StemAudio:
    """Samples of one stem, (channels, frames) at the output rate, from `start_frame` on."""

    stem: str
    samples: np.ndarray
    start_frame: int


def separator_for(runtime, model: str, repository: str | None) -> demucs_engine.DemucsSeparator:
    """The shared, loaded separator for the model the options name."""
    return runtime.model(demucs_engine.MODEL_FAMILY, demucs_models.in_repository(repository, model))


class StemOutput:
    """The engine's stem blocks at the requested rate and channel count: mono when the input is
    mono (Demucs works in stereo), resampled without seams between blocks."""

    def __init__(self, stems: list[str], model_rate: int, spec: media.PcmSpec) -> None:
        self.spec = spec
        self.stems = stems
        channels = min(spec.channel_count, 2)
        self._resamplers = {s: StreamResampler(model_rate, spec.sample_rate, channels) for s in stems}
        self._frames = dict.fromkeys(stems, 0)

    def push(self, block: demucs_engine.StemBlock) -> Iterator[StemAudio]:
        for name in self.stems:
            samples = block.stems[name]
            if self.spec.channel_count == 1:
                samples = samples.mean(axis=0, keepdims=True, dtype=np.float32)
            yield self._audio(name, self._resamplers[name].push(samples))

    def flush(self) -> Iterator[StemAudio]:
        for name in self.stems:
            yield self._audio(name, self._resamplers[name].flush())

    def _audio(self, name: str, samples: np.ndarray) -> StemAudio:
        audio = StemAudio(name, samples, self._frames[name])
        self._frames[name] += samples.shape[1]
        return audio

    @property
    def duration(self) -> float:
        return max(self._frames.values(), default=0) / self.spec.sample_rate


def output_spec(encoding: str, requested_rate: int | None, source, model_channels: int) -> media.PcmSpec:
    rate = requested_rate or source.source_rate
    if not MIN_OUTPUT_RATE <= rate <= MAX_OUTPUT_RATE:
        raise InvalidOptionsError(
            f"`output_sample_rate_hertz` must be {MIN_OUTPUT_RATE}..{MAX_OUTPUT_RATE}, not {rate}"
        )
    channels = 1 if source.channel_count == 1 else model_channels
    return media.PcmSpec(encoding, rate, channels)


def separate_file(
    runtime,
    upload,
    options: demucs_engine.SeparationOptions,
    model: str,
    repository: str | None,
    encoding: str,
    output_rate: int | None,
    max_seconds: float,
):
    """The SeparateFile job: Info(SeparationStarted), Items of StemAudio, Finished(stem names)."""

    def pipeline(token: CancelToken) -> Iterator[JobEvent]:
        try:
            yield Progress("loading model")
            separator = separator_for(runtime, model, repository)
            options.validate(separator.sources, separator.max_segment_seconds)
            token.raise_if_cancelled()
            yield Progress("decoding")
            source = upload.blocks(
                sample_rate=separator.sample_rate, block_seconds=BLOCK_SECONDS, max_seconds=max_seconds
            )
            output = StemOutput(
                options.output_stems(separator.sources),
                separator.sample_rate,
                output_spec(encoding, output_rate, source, separator.channel_count),
            )
            yield Info(
                SeparationStarted(
                    separator.name,
                    separator.device,
                    tuple(output.stems),
                    output.spec,
                    separator.segment_seconds(options),
                    source.duration,
                )
            )
            for block in separator.separate(source.blocks, options, on_window=token.raise_if_cancelled):
                for audio in output.push(block):
                    yield Item(audio)
                end = (block.start_frame + block.frame_count) / separator.sample_rate
                yield Progress("separating", end, source.duration)
            for audio in output.flush():
                yield Item(audio)
            yield Finished(output.duration, tuple(output.stems))
        finally:
            upload.close()

    return pipeline

"""A file denoised block by block with DeepFilterNet3, at its own rate and channel count."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import numpy as np

from sidecar.engines import deepfilter
from sidecar.media import audio as media
from sidecar.runtime.events import Finished, Info, Item, JobEvent, Progress
from sidecar.runtime.threads import CancelToken

BLOCK_SECONDS = 2.0  # audio decoded and enhanced per step: the pace of progress and cancelling


@dataclasses.dataclass(frozen=True)
class EnhancementStarted:
    """What an EnhancementInfo reports."""

    model: str
    spec: media.PcmSpec  # of the output
    audio_seconds: float | None  # as the upload's header states it
    latency_seconds: float


@dataclasses.dataclass(frozen=True)
class AudioBlock:
    """Enhanced (channels, frames) samples from `start_frame` on."""

    samples: np.ndarray
    start_frame: int


def checked(blocks: Iterator[np.ndarray], token: CancelToken) -> Iterator[np.ndarray]:
    """The blocks, stopping with CancelledError as soon as the caller has gone."""
    for block in blocks:
        token.raise_if_cancelled()
        yield block


def enhance_file(runtime, upload, options: deepfilter.EnhancementOptions, encoding: str, max_seconds: float):
    """The EnhanceFile job: Info(EnhancementStarted), Items of AudioBlock, Finished(frame count)."""

    def pipeline(token: CancelToken) -> Iterator[JobEvent]:
        try:
            yield Progress("decoding")
            source = upload.blocks(sample_rate=None, block_seconds=BLOCK_SECONDS, max_seconds=max_seconds)
            rate, total = source.sample_rate, source.duration
            spec = media.PcmSpec(encoding, rate, source.channel_count)
            yield Progress("loading model", 0.0, total)
            model = runtime.model(deepfilter.MODEL_FAMILY)
            token.raise_if_cancelled()
            yield Info(EnhancementStarted(model.name, spec, total, model.delay_samples / deepfilter.SAMPLE_RATE))
            frames = 0
            for out in deepfilter.enhance_blocks(
                model, checked(source.blocks, token), rate, source.channel_count, options
            ):
                yield Item(AudioBlock(out, frames))
                frames += out.shape[1]
                yield Progress("enhancing", frames / rate, total)
            yield Finished(frames / rate, frames)
        finally:
            upload.close()

    return pipeline

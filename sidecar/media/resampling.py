"""Resampling audio that arrives block by block, without seams between the blocks.

media.audio.resample() treats its input as a whole; a long job's output comes in pieces,
and resampling each piece on its own would click at every boundary. One FFmpeg resampler
kept across the pieces carries its filter state from one to the next.
"""

from __future__ import annotations

import av
import numpy as np

_LAYOUTS = {1: "mono", 2: "stereo"}


class StreamResampler:
    """Resamples float32 (channels, frames) blocks of 1 or 2 channels from one rate to another.

    push() returns what is ready so far (FFmpeg holds back a few frames for its filter);
    flush() returns the rest once the input has ended. A resampler between equal rates
    passes the blocks through untouched.
    """

    def __init__(self, source_rate: int, target_rate: int, channel_count: int) -> None:
        if channel_count not in _LAYOUTS:
            raise ValueError(f"can resample 1 or 2 channels, not {channel_count}")
        self.source_rate = source_rate
        self.target_rate = target_rate
        self.channel_count = channel_count
        self._layout = _LAYOUTS[channel_count]
        self._resampler = (
            None
            if source_rate == target_rate
            else av.AudioResampler(format="fltp", layout=self._layout, rate=target_rate)
        )

    def push(self, samples: np.ndarray) -> np.ndarray:
        if self._resampler is None or samples.shape[1] == 0:
            return samples
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(samples, dtype=np.float32), format="fltp", layout=self._layout
        )
        frame.sample_rate = self.source_rate
        return self._collect(self._resampler.resample(frame))

    def flush(self) -> np.ndarray:
        if self._resampler is None:
            return np.zeros((self.channel_count, 0), dtype=np.float32)
        return self._collect(self._resampler.resample(None))

    def _collect(self, frames) -> np.ndarray:
        arrays = [f.to_ndarray() for f in frames]
        if not arrays:
            return np.zeros((self.channel_count, 0), dtype=np.float32)
        return np.concatenate(arrays, axis=1).astype(np.float32, copy=False)

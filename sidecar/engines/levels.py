"""Loudness for the speaker models: a slow gain over a recording, and per-window power gains.

Speaker embeddings that take power spectra (GE2E takes mel power, not its log) move with the
level, and a VAD misses a quiet voice that a loud one beside it does not: both hear the audio
after these gains.
"""

from __future__ import annotations

import numpy as np

SAMPLE_RATE = 16_000
TARGET_DBFS = -26.0
BLOCK_SECONDS = 0.1
SPAN_SECONDS = 3.0  # the slow gain follows the loudest block this close
MAX_GAIN_DB = 24.0  # pauses far from speech are not lifted into noise beyond this


def levelled(audio: np.ndarray) -> np.ndarray:
    """The audio under a slow gain (never below 1) that brings its loudest stretch within
    SPAN_SECONDS to TARGET_DBFS, at most MAX_GAIN_DB."""
    from scipy.ndimage import maximum_filter1d

    block = int(BLOCK_SECONDS * SAMPLE_RATE)
    count = -(-len(audio) // block)
    if count == 0:
        return audio
    padded = np.pad(audio, (0, count * block - len(audio)))
    power = np.mean(padded.reshape(count, block).astype(np.float64) ** 2, axis=1)
    loudest = maximum_filter1d(power, size=max(1, int(SPAN_SECONDS / BLOCK_SECONDS)))
    target = 10 ** (TARGET_DBFS / 10)
    gain = np.sqrt(np.clip(target / np.maximum(loudest, 1e-20), 1.0, 10 ** (MAX_GAIN_DB / 10)))
    # Block gains joined linearly, so no step is heard as an onset.
    centres = (np.arange(count) + 0.5) * block
    samples = np.interp(np.arange(len(audio)), centres, gain)
    return np.clip(audio * samples, -1.0, 1.0).astype(np.float32)


def window_power_gains(audio: np.ndarray, starts: np.ndarray, window: int, hop: int) -> np.ndarray:
    """Per window (`window` samples from sample `starts` * `hop`), the factor on its power
    that brings it to TARGET_DBFS, within MAX_GAIN_DB: an embedding then hears the voice,
    not how loud it was."""
    squares = np.concatenate([[0.0], np.cumsum(audio.astype(np.float64) ** 2)])
    first = np.clip(starts * hop, 0, len(audio))
    last = np.clip(starts * hop + window, 0, len(audio))
    power = (squares[last] - squares[first]) / np.maximum(last - first, 1)
    target = 10 ** (TARGET_DBFS / 10)
    return np.clip(target / np.maximum(power, 1e-20), 10 ** (-MAX_GAIN_DB / 10), 10 ** (MAX_GAIN_DB / 10)).astype(
        np.float32
    )

"""Loudness for the speaker models: a gain that lifts quiet speech, and per-window power gains.

Speaker embeddings that take power spectra (GE2E takes mel power, not its log) move with the
level, and a VAD misses a quiet voice that a loud one beside it does not: both hear the audio
after these gains. Hours of audio are worked through a minute at a time, so that no temporary
array is a multiple of the recording.
"""

from __future__ import annotations

import numpy as np

SAMPLE_RATE = 16_000
TARGET_DBFS = -26.0
BLOCK_SECONDS = 0.1
SPAN_SECONDS = 3.0  # the gain follows the loudest block in a span this long around each moment
# Where that loudest block is speech (this far above the quietest half second within
# FLOOR_SECONDS, the local noise floor), the gain follows a span this short instead, so a quiet
# voice that answers a loud one at once is lifted a fraction of a second later. With 3 s alone
# Silero VAD missed such turns and the offline diarizer lost the quiet speaker's name; a short
# span alone lifted every pause into noise, and the VAD's regions then moved with dither. The
# floor is local because two people recorded apart bring two noise floors.
QUICK_SPAN_SECONDS = 0.5
SPEECH_OVER_FLOOR_DB = 10.0
FLOOR_SECONDS = 8.0
MAX_GAIN_DB = 24.0  # pauses far from speech are not lifted into noise beyond this
CHUNK_SAMPLES = 60 * SAMPLE_RATE


def levelled(audio: np.ndarray) -> np.ndarray:
    """The audio under a gain (never below 1) that brings the loudest block around each
    moment (QUICK_SPAN_SECONDS where that is speech, else SPAN_SECONDS) to TARGET_DBFS, at most
    MAX_GAIN_DB; a new float32 array."""
    from scipy.ndimage import maximum_filter1d, minimum_filter1d

    block = int(BLOCK_SECONDS * SAMPLE_RATE)
    power = block_energies(audio, block) / block
    if len(power) == 0:
        return audio.astype(np.float32)
    quick = maximum_filter1d(power, size=max(1, round(QUICK_SPAN_SECONDS / BLOCK_SECONDS)))
    slow = maximum_filter1d(power, size=max(1, round(SPAN_SECONDS / BLOCK_SECONDS)))
    floor = minimum_filter1d(quick, size=max(1, round(FLOOR_SECONDS / BLOCK_SECONDS)))
    loudest = np.where(quick >= floor * 10 ** (SPEECH_OVER_FLOOR_DB / 10), quick, slow)
    target = 10 ** (TARGET_DBFS / 10)
    gain = np.sqrt(np.clip(target / np.maximum(loudest, 1e-20), 1.0, 10 ** (MAX_GAIN_DB / 10)))
    # Block gains joined linearly, so no step is heard as an onset.
    centres = (np.arange(len(power)) + 0.5) * block
    out = np.empty(len(audio), dtype=np.float32)
    for first in range(0, len(audio), CHUNK_SAMPLES):
        last = min(first + CHUNK_SAMPLES, len(audio))
        samples = np.interp(np.arange(first, last), centres, gain)
        np.clip(audio[first:last] * samples, -1.0, 1.0, out=out[first:last], casting="same_kind")
    return out


def window_power_gains(audio: np.ndarray, starts: np.ndarray, window_hops: int, hop: int) -> np.ndarray:
    """Per window (`window_hops` hops of `hop` samples from hop `starts`), the factor on its
    power that brings it to TARGET_DBFS, within MAX_GAIN_DB: an embedding then hears the
    voice, not how loud it was."""
    energies = np.concatenate([[0.0], np.cumsum(block_energies(audio, hop))])
    first = np.clip(starts, 0, len(energies) - 1)
    last = np.clip(starts + window_hops, 0, len(energies) - 1)
    lengths = np.minimum(last * hop, len(audio)) - first * hop
    power = (energies[last] - energies[first]) / np.maximum(lengths, 1)
    target = 10 ** (TARGET_DBFS / 10)
    return np.clip(target / np.maximum(power, 1e-20), 10 ** (-MAX_GAIN_DB / 10), 10 ** (MAX_GAIN_DB / 10)).astype(
        np.float32
    )


def block_energies(audio: np.ndarray, block: int) -> np.ndarray:
    """Sum of squares of each `block` samples (the last block may be short), in float64."""
    chunk = CHUNK_SAMPLES // block * block
    energies = []
    for first in range(0, len(audio), chunk):
        piece = audio[first : first + chunk].astype(np.float64)
        padded = np.pad(piece, (0, -len(piece) % block))
        energies.append(np.square(padded).reshape(-1, block).sum(axis=1))
    return np.concatenate(energies) if energies else np.zeros(0)

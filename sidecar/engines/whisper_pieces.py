"""Long audio cut at pauses into pieces that are decoded side by side (TranscriptionOptions.pieces).

One Whisper decode barely uses a second CPU core: on the 2-core CPU, tiny.en took 31 s for
7.4 min of reading with two threads and 35 s with one, while the two halves decoded at once,
one thread each, took 15 s. Each piece starts without the text before it, as a file does, and
its 30 s windows fall elsewhere, which moves tiny.en's WER by a point either way: over five
placements of two readings (7.4 min, and 4.4 min with pauses) two pieces averaged +0.7 and +0.6
points against one after another, and later -0.09 and +0.28 (bench/whisper_pieces.py). A file
is cut only when asked: a CPU's default, windows decoded in batches, is as fast at no more cost
(bench/transcribe_overhead.py times both against faster-whisper doing the same).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator

import numpy as np

from sidecar.runtime.threads import side_by_side

SAMPLE_RATE = 16_000
MAX_PIECES = 8
MIN_PIECE_SECONDS = 30
_FRAME_SAMPLES = 800  # 50 ms
_PAUSE_FRAMES = 5  # a cut goes in the middle of the quietest 250 ms

Turn = Callable[[], contextlib.AbstractContextManager]


def piece_count(asked: int, duration: float) -> int:
    return max(1, min(asked, int(duration // MIN_PIECE_SECONDS)))


def starts(audio: np.ndarray, pieces: int) -> list[int]:
    """The sample where each piece starts: 0, then the middle of the quietest 250 ms within a
    quarter of a piece of each even division."""
    piece = len(audio) / pieces
    found = [0]
    for i in range(1, pieces):
        low, high = int(i * piece - piece / 4), int(i * piece + piece / 4)
        found.append(low + _quietest(audio[low:high]))
    return found


def _quietest(audio: np.ndarray) -> int:
    frames = len(audio) // _FRAME_SAMPLES
    energy = np.square(audio[: frames * _FRAME_SAMPLES].astype(np.float64)).reshape(frames, _FRAME_SAMPLES).sum(1)
    pause = int(np.argmin(np.convolve(energy, np.ones(_PAUSE_FRAMES), "valid")))
    return (pause + _PAUSE_FRAMES // 2) * _FRAME_SAMPLES + _FRAME_SAMPLES // 2


def transcribe(model, audio: np.ndarray, pieces: int, kwargs: dict, turn: Turn | None):
    """faster-whisper's transcribe() over `pieces` pieces: (the first piece's info, the speech
    seconds of all, the segments in order with times in the whole audio). The language found in
    the first piece is given to the others, as one detection serves a whole file. Decoding starts
    when the first segment is asked for, each piece in a thread of its own that takes a `turn()`
    per window (the runtime's priority gate); closing the iterator stops them."""
    bounds = starts(audio, pieces) + [len(audio)]
    first, info = model.transcribe(audio[: bounds[1]], **kwargs)
    kwargs = {**kwargs, "language": info.language}
    runs = [(first, info)] + [model.transcribe(audio[a:b], **kwargs) for a, b in zip(bounds[1:-1], bounds[2:])]
    speech = sum(float(piece_info.duration_after_vad) for _, piece_info in runs)
    offsets = [start / SAMPLE_RATE for start in bounds[:-1]]
    calls = [
        _decoding(segments, offset, turn or contextlib.nullcontext) for (segments, _), offset in zip(runs, offsets)
    ]
    return info, speech, side_by_side("whisper-piece", calls)


def _decoding(segments: Iterator, offset: float, turn: Turn):
    """A call for threads.side_by_side: one piece's segments, a turn per window."""

    def decode(report) -> None:
        while True:
            with turn():
                segment = next(segments, None)
            if segment is None or report(_shifted(segment, offset)):
                return

    return decode


def _shifted(segment, offset: float):
    if not offset:
        return segment
    words = [dataclasses.replace(w, start=w.start + offset, end=w.end + offset) for w in segment.words or ()]
    return dataclasses.replace(
        segment,
        start=segment.start + offset,
        end=segment.end + offset,
        words=words if segment.words is not None else None,
    )

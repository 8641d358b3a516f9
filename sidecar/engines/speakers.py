"""Speaker labels: the names of known people for the speakers who sound like them, and for a
transcript, words take the speaker whose turns overlap them most and segments split where the
speaker changes. Functions over the engines' dataclasses.
"""

from __future__ import annotations

import bisect
import dataclasses
from collections.abc import Iterable, Iterator, Sequence
from typing import Protocol

import numpy as np

from sidecar.engines.diarization import (
    NAME_THRESHOLD,
    SAMPLE_RATE,
    Diarization,
    KnownSpeaker,
    SpeakerTurn,
    finish,
    match_names,
)
from sidecar.engines.whisper import Segment, Word

# A backend other than the offline one leaves naming to name_speakers: each speaker found is
# compared with each known person by the cosine similarity of their voiceprints (the offline
# encoder's mean embedding of up to VOICEPRINT_SECONDS of their speech).
VOICEPRINT_SECONDS = 30.0


class Voices(Protocol):
    """What names speakers (the offline diarizer does)."""

    def voiceprint(self, audio: np.ndarray) -> np.ndarray | None:
        """The unit-norm voiceprint of the speech in 16 kHz mono audio; None without speech."""

    def reference_print(self, known: KnownSpeaker) -> np.ndarray:
        """A known person's voiceprint; InvalidOptionsError when their reference is no good."""


def name_speakers(
    result: Diarization,
    audio: np.ndarray,
    known: Sequence[KnownSpeaker],
    voices: Voices,
    threshold: float | None = None,
) -> Diarization:
    """The diarization with each speaker who sounds like a known one (voiceprint cosine
    similarity at least `threshold`) labelled with their name, as match_names pairs them.
    Works on any backend's turns."""
    if not known or not result.turns:
        return result
    speakers = result.speakers
    found = [voices.voiceprint(_speech_of(audio, [t for t in result.turns if t.speaker == s])) for s in speakers]
    references = [voices.reference_print(k) for k in known]
    similarity = np.array([[-1.0 if f is None else float(f @ r) for r in references] for f in found])
    matched = match_names(similarity, NAME_THRESHOLD if threshold is None else threshold)
    names = {speakers[r]: known[c].name for r, c in matched.items()}
    return finish(result.turns, result.duration, names, result.exclusive_turns)


def _speech_of(audio: np.ndarray, turns: Sequence[SpeakerTurn]) -> np.ndarray:
    """Up to VOICEPRINT_SECONDS of the audio of these turns, the longest turns first."""
    pieces, total = [], 0
    for turn in sorted(turns, key=lambda t: t.start - t.end):
        piece = audio[int(turn.start * SAMPLE_RATE) : int(turn.end * SAMPLE_RATE)]
        pieces.append(piece[: max(0, int(VOICEPRINT_SECONDS * SAMPLE_RATE) - total)])
        total += len(pieces[-1])
        if total >= VOICEPRINT_SECONDS * SAMPLE_RATE:
            break
    return np.concatenate(pieces) if pieces else np.zeros(0, np.float32)


class SpeakerTimeline:
    """Turns indexed by start time, answering "who speaks most during [start, end)?"."""

    def __init__(self, turns: Iterable[SpeakerTurn]) -> None:
        self._turns = sorted(turns, key=lambda t: (t.start, t.end))
        self._starts = [t.start for t in self._turns]
        # Turns may overlap, so a turn that starts early can end late: keep the running
        # maximum of ends to know how far back an overlapping turn can start.
        self._reach: list[float] = []
        for turn in self._turns:
            self._reach.append(max(turn.end, self._reach[-1] if self._reach else turn.end))

    def __bool__(self) -> bool:
        return bool(self._turns)

    def speaker_at(self, start: float, end: float) -> str | None:
        """The speaker with the most time in [start, end); for an instant or a span no turn
        touches, the speaker of the nearest turn. None when there are no turns. Ties go to
        the speaker whose turn starts first."""
        if not self._turns:
            return None
        overlap: dict[str, float] = {}
        first = bisect.bisect_left(self._reach, start)  # turns ending before start can't overlap
        for turn in self._turns[first : bisect.bisect_right(self._starts, end)]:
            shared = min(end, turn.end) - max(start, turn.start)
            if shared > 0 or (shared == 0 and start == end and turn.start <= start <= turn.end):
                overlap[turn.speaker] = overlap.get(turn.speaker, 0.0) + shared
        if overlap:
            return max(overlap, key=overlap.get)  # first inserted wins ties: dicts keep order
        return min(self._turns, key=lambda t: _gap(t, start, end)).speaker


def _gap(turn: SpeakerTurn, start: float, end: float) -> float:
    return max(turn.start - end, start - turn.end, 0.0)


def label_segments(segments: Iterable[Segment], turns: Sequence[SpeakerTurn]) -> Iterator[Segment]:
    """Labels each word with its speaker and splits segments at speaker changes, lazily.

    A segment without words takes the speaker of its whole span. Pieces of a split segment
    keep its probabilities, run from their first word's start to their last word's end (the
    first piece from the segment's start, the last to its end) and are renumbered so that
    indexes stay consecutive. With no turns, segments pass through unlabelled.
    """
    timeline = SpeakerTimeline(turns)
    index = 0
    for segment in segments:
        if not timeline:
            yield dataclasses.replace(segment, index=index)
            index += 1
            continue
        for piece in split_by_speaker(segment, timeline):
            yield dataclasses.replace(piece, index=index)
            index += 1


def split_by_speaker(segment: Segment, timeline: SpeakerTimeline) -> list[Segment]:
    """One segment per run of words with the same speaker (index left as the segment's)."""
    if not segment.words:
        return [dataclasses.replace(segment, speaker=timeline.speaker_at(segment.start, segment.end))]
    words = [dataclasses.replace(w, speaker=timeline.speaker_at(w.start, w.end)) for w in segment.words]
    runs: list[list[Word]] = []
    for word in words:
        if runs and runs[-1][0].speaker == word.speaker:
            runs[-1].append(word)
        else:
            runs.append([word])
    pieces = []
    for n, run in enumerate(runs):
        pieces.append(
            dataclasses.replace(
                segment,
                start=segment.start if n == 0 else run[0].start,
                end=segment.end if n == len(runs) - 1 else run[-1].end,
                text="".join(w.text for w in run).strip() if len(runs) > 1 else segment.text,
                words=tuple(run),
                speaker=run[0].speaker,
            )
        )
    return pieces

"""Speaker turns as files: RTTM (NIST's diarization format) and Audacity label tracks.

RTTM has one `SPEAKER` line per turn with ten space-separated fields:
`SPEAKER <file> <channel> <onset> <duration> <NA> <NA> <speaker> <confidence> <NA>`, times in
seconds. Fields cannot hold spaces, so file and speaker names have theirs replaced by "_".
Standard library only.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import NamedTuple

NA = "<NA>"
_FIELDS = 10
_DECIMALS = 3  # RTTM times in milliseconds, as the NIST scorer and pyannote write them


class Turn(NamedTuple):
    start: float  # seconds from the media start
    end: float
    speaker: str
    confidence: float | None = None


def _token(text: str, what: str) -> str:
    token = re.sub(r"\s+", "_", text.strip())
    if not token:
        raise ValueError(f"an RTTM {what} must not be empty")
    return token


def format_rttm(turns: Iterable[Turn], file_id: str, speaker_names: Mapping[str, str] | None = None) -> str:
    """RTTM text for one file's turns, in the order given."""
    uri = _token(file_id, "file id")
    lines = []
    for turn in turns:
        if not (math.isfinite(turn.start) and math.isfinite(turn.end)) or turn.end < turn.start:
            raise ValueError(f"a turn must end after it starts, got {turn.start!r}..{turn.end!r}")
        speaker = _token((speaker_names or {}).get(turn.speaker, turn.speaker), "speaker")
        confidence = NA if turn.confidence is None else f"{turn.confidence:.3f}"
        lines.append(
            f"SPEAKER {uri} 1 {turn.start:.{_DECIMALS}f} {turn.end - turn.start:.{_DECIMALS}f} "
            f"{NA} {NA} {speaker} {confidence} {NA}"
        )
    return "".join(line + "\n" for line in lines)


def parse_rttm(text: str) -> dict[str, list[Turn]]:
    """File id -> its turns, from RTTM text; lines other than SPEAKER ones and `;;` comments
    are skipped. Raises ValueError naming the first malformed SPEAKER line."""
    files: dict[str, list[Turn]] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields or fields[0] != "SPEAKER":
            continue
        if len(fields) < 8:
            raise ValueError(f"RTTM line {number} has {len(fields)} fields, not {_FIELDS}: {line!r}")
        try:
            start, duration = float(fields[3]), float(fields[4])
            confidence = None if len(fields) < 9 or fields[8] == NA else float(fields[8])
        except ValueError:
            raise ValueError(f"RTTM line {number} has a non-numeric time: {line!r}") from None
        if not (math.isfinite(start) and math.isfinite(duration)) or duration < 0:
            raise ValueError(f"RTTM line {number} has an impossible time: {line!r}")
        files.setdefault(fields[1], []).append(Turn(start, start + duration, fields[7], confidence))
    return files


def audacity_labels_by_speaker(turns: Iterable[Turn], speaker_names: Mapping[str, str] | None = None) -> dict[str, str]:
    """Speaker name -> Audacity label-track text ("start<TAB>end<TAB>name" per turn), one
    track per speaker in order of first appearance."""
    tracks: dict[str, list[str]] = {}
    for turn in turns:
        name = " ".join((speaker_names or {}).get(turn.speaker, turn.speaker).split()) or turn.speaker
        tracks.setdefault(name, []).append(f"{turn.start:.6f}\t{turn.end:.6f}\t{name}\n")
    return {name: "".join(rows) for name, rows in tracks.items()}

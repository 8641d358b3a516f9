"""The cue rules every subtitle file the suite writes must keep (issue 17).

At most `max_lines` lines of `max_line_chars` characters, 1 to 7 s on screen, at most 20
characters a second, no overlaps. A cue may be too short or too fast only where nothing could
fix it: its end already touches the next cue, the media's end or the 7 s limit, and merging it
with a neighbour would not give a cue that keeps the rules. Characters are counted as readers
see them: each line's characters, spaces included, line breaks not.
"""

from __future__ import annotations

import math
import pathlib
from collections.abc import Sequence

from sidecar_common.subtitles import Cue, CueRules, parse_srt

TOLERANCE = 0.0005  # half the millisecond resolution of SRT times
RULES = CueRules()  # issue 17's: 2 lines of 42, 1 to 7 s, 20 characters a second


def check_srt(srt: str | pathlib.Path, media_duration: float | None = None, rules: CueRules = RULES) -> None:
    """Asserts that an SRT file (a path) or text keeps the rules; the message lists each break."""
    text = srt.read_text(encoding="utf-8") if isinstance(srt, pathlib.Path) else srt
    check_cues(parse_srt(text), media_duration, rules)


def check_cues(cues: Sequence[Cue], media_duration: float | None = None, rules: CueRules = RULES) -> None:
    problems = rule_breaks(cues, media_duration, rules)
    assert not problems, "cue rules broken:\n" + "\n".join(problems)


def rule_breaks(cues: Sequence[Cue], media_duration: float | None = None, rules: CueRules = RULES) -> list[str]:
    problems = []
    for n, cue in enumerate(cues):
        where = f"cue {n + 1} ({cue.start:.3f}-{cue.end:.3f} {cue.text!r})"
        if not cue.lines or len(cue.lines) > rules.max_lines:
            problems.append(f"{where}: {len(cue.lines)} lines")
        problems += [
            f"{where}: a line of {len(line)} characters"
            for line in cue.lines
            if len(line) > rules.max_line_chars and len(line.split()) > 1  # one long word cannot be cut
        ]
        if n and cue.start < cues[n - 1].end - TOLERANCE:
            problems.append(f"{where}: overlaps the cue before")
        if media_duration is not None and cue.end > media_duration + TOLERANCE:
            problems.append(f"{where}: ends after the media ({media_duration:.3f} s)")
        shown = cue.end - cue.start
        if shown > rules.max_duration + TOLERANCE:
            problems.append(f"{where}: {shown:.3f} s on screen")
        if (shown < rules.min_duration - TOLERANCE or cps(cue) > rules.max_chars_per_second + 0.01) and fixable(
            cues, n, media_duration, rules
        ):
            problems.append(f"{where}: {shown:.3f} s at {cps(cue):.1f} characters a second, where the gaps allow more")
    return problems


def cps(cue: Cue) -> float:
    shown = cue.end - cue.start
    return sum(map(len, cue.lines)) / shown if shown > 0 else math.inf


def fixable(cues: Sequence[Cue], n: int, media_duration: float | None, rules: CueRules) -> bool:
    """Whether extending cue n into the gap after it, or merging it with a neighbour, would give
    cues that keep the rules."""
    cue = cues[n]
    if cue.end < _limit(cues, n, media_duration, rules) - TOLERANCE:
        return True  # room to stay up longer
    return any(_merge_keeps_rules(cues, a, media_duration, rules) for a in (n - 1, n) if 0 <= a < len(cues) - 1)


def _limit(cues: Sequence[Cue], n: int, media_duration: float | None, rules: CueRules) -> float:
    """How long cue n could stay up: until the next cue, the media's end or max_duration."""
    following = cues[n + 1].start if n + 1 < len(cues) else math.inf
    media_end = math.inf if media_duration is None else math.floor(media_duration * 1000 + 1e-6) / 1000  # whole ms
    return min(following, media_end, cues[n].start + rules.max_duration)


def _merge_keeps_rules(cues: Sequence[Cue], a: int, media_duration: float | None, rules: CueRules) -> bool:
    first, second = cues[a], cues[a + 1]
    if first.speaker != second.speaker:
        return False
    words = [*first.text.split(), *second.text.split()]
    laid_out = [f"{first.speaker}:", *words] if first.speaker else words  # SRT's "SPEAKER_1: " has its room
    if _line_count(laid_out, rules.max_line_chars) > rules.max_lines:
        return False
    merged = Cue(first.start, second.end, (" ".join(words),))
    limit = min(_limit(cues, a + 1, media_duration, rules), first.start + rules.max_duration)
    if second.end > limit + TOLERANCE:
        return False  # its words run past 7 s from the first cue's start
    # Lines would break once more at most: one space fewer to read per break.
    chars = len(merged.text) - (_line_count(words, rules.max_line_chars) - 1)
    needed = max(rules.min_duration, chars / rules.max_chars_per_second)
    return first.start + needed <= limit + TOLERANCE


def _line_count(words: Sequence[str], width: int) -> int:
    lines, length = 0, 0
    for word in words:
        if lines and length + 1 + len(word) <= width:
            length += 1 + len(word)
        else:
            lines, length = lines + 1, len(word)
    return lines

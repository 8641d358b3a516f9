"""Captions from timed words: cue building plus SRT, WebVTT and Audacity label formats.

Whisper gives words with times; viewers need cues they can read. `build_cues` groups words
into cues that respect line length, line count, time on screen and reading speed, and breaks
where a subtitler would: sentence ends, clause boundaries, pauses and speaker changes.
Cutting words into cues is a small dynamic program: hard limits say which runs of words may
form a cue, and a cost ranks the rest (reading speed, time on screen, break quality), so the
chosen cuts are the best overall rather than the first that fit. A cue too short or too fast
to read costs more than anything else: where staying up into the silence after it (or, up to
LEAD_IN_SECONDS, before it) cannot make it readable, it merges with a neighbour, across a
pause if need be. Cue times are whole milliseconds, the resolution of SRT and WebVTT, so what
is written is exactly what was built. Other formats are in caption_formats.
Standard library only. One file of about 520 lines on purpose: the cue rules, their cost and
the writers that format the cues they make change together.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal

PAUSE_SECONDS = 1.0  # a silence this long between words ends a cue, unless the cue rules need otherwise
# A cue blocked by the next one may appear this much before its first word, in the silence
# before it, to stay up long enough to be read.
LEAD_IN_SECONDS = 0.5
MIN_SENTENCE_FILL = 1 / 3  # share of a cue's capacity from which a sentence end closes it
SENTENCE_END = (".", "?", "!", "…")
CLAUSE_END = (",", ";", ":")
CONJUNCTIONS = frozenset({"and", "but", "or", "so", "because", "that", "which"})
# Words that lean on the next one: a line or cue should not end on them.
WEAK_ENDINGS = CONJUNCTIONS | {
    "a",
    "an",
    "the",
    "of",
    "to",
    "in",
    "on",
    "at",
    "for",
    "with",
    "my",
    "your",
}
_CLOSERS = "\"'”’»)]"  # `end."` still ends a sentence
_WORD_CHARACTER = re.compile(r"\w")

# Cue costs, in units of about one character. A cue costs CUE_COST, so the cheapest split is
# into few cues, cut where the bonuses are; a sentence end is worth more than a cue, so a long
# enough sentence ends its cue even when the next words would still fit.
CUE_COST = 20.0
CUE_BREAK_BONUS = {"sentence": 40.0, "clause": 12.0, "conjunction": 8.0, "weak": -8.0}
FILL_PENALTY = 10.0  # squared share of unused capacity: prefers even cues to a full one and a scrap
READING_PENALTY = 25.0  # per character beyond max_chars_per_second: more than a cut costs
SHORT_PENALTY = 40.0  # per second a cue cannot stay up for min_duration
ONE_WORD_PENALTY = 15.0
# A cue too short or too fast to read costs more than anything else, a cue across a pause
# more than all a merge could gain in style: cues span a pause only where that keeps them
# readable, the shortest pause first.
RULE_PENALTY = 200.0
PAUSE_PENALTY = 60.0
PAUSE_SECOND_PENALTY = 10.0  # per second of the pause beyond PAUSE_SECONDS
MAX_PAUSE_PENALTY = 100.0

# Line costs, in characters of imbalance between the lines.
LINE_BREAK_BONUS = {"sentence": 16.0, "clause": 12.0, "conjunction": 8.0, "weak": -8.0}
TOP_HEAVY_WEIGHT = 1.5  # a top line longer than the bottom reads worse than the reverse
ORPHAN_PENALTY = 50.0  # a one-word line looks like a mistake
MIN_CUE_SECONDS = 0.001  # the resolution of SRT and WebVTT times
_EPS = 1e-9

_SRT_TIMING = re.compile(r"^\s*((?:\d+:)?\d{1,2}:\d{1,2}[,.]\d{1,3})\s*-->\s*((?:\d+:)?\d{1,2}:\d{1,2}[,.]\d{1,3})")


@dataclass(frozen=True)
class TimedWord:
    text: str  # as Whisper decodes it, usually with a leading space (" Hello,")
    start: float  # seconds from the media start
    end: float
    speaker: str | None = None  # speaker label when diarization ran
    probability: float | None = None  # the model's confidence, 0 to 1, when it gave one


@dataclass(frozen=True)
class CueRules:
    max_line_chars: int = 42
    max_lines: int = 2
    min_duration: float = 1.0  # seconds on screen
    max_duration: float = 7.0
    max_chars_per_second: float = 20.0

    def validate(self) -> None:
        """Raise ValueError naming the first nonsense value."""
        for name in ("max_line_chars", "max_lines"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        for name in ("min_duration", "max_duration", "max_chars_per_second"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
                raise ValueError(f"{name} must be a finite number, got {value!r}")
        if self.min_duration < 0:
            raise ValueError(f"min_duration must not be negative, got {self.min_duration!r}")
        if self.max_duration < MIN_CUE_SECONDS:  # cue times are whole milliseconds
            raise ValueError(f"max_duration must be at least {MIN_CUE_SECONDS} s, got {self.max_duration!r}")
        if self.min_duration > self.max_duration:
            raise ValueError(
                f"min_duration ({self.min_duration!r}) must not exceed max_duration ({self.max_duration!r})"
            )
        if self.max_chars_per_second <= 0:
            raise ValueError(f"max_chars_per_second must be positive, got {self.max_chars_per_second!r}")


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    lines: tuple[str, ...]
    speaker: str | None = None
    # The words shown, as build_cues cleaned them, for formats that time each word (karaoke,
    # JSON); empty for cues read from a file. Not part of equality: a cue is what it shows.
    words: tuple[TimedWord, ...] = field(default=(), compare=False, repr=False)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


# --- building cues ---------------------------------------------------------------------------


def build_cues(
    words: Iterable[TimedWord],
    media_duration: float | None = None,
    rules: CueRules = CueRules(),
    *,
    not_before: float = 0.0,
    next_start: float = math.inf,
) -> list[Cue]:
    """Group timed words into readable cues; see the module docstring for the rules. Words cued
    in parts (live captions) give each part the cues around it: `not_before`, where the cue
    before ended (no cue starts earlier), and `next_start`, where the words after begin (the
    last cue stays up no longer), so the parts join as if built at once."""
    rules.validate()
    if media_duration is not None and not (math.isfinite(media_duration) and media_duration >= 0):
        raise ValueError(f"media_duration must be a finite number >= 0, got {media_duration!r}")
    # Cue ends may not pass the last whole millisecond of the media.
    horizon = math.inf if media_duration is None else _ms(media_duration, ROUND_FLOOR) / 1000
    groups = _group(_clean(words, media_duration), rules, horizon)
    return _time_cues(groups, rules, horizon, not_before, next_start)


def cues_from_segments(
    segments: Iterable[tuple[float, float, str, str | None]],
    media_duration: float | None = None,
    rules: CueRules = CueRules(),
) -> list[Cue]:
    """Cues from (start, end, text, speaker) segments when there are no word times.

    Each segment's time is spread over its words in proportion to their length, so a long
    segment splits into cues at the points where it was most likely spoken.
    """
    words: list[TimedWord] = []
    for start, end, text, speaker in segments:
        pieces = text.split()
        if not pieces or not (math.isfinite(start) and math.isfinite(end)):
            continue
        span = max(end - start, 0.0)
        total = sum(map(len, pieces))
        said, at = 0, start
        for piece in pieces:
            said += len(piece)
            until = start + span * said / total
            words.append(TimedWord(piece, at, until, speaker))
            at = until
    return build_cues(words, media_duration, rules)


def _clean(words: Iterable[TimedWord], media_duration: float | None) -> list[TimedWord]:
    """Normalized text, times clamped into the media and made non-decreasing, empty words gone."""
    cleaned: list[TimedWord] = []
    floor = 0.0  # keeps starts in order without reordering text the model emitted out of order
    for word in words:
        text = " ".join(word.text.split())
        if not text or not (math.isfinite(word.start) and math.isfinite(word.end)):
            continue
        if cleaned and (is_mark(text) or _continues(word.text)):
            cleaned[-1] = _joined(cleaned[-1], text, word, media_duration)
            continue
        start = max(word.start, floor)
        if media_duration is not None and start >= media_duration:
            continue  # entirely past the end: the model hallucinated it
        end = max(word.end, start)
        if media_duration is not None:
            end = min(end, media_duration)
        cleaned.append(TimedWord(text, start, end, word.speaker or None, word.probability))
        floor = start
    return cleaned


def _continues(raw: str) -> bool:
    """Whether a word as decoded belongs to the one before: no space before it, and it starts
    with a mark, as Whisper splits "www.Marxists.org" into " www", ".Marxists", ".org"."""
    return bool(raw) and not raw[0].isspace() and not _WORD_CHARACTER.match(raw[0])


def _joined(previous: TimedWord, text: str, word: TimedWord, media_duration: float | None) -> TimedWord:
    """`previous` with `text` appended; a mark sent alone (as live streams send the one that
    ends a word) adds no time, a word's rest lasts until it ends."""
    end = previous.end if is_mark(text) else max(previous.end, word.end)
    if media_duration is not None:
        end = min(end, media_duration)
    sure = [p for p in (previous.probability, word.probability) if p is not None]
    return TimedWord(previous.text + text, previous.start, end, previous.speaker, min(sure) if sure else None)


def _group(words: Sequence[TimedWord], rules: CueRules, horizon: float) -> list[list[TimedWord]]:
    """Split words into cues at the cheapest set of cut points (dynamic programming).

    Hard limits (speaker, lines, max_duration) decide which runs of words may form a cue at
    all; `_cue_cost` ranks the rest, so one fast phrase or a badly placed cut cannot force bad
    cues later on, as a greedy fill would.
    """
    n = len(words)
    best = [0.0] + [math.inf] * n  # best[b]: cheapest cost of cutting words[:b] into cues
    back = [0] * (n + 1)
    busy = [0.0] * (n + 1)  # busy[b]: until when the last of those cues wants to stay up
    for a in range(n):
        # SRT puts "SPEAKER_1: " before the first line: its room is kept there, and it is read.
        prefix = _speaker_prefix(words[a])
        lines, length = (1, len(prefix)) if prefix else (0, 0)
        chars, pauses = len(prefix) if prefix else -1, 0.0
        # It may start early into the silence the cue before leaves (_time_cues decides).
        start = words[a].start - min(LEAD_IN_SECONDS, max(0.0, words[a].start - busy[a]))
        for b in range(a + 1, n + 1):
            word = words[b - 1]
            if b - 1 > a and not _may_join(words[a], word, words[b] if b < n else None, rules):
                break
            silence = word.start - words[b - 2].end if b - 1 > a else 0.0
            if silence >= PAUSE_SECONDS:
                pauses += min(MAX_PAUSE_PENALTY, PAUSE_PENALTY + PAUSE_SECOND_PENALTY * (silence - PAUSE_SECONDS))
            if lines and length + 1 + len(word.text) <= rules.max_line_chars:
                length += 1 + len(word.text)
            else:  # greedy filling gives the fewest lines for a fixed word order
                lines, length = lines + 1, len(word.text)
            if lines > rules.max_lines:
                break
            chars += 1 + len(word.text)
            shown = chars - (lines - 1)  # line breaks are not read
            until = words[b].start if b < n else horizon  # it may stay up until the next word
            available = min(rules.max_duration, until - start)
            cost = best[a] + _cue_cost(words, a, b, shown, available, rules) + pauses
            if cost <= best[b]:  # on ties, the later start: fuller early cues
                wanted = words[a].start + max(rules.min_duration, shown / rules.max_chars_per_second)
                best[b], back[b], busy[b] = cost, a, min(until, max(word.end, wanted))
    groups: list[list[TimedWord]] = []
    b = n
    while b:
        groups.append(list(words[back[b] : b]))
        b = back[b]
    return groups[::-1]


def _speaker_prefix(word: TimedWord) -> str:
    return f"{word.speaker}:" if word.speaker else ""


def _may_join(first: TimedWord, word: TimedWord, following: TimedWord | None, rules: CueRules) -> bool:
    """Whether `word` may extend the cue that starts with `first`. A word is shown only until
    the next one starts, however long the model says it lasts."""
    end = word.end if following is None else min(word.end, max(following.start, word.start))
    return word.speaker == first.speaker and end - first.start <= rules.max_duration + _EPS


def _cue_cost(words: Sequence[TimedWord], a: int, b: int, shown: int, available: float, rules: CueRules) -> float:
    """Cost of making words[a:b] one cue of `shown` characters that can stay up `available`
    seconds (pauses aside)."""
    following = words[b] if b < len(words) else None
    capacity = rules.max_lines * rules.max_line_chars
    cost = CUE_COST + FILL_PENALTY * max(0.0, 1 - shown / capacity) ** 2
    # Counting the space after the cue too keeps cuts from looking like a cure for fast speech.
    cost += READING_PENALTY * max(0.0, shown + 1 - rules.max_chars_per_second * available)
    cost += SHORT_PENALTY * max(0.0, rules.min_duration - available)
    if available < rules.min_duration - MIN_CUE_SECONDS or shown > rules.max_chars_per_second * available + _EPS:
        cost += RULE_PENALTY
    if b - a == 1:
        cost += ONE_WORD_PENALTY
    if following is not None:
        kind = _break_kind(words[b - 1].text, following.text)
        if kind == "sentence" and shown < MIN_SENTENCE_FILL * capacity:
            kind = "clause"  # a short sentence is a fine place to cut, not a reason to
        cost -= CUE_BREAK_BONUS.get(kind, 0.0)
    return cost


def _time_cues(
    groups: list[list[TimedWord]], rules: CueRules, horizon: float, not_before: float = 0.0, after: float = math.inf
) -> list[Cue]:
    """Times for each group: from its first word, extended toward min_duration and reading
    speed, never into the next cue, past max_duration or past the media; where that is not
    enough, starting up to LEAD_IN_SECONDS early, never into the cue before."""
    cues: list[Cue] = []
    horizon_ms = math.inf if horizon == math.inf else _ms(horizon)
    longest_ms = _ms(rules.max_duration, ROUND_FLOOR)
    free_ms = _ms(not_before)  # where the previous cue ended
    for n, group in enumerate(groups):
        prefix = _speaker_prefix(group[0])
        lines = _layout([prefix, *(w.text for w in group)] if prefix else [w.text for w in group], rules)
        if prefix:  # the room is kept, the label is written by the format (names may replace it)
            lines = tuple(line for line in (lines[0][len(prefix) :].lstrip(), *lines[1:]) if line)
        next_start = groups[n + 1][0].start if n + 1 < len(groups) else min(after, horizon)
        # In whole milliseconds, at least one, so words the model gave no duration (a speaker
        # turn at one instant) keep a cue; the next cue then starts that millisecond later.
        # Reading time rounds up, so a cue extended for it is never a hair too fast.
        start_ms = max(_ms(group[0].start), free_ms)
        wanted_ms = max(
            _ms(group[-1].end),
            start_ms + _ms(rules.min_duration, ROUND_CEILING),
            start_ms
            + _ms((sum(map(len, lines)) + len(prefix) + bool(prefix)) / rules.max_chars_per_second, ROUND_CEILING),
        )
        next_ms = math.inf if next_start == math.inf else _ms(next_start)
        end_ms = max(min(wanted_ms, next_ms, start_ms + longest_ms), start_ms + 1)
        end_ms = min(end_ms, start_ms + longest_ms, horizon_ms)
        lead_ms = min(wanted_ms - end_ms, _ms(LEAD_IN_SECONDS), start_ms - free_ms, start_ms + longest_ms - end_ms)
        start_ms -= max(lead_ms, 0)
        if end_ms <= start_ms:
            continue  # starts at the very end of the media
        cues.append(Cue(start_ms / 1000, end_ms / 1000, lines, group[0].speaker, tuple(group)))
        free_ms = end_ms
    return cues


# --- line layout -----------------------------------------------------------------------------


def is_mark(text: str) -> bool:
    """Punctuation alone, as a live stream sends the mark that ends the word before it."""
    return bool(text) and not _WORD_CHARACTER.search(text)


def layout_lines(text: str, rules: CueRules = CueRules()) -> tuple[str, ...]:
    """A cue's text broken into lines as build_cues breaks them: the fewest lines of at most
    max_line_chars, balanced, at the best places (for text from elsewhere, such as a label)."""
    rules.validate()
    words = text.split()
    return _layout(words, rules) if words else ()


def _line_count(texts: Sequence[str], width: int) -> int:
    """Fewest lines for words in this order (greedy filling is optimal for that)."""
    lines, length = 0, 0
    for text in texts:
        if lines and length + 1 + len(text) <= width:
            length += 1 + len(text)
        else:
            lines, length = lines + 1, len(text)
    return lines


def _layout(texts: list[str], rules: CueRules) -> tuple[str, ...]:
    """Split words into the fewest lines, choosing break points by balance and language.

    Dynamic programming over (words placed, lines used); each line's cost is its distance
    from the average length, heavier for a top line that is too long, minus the bonus of
    the break after it.
    """
    width = rules.max_line_chars
    count = _line_count(texts, width)
    if count == 1:
        return (" ".join(texts),)
    total = sum(map(len, texts)) + len(texts) - 1
    target = (total - (count - 1)) / count
    offsets = [0]
    for text in texts:
        offsets.append(offsets[-1] + len(text))

    # best[(placed, used)] = (cost, placed before this line)
    best: dict[tuple[int, int], tuple[float, int]] = {(0, 0): (0.0, 0)}
    for used in range(1, count + 1):
        last = used == count
        for stop in range(used, len(texts) + 1):
            if last and stop != len(texts):
                continue
            for begin in range(stop - 1, -1, -1):
                length = offsets[stop] - offsets[begin] + (stop - begin - 1)
                if length > width and stop - begin > 1:
                    break  # starting earlier only makes the line longer
                if (begin, used - 1) not in best:
                    continue
                cost = best[(begin, used - 1)][0] + abs(length - target)
                if not last and length > target:
                    cost += (TOP_HEAVY_WEIGHT - 1) * (length - target)
                if stop - begin == 1 and len(texts) > 1:
                    cost += ORPHAN_PENALTY
                if not last:
                    cost -= LINE_BREAK_BONUS.get(_break_kind(texts[stop - 1], texts[stop]), 0.0)
                if (stop, used) not in best or cost < best[(stop, used)][0]:
                    best[(stop, used)] = (cost, begin)

    lines: list[str] = []
    stop, used = len(texts), count
    while used:
        begin = best[(stop, used)][1]
        lines.append(" ".join(texts[begin:stop]))
        stop, used = begin, used - 1
    return tuple(reversed(lines))


def _break_kind(before: str, after: str) -> str | None:
    """What kind of break lies between these two words: natural, "weak" (bad) or None."""
    if _ends_with(before, SENTENCE_END):
        return "sentence"
    if _ends_with(before, CLAUSE_END):
        return "clause"
    if _bare(after) in CONJUNCTIONS:
        return "conjunction"
    if _bare(before) in WEAK_ENDINGS:
        return "weak"
    return None


def _bare(word: str) -> str:
    return word.strip(_CLOSERS + ".,;:?!…").lower()


def _ends_with(text: str, marks: tuple[str, ...]) -> bool:
    return text.rstrip(_CLOSERS).endswith(marks)


# --- formats ---------------------------------------------------------------------------------


def format_timestamp(seconds: float, *, vtt: bool) -> str:
    """SRT "HH:MM:SS,mmm" or WebVTT "HH:MM:SS.mmm", rounded half up to the millisecond."""
    ms = _ms(seconds)
    if ms < 0:
        raise ValueError(f"a timestamp must not be negative, got {seconds!r}")
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{'.' if vtt else ','}{millis:03d}"


def format_srt(cues: Iterable[Cue], speaker_names: Mapping[str, str] | None = None) -> str:
    blocks = []
    for cue in cues:
        lines = _text_lines(cue)
        if not lines:
            continue  # an empty block would end the file for most readers
        name = _speaker_name(cue, speaker_names)
        if name:
            lines[0] = f"{name}: {lines[0]}"
        timing = f"{format_timestamp(cue.start, vtt=False)} --> {format_timestamp(cue.end, vtt=False)}"
        blocks.append("\n".join([str(len(blocks) + 1), timing, *lines]))
    return "\n\n".join(blocks) + "\n" if blocks else ""


def format_vtt(cues: Iterable[Cue], speaker_names: Mapping[str, str] | None = None) -> str:
    return vtt_document(cues, speaker_names, lambda cue: [_vtt_escape(line) for line in _text_lines(cue)])


def vtt_document(
    cues: Iterable[Cue], speaker_names: Mapping[str, str] | None, cue_lines: Callable[[Cue], list[str]]
) -> str:
    """WebVTT of the cues, each with the (escaped) lines `cue_lines` gives and a voice tag for
    its speaker; a cue without lines is left out."""
    blocks = []
    for cue in cues:
        lines = cue_lines(cue)
        if not lines:
            continue
        name = _speaker_name(cue, speaker_names)
        if name:
            lines[0] = f"<v {_vtt_escape(name)}>{lines[0]}"
        timing = f"{format_timestamp(cue.start, vtt=True)} --> {format_timestamp(cue.end, vtt=True)}"
        blocks.append("\n".join([timing, *lines]))
    return "WEBVTT\n\n" + ("\n\n".join(blocks) + "\n" if blocks else "")


def format_audacity_labels(cues: Iterable[Cue], speaker_names: Mapping[str, str] | None = None) -> str:
    """Audacity label track text: "start<TAB>end<TAB>text", one label per line."""
    rows = []
    for cue in cues:
        text = " ".join(_text_lines(cue))
        name = _speaker_name(cue, speaker_names)
        if name:
            text = f"{name}: {text}"
        rows.append(f"{cue.start:.6f}\t{cue.end:.6f}\t{text}")
    return "".join(row + "\n" for row in rows)


def parse_srt(text: str) -> list[Cue]:
    """Read SRT text back into cues (speaker prefixes stay in the text).

    Tolerates a BOM, CRLF or CR line ends, missing cue numbers, '.' for ',' and blank lines
    inside a cue's text; raises ValueError when text comes before any timing line.
    """
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        return []
    cues: list[tuple[float, float, list[str]]] = []
    for number, block in enumerate(re.split(r"\n\s*\n", text.strip()), start=1):
        lines = [line.rstrip() for line in block.split("\n")]
        timing_at = next((i for i, line in enumerate(lines[:2]) if _SRT_TIMING.match(line)), None)
        if timing_at is None:
            if not cues:
                raise ValueError(f"SRT block {number} has no 'start --> end' line: {lines[0]!r}")
            cues[-1][2].extend(lines)  # a blank line inside the previous cue's text
            continue
        match = _SRT_TIMING.match(lines[timing_at])
        cues.append((_parse_time(match[1]), _parse_time(match[2]), lines[timing_at + 1 :]))
    return [Cue(start, end, tuple(line for line in lines if line)) for start, end, lines in cues]


def _parse_time(stamp: str) -> float:
    clock, fraction = re.split(r"[,.]", stamp)
    seconds = 0
    for part in clock.split(":"):
        seconds = seconds * 60 + int(part)
    return (seconds * 1000 + int(fraction.ljust(3, "0"))) / 1000


def _text_lines(cue: Cue) -> list[str]:
    """The cue's non-blank lines, whitespace collapsed, so no line can break the file format."""
    return [" ".join(part.split()) for line in cue.lines for part in line.splitlines() if part.strip()]


def _speaker_name(cue: Cue, speaker_names: Mapping[str, str] | None) -> str | None:
    if cue.speaker is None:
        return None
    name = (speaker_names or {}).get(cue.speaker, cue.speaker)
    return " ".join(name.split()) or None


def _vtt_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _ms(seconds: float, rounding: str = ROUND_HALF_UP) -> int:
    """Whole milliseconds; via the float's shortest decimal form so 1.0005 rounds to 1001."""
    if not math.isfinite(seconds):
        raise ValueError(f"a time must be finite, got {seconds!r}")
    return int(Decimal(repr(float(seconds))).scaleb(3).to_integral_value(rounding))


# Subtitle formats by file suffix, for every writer of subtitle files.
WRITERS = {".srt": format_srt, ".vtt": format_vtt}

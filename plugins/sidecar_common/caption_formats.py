"""The caption formats editors use besides SRT and WebVTT: styled ASS with karaoke timing,
WebVTT with word timestamps, JSON with every word, and plain text.

Each writer takes cues from `subtitles.build_cues` and optional speaker display names, as the
writers in `subtitles` do. Word timing comes from `Cue.words`; a cue whose words do not spell
its lines (read from a file, or translated) is written without it. Standard library only.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence

from sidecar_common.subtitles import (
    Cue,
    TimedWord,
    _ms,
    _speaker_name,
    _text_lines,
    _vtt_escape,
    format_timestamp,
    vtt_document,
)

PARAGRAPH_PAUSE = 2.0  # seconds between cues from which plain text starts a new paragraph

# 1080p canvas, white text on a dark outline at the bottom centre; karaoke turns each word from
# grey to white as it is said. Colours are &HAABBGGRR.
ASS_HEADER = """[Script Info]
; Written by audio-sidecar (sidecar subtitle)
ScriptType: v4.00+
PlayResX: 1920
PlayResY: 1080
WrapStyle: 2
ScaledBorderAndShadow: yes

[V4+ Styles]
Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, \
Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, \
Alignment, MarginL, MarginR, MarginV, Encoding
Style: Default,Arial,64,&H00FFFFFF,&H00B4B4B4,&H00000000,&H80000000,0,0,0,0,100,100,0,0,1,3,1,2,96,96,60,1

[Events]
Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text
"""


def line_words(cue: Cue) -> list[list[TimedWord]] | None:
    """The cue's words line by line, or None when they do not spell its lines."""
    words, lines = list(cue.words), []
    for line in _text_lines(cue):
        taken: list[TimedWord] = []
        while words and len(" ".join(w.text for w in taken)) < len(line):
            taken.append(words.pop(0))
        if not taken or " ".join(w.text for w in taken) != line:
            return None
        lines.append(taken)
    return lines if lines and not words else None


# --- ASS --------------------------------------------------------------------------------------


def format_ass(cues: Iterable[Cue], speaker_names: Mapping[str, str] | None = None) -> str:
    """Advanced SubStation Alpha (v4+), one Dialogue per cue, with {\\k} karaoke tags in
    centiseconds from the word times; the speaker's name in the Name field and before the text."""
    events = []
    for cue in cues:
        lines = _text_lines(cue)
        if not lines:
            continue
        name = _speaker_name(cue, speaker_names)
        timed = line_words(cue)
        text = r"\N".join(_ass_escape(line) for line in lines) if timed is None else _karaoke(cue, timed)
        if name:
            text = f"{_ass_escape(name)}: {text}"
        actor = (name or "").replace(",", ";")  # fields are comma-separated; the text comes last
        events.append(f"Dialogue: 0,{_ass_time(cue.start)},{_ass_time(cue.end)},Default,{actor},0,0,0,,{text}")
    return ASS_HEADER + "".join(event + "\n" for event in events)


def _karaoke(cue: Cue, timed: Sequence[Sequence[TimedWord]]) -> str:
    """Each word after a {\\k} tag holding it for its duration; silence between words gets a
    tag of its own. Counted in whole centiseconds from the cue's start, so rounding never drifts."""
    at = _cs(cue.start)
    lines = []
    for words in timed:
        parts = []
        for n, word in enumerate(words):
            begin = max(_cs(word.start), at)
            if begin > at:
                parts.append(f"{{\\k{begin - at}}}")
            end = max(_cs(word.end), begin)
            space = " " if n + 1 < len(words) else ""
            parts.append(f"{{\\k{end - begin}}}{_ass_escape(word.text)}{space}")
            at = end
        lines.append("".join(parts))
    return r"\N".join(lines)


def _cs(seconds: float) -> int:
    return (_ms(seconds) + 5) // 10


def _ass_time(seconds: float) -> str:
    """H:MM:SS.cc, rounded half up to the centisecond."""
    cs = _cs(seconds)
    hours, rest = divmod(cs, 360_000)
    minutes, rest = divmod(rest, 6000)
    secs, cents = divmod(rest, 100)
    return f"{hours}:{minutes:02d}:{secs:02d}.{cents:02d}"


def _ass_escape(text: str) -> str:
    """Braces would open an override block and a backslash an escape (\\N): shown as text."""
    return text.replace("\\", "\\\u2060").replace("{", "\\{").replace("}", "\\}")


# --- WebVTT with word timestamps --------------------------------------------------------------


def format_vtt_words(cues: Iterable[Cue], speaker_names: Mapping[str, str] | None = None) -> str:
    """WebVTT whose cues carry a timestamp tag before each word (`<00:00:01.500>`), so players
    that support them (browsers' ::cue(:past), YouTube) highlight words as they are said; others
    show the text as plain WebVTT. Tags are strictly increasing and inside the cue, as the
    WebVTT spec requires: a word said at the same millisecond as the one before gets none."""
    return vtt_document(cues, speaker_names, _word_timed_lines)


def _word_timed_lines(cue: Cue) -> list[str]:
    timed = line_words(cue)
    if timed is None:
        return [_vtt_escape(line) for line in _text_lines(cue)]
    lines, last = [], _ms(cue.start)
    for words in timed:
        parts = []
        for word in words:
            at = _ms(word.start)
            tag = ""
            if last < at < _ms(cue.end):
                tag, last = f"<{format_timestamp(at / 1000, vtt=True)}>", at
            parts.append(tag + _vtt_escape(word.text))
        lines.append(" ".join(parts))
    return lines


# --- JSON -------------------------------------------------------------------------------------


def format_json(cues: Iterable[Cue], speaker_names: Mapping[str, str] | None = None) -> str:
    """{"cues": [{"start", "end", "text", "lines", "speaker", "speaker_label", "words": [{"text",
    "start", "end", "probability"}]}]}: times in seconds (whole milliseconds), the speaker's
    display name and label (null without diarization), the words empty when not known."""
    out = []
    for cue in cues:
        lines = _text_lines(cue)
        if not lines:
            continue
        timed = line_words(cue) or []
        out.append(
            {
                "start": _ms(cue.start) / 1000,
                "end": _ms(cue.end) / 1000,
                "text": " ".join(lines),
                "lines": lines,
                "speaker": _speaker_name(cue, speaker_names),
                "speaker_label": cue.speaker,
                "words": [
                    {
                        "text": w.text,
                        "start": _ms(w.start) / 1000,
                        "end": _ms(w.end) / 1000,
                        "probability": None if w.probability is None else round(w.probability, 4),
                    }
                    for words in timed
                    for w in words
                ],
            }
        )
    return json.dumps({"cues": out}, ensure_ascii=False, indent=2) + "\n"


# --- plain text -------------------------------------------------------------------------------


def format_text(cues: Iterable[Cue], speaker_names: Mapping[str, str] | None = None) -> str:
    """The words as running text: one paragraph per speaker turn or after a pause of
    PARAGRAPH_PAUSE, the speaker's name first ("Ann: ..."), no line breaks inside."""
    paragraphs: list[list[str]] = []
    previous: Cue | None = None
    for cue in cues:
        lines = _text_lines(cue)
        if not lines:
            continue
        new_turn = previous is None or cue.speaker != previous.speaker
        if new_turn or cue.start - previous.end >= PARAGRAPH_PAUSE:
            name = _speaker_name(cue, speaker_names)
            paragraphs.append([f"{name}:"] if name else [])
        paragraphs[-1].extend(lines)
        previous = cue
    return "".join(" ".join(words) + "\n\n" for words in paragraphs).removesuffix("\n")

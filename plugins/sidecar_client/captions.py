"""Captions from a transcript: shared by the CLI and the plugins.

Standard library and sidecar_common.subtitles only (itself standard library only).
"""

from __future__ import annotations

from sidecar_client.client import Transcript
from sidecar_common import subtitles
from sidecar_common.durations import seconds, span


def cues_for(transcript: Transcript, rules: subtitles.CueRules | None = None) -> list[subtitles.Cue]:
    """Cues from word timings when the server sent them, else from whole segments; by the
    default CueRules unless `rules` are given."""
    rules = rules or subtitles.CueRules()
    duration = seconds(transcript.info.audio_duration) if transcript.info else None
    words = [
        # Text as decoded, leading space and all: a word without one continues the word before.
        subtitles.TimedWord(w.text, *span(w.time_range), w.speaker_label or None, w.probability)
        for s in transcript.segments
        for w in s.words
    ]
    if words:
        return subtitles.build_cues(words, media_duration=duration, rules=rules)
    return subtitles.cues_from_segments(
        ((*span(s.time_range), s.text, s.speaker_label or None) for s in transcript.segments),
        media_duration=duration,
        rules=rules,
    )

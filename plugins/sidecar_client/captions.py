"""Captions from a transcript: shared by the CLI and the plugins.

Standard library and sidecar_common.subtitles only (itself standard library only).
"""

from __future__ import annotations

from sidecar_client.client import Transcript
from sidecar_common import subtitles
from sidecar_common.durations import seconds, span


def cues_for(transcript: Transcript) -> list[subtitles.Cue]:
    """Cues from word timings when the server sent them, else from whole segments."""
    duration = seconds(transcript.info.audio_duration) if transcript.info else None
    words = [
        subtitles.TimedWord(w.text, *span(w.time_range), w.speaker_label or None)
        for s in transcript.segments
        for w in s.words
    ]
    if words:
        return subtitles.build_cues(words, media_duration=duration)
    return subtitles.cues_from_segments(
        ((*span(s.time_range), s.text, s.speaker_label or None) for s in transcript.segments), media_duration=duration
    )

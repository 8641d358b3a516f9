"""DiarizationOptions <-> the engine's options, for DiarizeFile and for the speaker labels
TranscribeFile adds (one mapping, so the two services cannot drift apart)."""

from __future__ import annotations

from sidecar.engines import diarization as engine
from sidecar.errors import InvalidOptionsError
from sidecar.v1 import diarization_pb2 as pb

_BACKENDS = {
    pb.DIARIZATION_BACKEND_UNSPECIFIED: engine.OFFLINE,
    pb.DIARIZATION_BACKEND_OFFLINE: engine.OFFLINE,
    pb.DIARIZATION_BACKEND_PYANNOTE: engine.PYANNOTE,
}
BACKEND_ENUMS = {engine.OFFLINE: pb.DIARIZATION_BACKEND_OFFLINE, engine.PYANNOTE: pb.DIARIZATION_BACKEND_PYANNOTE}


def options_from_proto(o: pb.DiarizationOptions) -> engine.DiarizationOptions:
    """Checked engine options; unknown enum values and out-of-range counts are refused."""
    if o.backend not in _BACKENDS:
        raise InvalidOptionsError(f"unknown diarization backend {o.backend}")
    options = engine.DiarizationOptions(
        backend=_BACKENDS[o.backend],
        model=o.model or None,
        speaker_count=o.speaker_count or None,
        min_speakers=o.min_speaker_count or None,
        max_speakers=o.max_speaker_count or None,
    )
    options.validate()
    return options


def options_for_transcript(o) -> engine.DiarizationOptions | None:
    """The diarization a TranscriptionOptions asks for, or None when it asks for none."""
    if not o.HasField("diarization"):
        return None
    if o.HasField("word_timestamps") and not o.word_timestamps:
        raise InvalidOptionsError("diarization labels words, so it needs word_timestamps")
    return options_from_proto(o.diarization)

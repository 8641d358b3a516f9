"""DiarizationOptions <-> the engine's options, for DiarizeFile and for the speaker labels
TranscribeFile adds (one mapping, so the two services cannot drift apart)."""

from __future__ import annotations

from sidecar.engines import diarization as engine
from sidecar.errors import InvalidOptionsError
from sidecar.runtime.voices import SpeakerStore
from sidecar.server.upload import decode_inline
from sidecar.v1 import diarization_pb2 as pb

_BACKENDS = {
    pb.DIARIZATION_BACKEND_UNSPECIFIED: engine.OFFLINE,
    pb.DIARIZATION_BACKEND_OFFLINE: engine.OFFLINE,
    pb.DIARIZATION_BACKEND_PYANNOTE: engine.PYANNOTE,
}
BACKEND_ENUMS = {engine.OFFLINE: pb.DIARIZATION_BACKEND_OFFLINE, engine.PYANNOTE: pb.DIARIZATION_BACKEND_PYANNOTE}


MAX_REFERENCES = 16  # reference audio sent with one request
MAX_REFERENCE_UPLOAD_SECONDS = 600.0  # decoded at most; the first MAX_SPEAKER_REFERENCE_SECONDS are used


def options_from_proto(o: pb.DiarizationOptions, speakers: SpeakerStore | None = None) -> engine.DiarizationOptions:
    """Checked engine options; unknown enum values and out-of-range counts are refused. Known
    speakers come from the request's references and from `speakers`, the enrolled ones."""
    if o.backend not in _BACKENDS:
        raise InvalidOptionsError(f"unknown diarization backend {o.backend}")
    if len(o.speaker_references) > MAX_REFERENCES:
        raise InvalidOptionsError(f"{len(o.speaker_references)} speaker references sent; at most {MAX_REFERENCES}")
    options = engine.DiarizationOptions(
        backend=_BACKENDS[o.backend],
        model=o.model or None,
        speaker_count=o.speaker_count or None,
        min_speakers=o.min_speaker_count or None,
        max_speakers=o.max_speaker_count or None,
        known_speakers=tuple(_references(o)) + tuple(_enrolled(o, speakers)),
        name_threshold=o.name_threshold or None,
    )
    options.validate()
    return options


def _references(o: pb.DiarizationOptions):
    for reference in o.speaker_references:
        audio = decode_inline(
            reference.audio_format,
            reference.audio_content,
            engine.SAMPLE_RATE,
            MAX_REFERENCE_UPLOAD_SECONDS,
            f"the reference audio of {reference.name[:50]!r}",
        )
        yield engine.KnownSpeaker(reference.name, audio.mono())


def _enrolled(o: pb.DiarizationOptions, speakers: SpeakerStore | None):
    if len(o.known_speaker_ids) > engine.MAX_KNOWN_SPEAKERS:
        raise InvalidOptionsError(f"{len(o.known_speaker_ids)} known speaker ids given; at most 64")
    if not (o.name_enrolled_speakers or o.known_speaker_ids):
        return
    if speakers is None:
        raise InvalidOptionsError("this call cannot name enrolled speakers")
    ids = list(o.known_speaker_ids) or [r.speaker_id for r in speakers.list()]
    for speaker_id in dict.fromkeys(ids):
        record, arrays = speakers.get(speaker_id)
        yield engine.KnownSpeaker(record.name, arrays["audio"])


def options_for_transcript(o, speakers: SpeakerStore | None = None) -> engine.DiarizationOptions | None:
    """The diarization a TranscriptionOptions asks for, or None when it asks for none."""
    if not o.HasField("diarization"):
        return None
    if o.HasField("word_timestamps") and not o.word_timestamps:
        raise InvalidOptionsError("diarization labels words, so it needs word_timestamps")
    return options_from_proto(o.diarization, speakers)

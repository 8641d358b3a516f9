"""Small protobuf <-> domain conversions shared by the servicers."""

from __future__ import annotations

from google.protobuf import duration_pb2

from sidecar.media import audio as media
from sidecar.v1 import audio_pb2

_PCM_ENCODINGS = {
    audio_pb2.AUDIO_ENCODING_PCM_S16LE: media.PCM_S16LE,
    audio_pb2.AUDIO_ENCODING_PCM_F32LE: media.PCM_F32LE,
}
_PCM_ENUMS = {v: k for k, v in _PCM_ENCODINGS.items()}


def duration(seconds: float) -> duration_pb2.Duration:
    d = duration_pb2.Duration()
    d.FromNanoseconds(round(max(0.0, seconds) * 1e9))
    return d


def seconds(d: duration_pb2.Duration) -> float:
    return d.seconds + d.nanos / 1e9


def pcm_spec(pcm: audio_pb2.PcmFormat) -> media.PcmSpec:
    return media.PcmSpec(
        encoding=_PCM_ENCODINGS.get(pcm.encoding, audio_pb2.AudioEncoding.Name(pcm.encoding)
                                    if pcm.encoding in audio_pb2.AudioEncoding.values()
                                    else str(pcm.encoding)),
        sample_rate=pcm.sample_rate_hertz,
        channel_count=pcm.channel_count,
    )


def pcm_format(spec: media.PcmSpec) -> audio_pb2.PcmFormat:
    return audio_pb2.PcmFormat(
        encoding=_PCM_ENUMS[spec.encoding],
        sample_rate_hertz=spec.sample_rate,
        channel_count=spec.channel_count,
    )

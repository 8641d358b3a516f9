"""Small protobuf <-> domain conversions shared by the servicers."""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
from google.protobuf import timestamp_pb2

from sidecar.errors import InvalidOptionsError
from sidecar.media import audio as media
from sidecar.v1 import audio_pb2
from sidecar_common.durations import duration, seconds  # noqa: F401 - the servicers' conversions

_PCM_ENCODINGS = {
    audio_pb2.AUDIO_ENCODING_PCM_S16LE: media.PCM_S16LE,
    audio_pb2.AUDIO_ENCODING_PCM_F32LE: media.PCM_F32LE,
}
_PCM_ENUMS = {v: k for k, v in _PCM_ENCODINGS.items()}


def timestamp(epoch_seconds: float) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromNanoseconds(int(epoch_seconds * 1e9))
    return stamp


def time_range(start: float, end: float) -> audio_pb2.TimeRange:
    return audio_pb2.TimeRange(start_offset=duration(start), end_offset=duration(end))


def pcm_spec(pcm: audio_pb2.PcmFormat) -> media.PcmSpec:
    return media.PcmSpec(
        encoding=_PCM_ENCODINGS.get(
            pcm.encoding,
            audio_pb2.AudioEncoding.Name(pcm.encoding)
            if pcm.encoding in audio_pb2.AudioEncoding.values()
            else str(pcm.encoding),
        ),
        sample_rate=pcm.sample_rate_hertz,
        channel_count=pcm.channel_count,
    )


def pcm_format(spec: media.PcmSpec) -> audio_pb2.PcmFormat:
    return audio_pb2.PcmFormat(
        encoding=_PCM_ENUMS[spec.encoding],
        sample_rate_hertz=spec.sample_rate,
        channel_count=spec.channel_count,
    )


def progress(stage: str, done: float, processed: float, total: float | None, started: float) -> audio_pb2.Progress:
    """A Progress message: `done` clamped into 0..1, `total` None while unknown, `started` from
    time.perf_counter() at the call's start."""
    return audio_pb2.Progress(
        stage=stage,
        fraction_done=min(max(done, 0.0), 1.0),
        processed_offset=duration(processed),
        total_duration=duration(total or 0.0),
        elapsed_duration=duration(time.perf_counter() - started),
    )


OUTPUT_CHUNK_BYTES = 512 << 10  # PCM bytes per AudioChunk message, well under 4 MiB


def output_encoding(encoding: int, default: str) -> str:
    """The sample encoding the output is sent in (media.PCM_*)."""
    if encoding == audio_pb2.AUDIO_ENCODING_UNSPECIFIED:
        return default
    name = pcm_spec(audio_pb2.PcmFormat(encoding=encoding)).encoding
    if name not in (media.PCM_S16LE, media.PCM_F32LE):
        raise InvalidOptionsError(f"`output_encoding` {name} is not a PCM encoding the server writes")
    return name


def output_spec(encoding: int, sample_rate: int, channel_count: int) -> media.PcmSpec:
    """The PCM layout of generated audio; float32 unless the request asks for another encoding."""
    spec = media.PcmSpec(output_encoding(encoding, media.PCM_F32LE), sample_rate, channel_count)
    spec.validate()
    return spec


def audio_chunks(samples: np.ndarray, start_frame: int, spec: media.PcmSpec) -> Iterator[audio_pb2.AudioChunk]:
    """Encodes (channels, frames) samples into AudioChunk messages of at most OUTPUT_CHUNK_BYTES."""
    frames_per_chunk = max(1, OUTPUT_CHUNK_BYTES // spec.bytes_per_frame)
    format_ = pcm_format(spec)
    for i in range(0, samples.shape[1], frames_per_chunk):
        yield audio_pb2.AudioChunk(
            format=format_,
            data=media.encode_pcm(samples[:, i : i + frames_per_chunk], spec.encoding),
            start_offset=duration((start_frame + i) / spec.sample_rate),
        )

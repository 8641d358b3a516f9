"""Audio decoding and resampling: every way audio enters the sidecar goes through here.

Encoded files (audio and video containers, ACCEPTED_CONTAINERS) are decoded with PyAV; raw
PCM is checked against its declared format. The result is always float32, shaped
(channels, frames), so engines never see bytes or codecs.

FFmpeg probes every demuxer it has, and some of them open other files or URLs: playlists
(concat, HLS, DASH), session descriptions (SDP, RTSP), image sequences. An upload is bytes, never
a reference to anything else, so only container formats that carry their own audio are
accepted, and no protocol at all may be opened from an upload (a path the caller gave may use
the file protocol and nothing else).
"""

from __future__ import annotations

import dataclasses
import io
import os
from collections.abc import Callable, Iterator
from typing import BinaryIO

import av
import numpy as np

from sidecar.errors import InvalidAudioError, LimitExceededError

# FFmpeg demuxer names of the audio and video containers the sidecar reads.
ACCEPTED_CONTAINERS = (
    "aac", "ac3", "aiff", "amr", "ape", "asf", "au", "avi", "caf", "dsf", "dts", "dtshd", "dv", "eac3", "flac",
    "flv", "gsm", "matroska", "mlp", "mov", "mp3", "mpc", "mpc8", "mpeg", "mpegts", "mxf", "ogg", "tak",
    "truehd", "tta", "voc", "w64", "wav", "wv",
)  # fmt: skip
MIN_SAMPLE_RATE = 1_000
MAX_SAMPLE_RATE = 384_000
MAX_CHANNELS = 8
PCM_S16LE = "s16le"
PCM_F32LE = "f32le"
# A file that decodes to less than this share of its declared duration (less the slack, for
# headers that estimate) was cut short: better a clear error than half a transcript.
TRUNCATION_RATIO = 0.9
TRUNCATION_SLACK_SECONDS = 1.0
_BYTES_PER_SAMPLE = {PCM_S16LE: 2, PCM_F32LE: 4}


@dataclasses.dataclass(frozen=True)
class Audio:
    """Decoded audio: float32 samples shaped (channels, frames)."""

    samples: np.ndarray
    sample_rate: int

    @property
    def channel_count(self) -> int:
        return int(self.samples.shape[0])

    @property
    def frame_count(self) -> int:
        return int(self.samples.shape[1])

    @property
    def duration(self) -> float:
        return self.frame_count / self.sample_rate

    def mono(self) -> np.ndarray:
        """The channels averaged into one 1-D array."""
        if self.channel_count == 1:
            return self.samples[0]
        return self.samples.mean(axis=0, dtype=np.float32)


@dataclasses.dataclass(frozen=True)
class PcmSpec:
    """How raw PCM bytes are laid out."""

    encoding: str  # PCM_S16LE or PCM_F32LE
    sample_rate: int
    channel_count: int

    def validate(self) -> None:
        if self.encoding not in _BYTES_PER_SAMPLE:
            raise InvalidAudioError(f"PCM encoding must be one of {sorted(_BYTES_PER_SAMPLE)}, not {self.encoding!r}")
        if not MIN_SAMPLE_RATE <= self.sample_rate <= MAX_SAMPLE_RATE:
            raise InvalidAudioError(
                f"PCM sample rate {self.sample_rate} Hz is outside {MIN_SAMPLE_RATE}..{MAX_SAMPLE_RATE} Hz"
            )
        if not 1 <= self.channel_count <= MAX_CHANNELS:
            raise InvalidAudioError(f"PCM channel count {self.channel_count} is outside 1..{MAX_CHANNELS}")

    @property
    def bytes_per_frame(self) -> int:
        return _BYTES_PER_SAMPLE[self.encoding] * self.channel_count

    def duration_of(self, byte_count: int) -> float:
        return byte_count / self.bytes_per_frame / self.sample_rate


def check_rate_and_channels(label: str, sample_rate: int, channel_count: int) -> None:
    """The sample-rate and channel limits every decoded input meets (the work per second of
    audio grows with both)."""
    if sample_rate and not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE:
        raise InvalidAudioError(
            f"{label}: its sample rate of {sample_rate} Hz is outside {MIN_SAMPLE_RATE}..{MAX_SAMPLE_RATE} Hz"
        )
    if not 1 <= channel_count <= MAX_CHANNELS:
        raise InvalidAudioError(f"{label}: its channel count of {channel_count} is outside 1..{MAX_CHANNELS}")


def check_whole_frames(byte_count: int, spec: PcmSpec) -> None:
    if byte_count % spec.bytes_per_frame:
        raise InvalidAudioError(
            f"PCM length {byte_count} bytes is not a whole number of frames of "
            f"{spec.bytes_per_frame} bytes ({spec.channel_count} channel(s) of {spec.encoding}): "
            "is the declared channel count or encoding right?"
        )


def decode_pcm(data: bytes, spec: PcmSpec) -> Audio:
    """Reads raw interleaved PCM; rejects partial frames and non-finite samples."""
    spec.validate()
    if not data:
        raise InvalidAudioError("the audio is empty: no PCM bytes were sent")
    check_whole_frames(len(data), spec)
    if spec.encoding == PCM_S16LE:
        samples = np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0
    else:
        samples = np.frombuffer(data, dtype="<f4").astype(np.float32)
        if not np.isfinite(samples).all():
            raise InvalidAudioError("PCM float samples contain NaN or infinity")
    frames = samples.reshape(-1, spec.channel_count).T
    return Audio(np.ascontiguousarray(frames), spec.sample_rate)


def encode_pcm(samples: np.ndarray, encoding: str = PCM_F32LE) -> bytes:
    """Interleaves (channels, frames) float32 samples into PCM bytes."""
    interleaved = np.ascontiguousarray(np.asarray(samples, dtype=np.float32).T)
    if encoding == PCM_F32LE:
        return interleaved.astype("<f4").tobytes()
    if encoding == PCM_S16LE:
        return (np.clip(interleaved, -1.0, 1.0) * 32767.0).round().astype("<i2").tobytes()
    raise InvalidAudioError(f"unknown PCM encoding {encoding!r}")


def decode_file(
    source: str | os.PathLike | BinaryIO | bytes,
    *,
    sample_rate: int | None = None,
    mono: bool = False,
    max_duration: float | None = None,
    name: str = "",
    between_blocks: Callable[[], None] | None = None,
) -> Audio:
    """Decodes the first audio stream of any file FFmpeg reads, whole.

    sample_rate: resample to this rate; None keeps the file's rate.
    mono: average the channels into one.
    max_duration: raise LimitExceededError as soon as more than this many seconds decode.
    name: how to call the input in error messages.
    between_blocks: called after each block (an hour decodes in seconds); it may raise to stop.
    """
    stream = DecodedStream(source, sample_rate=sample_rate, mono=mono, max_duration=max_duration, name=name)
    blocks = []
    for block in stream.blocks():
        blocks.append(block)
        if between_blocks is not None:
            between_blocks()
    return Audio(np.concatenate(blocks, axis=1), stream.sample_rate)


class DecodedStream:
    """Decodes a file block by block, so long media need not fit in memory at once.

    Opening checks the container and the audio stream; blocks() then yields float32
    (channels, frames) arrays of about `block_seconds` each.
    """

    def __init__(
        self,
        source: str | os.PathLike | BinaryIO | bytes,
        *,
        sample_rate: int | None = None,
        mono: bool = False,
        max_duration: float | None = None,
        name: str = "",
    ) -> None:
        self.label = name or (os.fspath(source) if isinstance(source, (str, os.PathLike)) else "the input")
        if isinstance(source, bytes):
            if not source:
                raise InvalidAudioError(f"{self.label} is empty")
            source = io.BytesIO(source)
        self._source = source
        self._mono = mono
        self._max_duration = max_duration
        with self._open() as container:
            stream = self._audio_stream(container)
            self.source_rate = stream.codec_context.sample_rate or stream.rate
            self.source_channels = stream.codec_context.channels or 1
            check_rate_and_channels(self.label, self.source_rate, self.source_channels)
            self.sample_rate = int(sample_rate or self.source_rate or 0)
            if not self.sample_rate:
                raise InvalidAudioError(f"{self.label}: the audio stream declares no sample rate")
            self.channel_count = 1 if mono else self.source_channels
            # The audio stream's own duration, when its header states one; the container's
            # may be the video's and is only a hint.
            self.declared_duration = (
                float(stream.duration * stream.time_base) if stream.duration and stream.time_base else None
            )
            self.duration = self.declared_duration or (
                container.duration / av.time_base if container.duration else None
            )

    def _open(self):
        is_path = not hasattr(self._source, "read")
        if not is_path:
            self._source.seek(0)
        options = {
            "format_whitelist": ",".join(ACCEPTED_CONTAINERS),
            # Nothing an upload holds may open another file or a URL: "none" names no protocol.
            "protocol_whitelist": "file" if is_path else "none",
        }
        try:
            return av.open(self._source, mode="r", metadata_errors="ignore", options=options)
        except FileNotFoundError:
            raise InvalidAudioError(f"{self.label} does not exist") from None
        except av.error.ArgumentError:  # what FFmpeg answers for a format outside the whitelist
            raise InvalidAudioError(
                f"{self.label} is not an audio or video file the sidecar reads (WAV, FLAC, MP3, Ogg, Opus, "
                "M4A, MP4, MOV, MKV, WebM and the like; playlists and other files that name further files "
                "or URLs are refused)"
            ) from None
        except (av.error.FFmpegError, ValueError, OSError) as exc:
            raise InvalidAudioError(f"{self.label} is not a readable audio or video file: {_reason(exc)}") from None

    def _audio_stream(self, container):
        if not container.streams.audio:
            kinds = ", ".join(sorted({s.type for s in container.streams})) or "nothing"
            raise InvalidAudioError(f"{self.label} has no audio stream (it holds {kinds})")
        stream = container.streams.audio[0]
        if stream.codec_context is None or stream.codec_context.codec is None:
            raise InvalidAudioError(f"{self.label}: its audio codec is not supported")
        return stream

    def blocks(self, block_seconds: float = 10.0) -> Iterator[np.ndarray]:
        block_frames = max(1, int(block_seconds * self.sample_rate))
        max_frames = None if self._max_duration is None else int(self._max_duration * self.sample_rate) + 1
        pending: list[np.ndarray] = []
        pending_frames = total = 0
        with self._open() as container:
            stream = self._audio_stream(container)
            layout = "mono" if self._mono else None
            resampler = av.AudioResampler(format="fltp", layout=layout, rate=self.sample_rate)
            for array in self._decoded(container, stream, resampler):
                if not np.isfinite(array).all():
                    raise InvalidAudioError(f"{self.label} decodes to NaN or infinite samples")
                total += array.shape[1]
                if max_frames is not None and total > max_frames:
                    raise LimitExceededError(
                        f"{self.label} is longer than the server's limit of {self._max_duration:g} s"
                    )
                pending.append(array)
                pending_frames += array.shape[1]
                while pending_frames >= block_frames:
                    joined = np.concatenate(pending, axis=1)
                    yield np.ascontiguousarray(joined[:, :block_frames])
                    rest = joined[:, block_frames:]
                    pending, pending_frames = [rest], rest.shape[1]
        if pending_frames:
            yield np.ascontiguousarray(np.concatenate(pending, axis=1))
        if total == 0:
            raise InvalidAudioError(f"{self.label} contains no audio samples")
        decoded = total / self.sample_rate
        declared = self.declared_duration
        if declared and decoded < declared * TRUNCATION_RATIO - TRUNCATION_SLACK_SECONDS:
            raise InvalidAudioError(
                f"{self.label} is truncated: its header declares {declared:.1f} s of audio but "
                f"only {decoded:.1f} s could be decoded"
            )

    def _decoded(self, container, stream, resampler) -> Iterator[np.ndarray]:
        produced = False
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    produced = True
                    yield out.to_ndarray().astype(np.float32, copy=False)
            for out in resampler.resample(None):
                yield out.to_ndarray().astype(np.float32, copy=False)
        except av.error.FFmpegError as exc:
            if not produced:
                raise InvalidAudioError(f"{self.label} could not be decoded: {_reason(exc)}") from None
            # A truncated file still yields what decoded before the damage; keep it.
        except (ValueError, OSError) as exc:
            raise InvalidAudioError(f"{self.label} could not be decoded: {_reason(exc)}") from None


def resample(audio: Audio, sample_rate: int, *, mono: bool = False) -> Audio:
    """Resamples (and optionally downmixes) decoded audio with FFmpeg's resampler."""
    if audio.sample_rate == sample_rate and (not mono or audio.channel_count == 1):
        return audio
    samples = audio.samples[None, :] if audio.samples.ndim == 1 else audio.samples
    if mono and samples.shape[0] > 1:
        samples = samples.mean(axis=0, keepdims=True, dtype=np.float32)
    if audio.sample_rate == sample_rate:
        return Audio(np.ascontiguousarray(samples), sample_rate)
    layout = {1: "mono", 2: "stereo"}.get(samples.shape[0])
    if layout is None:  # FFmpeg layouts past stereo differ by order; resample each channel.
        channels = [resample(Audio(ch[None, :], audio.sample_rate), sample_rate).samples[0] for ch in samples]
        n = min(len(c) for c in channels)
        return Audio(np.stack([c[:n] for c in channels]), sample_rate)
    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples, dtype=np.float32), format="fltp", layout=layout)
    frame.sample_rate = audio.sample_rate
    resampler = av.AudioResampler(format="fltp", layout=layout, rate=sample_rate)
    out = [f.to_ndarray() for f in resampler.resample(frame)]
    out += [f.to_ndarray() for f in resampler.resample(None)]
    return Audio(np.concatenate(out, axis=1).astype(np.float32, copy=False), sample_rate)


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return text.strip().rstrip(".") or type(exc).__name__

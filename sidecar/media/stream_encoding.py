"""Encodes mono audio while it is being made, for responses that stream it (the HTTP API's
speech): each block in gives the bytes of the file so far, with no seeking back, so the file
can be sent before its end exists. WAV carries the largest sizes in its header, as streamed
WAV does; the other containers need no sizes."""

from __future__ import annotations

import struct

import av
import numpy as np

# format -> (container, codec); "pcm" is raw 16-bit little-endian samples, "wav" their RIFF file.
ENCODED = {"mp3": ("mp3", "libmp3lame"), "opus": ("ogg", "libopus"), "aac": ("adts", "aac"), "flac": ("flac", "flac")}
FORMATS = ("pcm", "wav", *ENCODED)
MEDIA_TYPES = {
    "pcm": "audio/pcm",
    "wav": "audio/wav",
    "mp3": "audio/mpeg",
    "opus": "audio/ogg",
    "aac": "audio/aac",
    "flac": "audio/flac",
}
_UNKNOWN_SIZE = 0xFFFFFFFF


class StreamEncoder:
    """encode(block) and finish() return the next bytes of the file in `format`."""

    def __init__(self, format: str, sample_rate: int) -> None:
        if format not in FORMATS:
            raise ValueError(f"unknown format {format!r}")
        self.format, self.sample_rate = format, sample_rate
        self._header = format == "wav"
        self._container = None
        if format in ENCODED:
            container, codec = ENCODED[format]
            self._sink = _Sink()
            self._container = av.open(self._sink, "w", format=container)
            self._stream = self._container.add_stream(codec, rate=sample_rate, layout="mono")

    def encode(self, samples: np.ndarray) -> bytes:
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)
        if self._container is None:
            pcm = (np.clip(samples, -1.0, 1.0) * 32767.0).round().astype("<i2").tobytes()
            return self._wav_header() + pcm if self._header else pcm
        frame = av.AudioFrame.from_ndarray(samples[None, :], format="flt", layout="mono")
        frame.sample_rate = self.sample_rate
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        return self._sink.take()

    def finish(self) -> bytes:
        if self._container is None:
            return self._wav_header() if self._header else b""  # a WAV of no samples still has its header
        for packet in self._stream.encode(None):
            self._container.mux(packet)
        self._container.close()
        return self._sink.take()

    def _wav_header(self) -> bytes:
        self._header = False
        rate = self.sample_rate
        return (
            b"RIFF"
            + struct.pack("<I", _UNKNOWN_SIZE)
            + b"WAVEfmt "
            + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
            + b"data"
            + struct.pack("<I", _UNKNOWN_SIZE)
        )


class _Sink:
    """A write-only file for FFmpeg: keeps what was written until taken."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, data) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        data, self._parts = b"".join(self._parts), []
        return data

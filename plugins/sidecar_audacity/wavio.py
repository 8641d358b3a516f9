"""WAV files with the standard library: the length of an export, and PCM chunks written out."""

from __future__ import annotations

import array
import sys
import wave

from sidecar.v1 import audio_pb2

S16_MAX = 32767


def wav_duration(path: str) -> float:
    """Seconds of audio in a PCM WAV file."""
    with wave.open(path, "rb") as w:
        return w.getnframes() / w.getframerate()


class PcmWavWriter:
    """Appends the sidecar's AudioChunks (s16 or f32, any rate) to a 16-bit WAV file."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._wav: wave.Wave_write | None = None
        self._format: audio_pb2.PcmFormat | None = None
        self.frames = 0

    def write(self, chunk: audio_pb2.AudioChunk) -> None:
        if self._wav is None:
            self._format = chunk.format
            self._wav = wave.open(self.path, "wb")
            self._wav.setnchannels(chunk.format.channel_count)
            self._wav.setsampwidth(2)
            self._wav.setframerate(chunk.format.sample_rate_hertz)
        elif (chunk.format.sample_rate_hertz, chunk.format.channel_count) != (
                self._format.sample_rate_hertz, self._format.channel_count):
            raise ValueError("the sidecar changed the audio format in the middle of a stream")
        data = to_s16le(chunk.data, chunk.format.encoding)
        self._wav.writeframes(data)
        self.frames += len(data) // (2 * chunk.format.channel_count)

    def close(self) -> None:
        if self._wav is not None:
            self._wav.close()
            self._wav = None

    @property
    def empty(self) -> bool:
        return self.frames == 0


def to_s16le(data: bytes, encoding: int) -> bytes:
    if encoding == audio_pb2.AUDIO_ENCODING_PCM_S16LE:
        return data
    if encoding != audio_pb2.AUDIO_ENCODING_PCM_F32LE:
        raise ValueError(f"unexpected PCM encoding {audio_pb2.AudioEncoding.Name(encoding)}")
    floats = array.array("f", data)
    if sys.byteorder == "big":
        floats.byteswap()
    ints = array.array("h", (int(max(-1.0, min(1.0, x)) * S16_MAX) for x in floats))
    if sys.byteorder == "big":
        ints.byteswap()
    return ints.tobytes()

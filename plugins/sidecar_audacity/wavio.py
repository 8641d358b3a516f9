"""WAV files with the standard library: the length of an export, its samples, and PCM chunks written out."""

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
            self._format.sample_rate_hertz,
            self._format.channel_count,
        ):
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
    ints = array.array("h", (int(max(-1.0, min(1.0, x)) * S16_MAX) for x in f32_samples(data)))
    if sys.byteorder == "big":
        ints.byteswap()
    return ints.tobytes()


def f32_samples(data: bytes) -> array.array:
    """Little-endian float32 PCM as an array of floats."""
    floats = array.array("f", data)
    if sys.byteorder == "big":
        floats.byteswap()
    return floats


def read_pcm16(path: str) -> tuple[int, array.array]:
    """The rate and samples of a mono 16-bit WAV file, such as the plugin's own exports."""
    with wave.open(path, "rb") as w:
        if (w.getsampwidth(), w.getnchannels()) != (2, 1):
            raise ValueError(
                f"{path}: expected mono 16-bit PCM, not {w.getnchannels()} channels of {8 * w.getsampwidth()} bits"
            )
        rate = w.getframerate()
        samples = array.array("h", w.readframes(w.getnframes()))
    if sys.byteorder == "big":
        samples.byteswap()
    return rate, samples


def write_pcm16(path: str, rate: int, samples: array.array) -> None:
    """Writes mono 16-bit samples as a WAV file."""
    data = samples
    if sys.byteorder == "big":
        data = array.array("h", samples)
        data.byteswap()
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(data.tobytes())

"""A live stream's incoming audio: raw PCM chunks turned into 16 kHz mono, and how fast it
arrives and how much of it waits for the decoding thread."""

from __future__ import annotations

import collections
import io
import threading
import time

import av
import numpy as np

from sidecar.engines import streaming
from sidecar.errors import InvalidAudioError
from sidecar.media import audio as media
from sidecar.server import upload

# How far ahead of real time a client at real-time pace may seem (messages held back by the
# network or a busy host, then sent together), and over how long its pace is judged.
ARRIVAL_SLACK_SECONDS = 1.0
ARRIVAL_WINDOW_SECONDS = 2.0
_HEADER_BYTES = 12  # enough to recognise an encoded file's magic number


class PcmReader:
    """Turns a stream's PCM chunks into 16 kHz mono float32; frames may straddle chunks."""

    def __init__(self, spec: media.PcmSpec) -> None:
        spec.validate()
        self.spec = spec
        self.frames = 0  # frames received, at the client's rate
        self._partial = b""
        self._head = b""  # the first bytes, until checked for an encoded file's header
        self._resampler = None
        if spec.sample_rate != streaming.SAMPLE_RATE:
            self._resampler = av.AudioResampler(format="flt", layout="mono", rate=streaming.SAMPLE_RATE)

    @property
    def received(self) -> float:
        return self.frames / self.spec.sample_rate

    def feed(self, data: bytes) -> np.ndarray:
        if len(self._head) < _HEADER_BYTES:
            self._head += data[: _HEADER_BYTES - len(self._head)]
            if len(self._head) >= _HEADER_BYTES and upload.looks_encoded(io.BytesIO(self._head)):
                raise InvalidAudioError(
                    "the bytes look like an encoded file (WAV/FLAC/Ogg/MP3/MP4 header), but "
                    "streaming recognition takes raw PCM in the config's `pcm_format`"
                )
        data = self._partial + data
        whole = len(data) // self.spec.bytes_per_frame * self.spec.bytes_per_frame
        self._partial = data[whole:]
        if whole == 0:
            return np.zeros(0, np.float32)
        audio = media.decode_pcm(data[:whole], self.spec)
        self.frames += audio.frame_count
        return self._resample(audio.mono()[None, :])

    def close(self) -> np.ndarray:
        """The resampler's last samples; a partial frame left over is an error."""
        if self._partial:
            raise InvalidAudioError(
                f"the stream ended inside a frame: {len(self._partial)} byte(s) left over, frames "
                f"are {self.spec.bytes_per_frame} bytes ({self.spec.channel_count} channel(s) of "
                f"{self.spec.encoding})"
            )
        return self._resample(None)

    def _resample(self, mono: np.ndarray | None) -> np.ndarray:
        if self._resampler is None:
            return np.zeros(0, np.float32) if mono is None else np.ascontiguousarray(mono[0])
        frame = None
        if mono is not None:
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(mono), format="flt", layout="mono")
            frame.sample_rate = self.spec.sample_rate
        out = [f.to_ndarray()[0] for f in self._resampler.resample(frame)]
        return np.concatenate(out).astype(np.float32, copy=False) if out else np.zeros(0, np.float32)


class Arrival:
    """How much audio a client at real-time pace can have sent by now: what had arrived
    ARRIVAL_WINDOW_SECONDS ago (or before its first audio) plus the time since, plus
    ARRIVAL_SLACK_SECONDS. A client that sends faster, such as a file as fast as the server
    takes it, is ahead of that; a client that reconnects and sends what it captured meanwhile
    is ahead only for that window."""

    def __init__(self) -> None:
        self._first: float | None = None
        self._arrived: collections.deque[tuple[float, float]] = collections.deque()  # (when, seconds so far)
        self._lock = threading.Lock()

    def add(self, seconds: float) -> None:
        with self._lock:
            now = time.monotonic()
            if self._first is None:
                self._first = now
            total = (self._arrived[-1][1] if self._arrived else 0.0) + seconds
            self._arrived.append((now, total))
            while len(self._arrived) > 1 and self._arrived[1][0] < now - ARRIVAL_WINDOW_SECONDS:
                self._arrived.popleft()

    def real_time(self) -> float:
        with self._lock:
            now = time.monotonic()
            if self._first is None:
                return ARRIVAL_SLACK_SECONDS
            since = max(now - ARRIVAL_WINDOW_SECONDS, self._first)
            before = [total for when, total in self._arrived if when < since]
            return (before[-1] if before else 0.0) + (now - since) + ARRIVAL_SLACK_SECONDS


class AudioBacklog:
    """Seconds of audio in a stream's inbox, counted by the reader and the decoding thread."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._lock = threading.Lock()

    def add(self, seconds: float) -> None:
        with self._lock:
            self.seconds += seconds

    def remove(self, seconds: float) -> None:
        with self._lock:
            self.seconds -= seconds

"""Live captions for the CLI and plugins: stream a capture to the sidecar, reconnect, lay out.

Made for hosts such as OBS, whose embedded Python has no numpy or PyAV: it needs grpcio,
protobuf, the stubs in `sidecar.v1`, this package and `sidecar_common` (standard library only),
plus an `ffmpeg` program for `sidecar_client.capture`. `sidecar live` uses the same pieces, each
usable alone:

- `LiveCaptions` streams an AudioCapture to StreamingRecognize in a thread. When the sidecar
  goes away it tries to reach it every RECONNECT_SECONDS and starts a new stream from the end of
  the last final word, so the words that were pending when it went away are decoded again, not
  lost. The host's main thread takes what arrived with `poll()`; every time is capture time.
- `CaptionFile` keeps an SRT or WebVTT file valid at every moment, timed to a recording that
  started at a given capture time.

`sidecar_common.rollup` lays the words out on screen and in lines.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import pathlib
import threading
import time
from collections.abc import Iterator

import grpc

from sidecar.v1 import streaming_recognition_pb2
from sidecar_client.capture import SAMPLE_RATE, AudioCapture
from sidecar_client.client import DEFAULT_ADDRESS, Connection, SidecarClient, SidecarError, streaming_config
from sidecar_common import outputs, subtitles
from sidecar_common.durations import seconds

log = logging.getLogger(__name__)

LAG_WARNING_SECONDS = 5.0  # the sidecar this far behind the audio is worth a notice
READY_SLICE_SECONDS = 0.2  # waits for the sidecar in slices this long, so stop() never waits long
RECONNECT_SECONDS = 0.5  # while the sidecar is away, a new connection is tried this often
# Codes after which a new stream may succeed: the sidecar restarting, busy or cut off.
RETRY_CODES = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.INTERNAL,
    }
)


@dataclasses.dataclass(frozen=True)
class LiveOptions:
    address: str = DEFAULT_ADDRESS  # host:port of the sidecar
    token: str | None = None  # bearer token, when the sidecar asks for one
    token_file: str | None = None  # a file holding the token instead
    tls: bool = False  # TLS, verified by the system's roots
    tls_ca: str | None = None  # TLS, verified by this PEM file of roots
    language_code: str = ""  # BCP-47 ("en"); empty: the model's default or detection
    model: str = ""  # Whisper model name; empty: the server's default
    interim_results: bool = True  # also receive the words not yet final
    hotwords: str = ""  # comma-separated words to favour
    initial_prompt: str = ""  # text that conditions decoding (names, spellings)
    endpoint_silence_seconds: float = 0.0  # silence that ends an utterance; 0: the server's
    beam_size: int = 0  # beam width; 0: the server's
    retry_first_seconds: float = 0.5  # pause before a new stream after one failed; doubles each time
    retry_max_seconds: float = 5.0  # longest such pause; also how long a silent sidecar goes unreported
    give_up_seconds: float | None = None  # how long the sidecar may stay away; None: for ever

    def validate(self) -> None:
        if not self.address.strip():
            raise ValueError("no sidecar address given (host:port, e.g. 127.0.0.1:50051)")
        if not 0 < self.retry_first_seconds <= self.retry_max_seconds:
            raise ValueError("retry times must satisfy 0 < retry_first_seconds <= retry_max_seconds")
        if self.give_up_seconds is not None and self.give_up_seconds < 0:
            raise ValueError(f"give_up_seconds must be >= 0, got {self.give_up_seconds}")

    def connection(self) -> Connection:
        return Connection(self.address, self.token, self.token_file, self.tls, self.tls_ca)

    def config(self) -> streaming_recognition_pb2.StreamingRecognitionConfig:
        vad = streaming_recognition_pb2.VoiceActivityConfig()
        if self.endpoint_silence_seconds:
            vad.endpoint_silence_duration.FromNanoseconds(round(self.endpoint_silence_seconds * 1e9))
        return streaming_config(
            SAMPLE_RATE,
            language_code=self.language_code,
            model=self.model,
            interim_results=self.interim_results,
            hotwords=self.hotwords,
            initial_prompt=self.initial_prompt,
            beam_size=self.beam_size,
            voice_activity=vad,
        )


@dataclasses.dataclass(frozen=True)
class Final:
    """Words that became final, in capture time."""

    text: str
    words: tuple[subtitles.TimedWord, ...]


@dataclasses.dataclass(frozen=True)
class Update:
    """What arrived since the previous poll()."""

    finals: tuple[Final, ...]
    interim: str  # the current pending words ("" when none)
    status: str  # "connecting", "connected", "reconnecting: ...", "ended", "failed: ...", "stopped"
    lag: float  # seconds the sidecar is behind the audio it received
    notices: tuple[str, ...] = ()  # what happened to the capture (a device lost, reopened)


class LiveCaptions:
    """Streams an AudioCapture to the sidecar in a thread, reconnecting by itself."""

    def __init__(self, capture: AudioCapture, options: LiveOptions = LiveOptions(), *, start: float = 0.0) -> None:
        """Captions `capture` from capture time `start` (or its oldest audio still held): a
        session replacing another on the same capture starts at the other's resume_point."""
        options.validate()
        self.capture = capture
        self.options = options
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._finals: list[Final] = []
        self._interim = ""
        self._status = "connecting"
        self._lag = 0.0
        # Capture time where the next stream starts: the last final word's end, or the end of
        # the audio a stream that finished normally took (all its words are final then).
        self._resume = start
        self._call = None
        self._thread = threading.Thread(target=self._run, name="sidecar-live", daemon=True)
        self.streams = 0  # streams started, for status and tests

    def start(self) -> LiveCaptions:
        self._thread.start()
        return self

    def stop(self, timeout: float = 2.0) -> None:
        """Cancels the stream (pending words are dropped) and waits up to `timeout` seconds."""
        self._stop.set()
        with self._lock:
            call = self._call
        if call is not None:
            call.cancel()
        self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    @property
    def resume_point(self) -> float:
        """Capture time after the last final word: where a new session would start, so that
        it decodes again the words this one had pending."""
        with self._lock:
            return self._resume

    def poll(self) -> Update:
        notices = tuple(self.capture.take_notices())
        with self._lock:
            finals, self._finals = tuple(self._finals), []
            return Update(finals, self._interim, self._status, self._lag, notices)

    def _set(self, **fields) -> None:
        with self._lock:
            for name, value in fields.items():
                setattr(self, f"_{name}", value)

    def _run(self) -> None:
        try:
            self._stream_until_done()
        except Exception as exc:  # a bug, not the sidecar: the host must not show "connected" for ever
            log.exception("live captions stopped")
            self._set(status=f"failed: {type(exc).__name__}: {exc}", interim="")

    def _stream_until_done(self) -> None:
        delay = self.options.retry_first_seconds
        away_since = None  # when the sidecar went away, while it is away
        while not self._stop.is_set():
            answered = False
            try:
                with self.options.connection().open(reconnect_seconds=RECONNECT_SECONDS) as client:
                    self._wait_ready(client)
                    answered = True
                    self._set(status="connected")
                    delay, away_since = self.options.retry_first_seconds, None
                    self._stream(client)
            except SidecarError as exc:
                if self._stop.is_set():
                    break
                away_since = away_since or time.monotonic()
                give_up = self.options.give_up_seconds
                if exc.code not in RETRY_CODES or (give_up is not None and time.monotonic() - away_since >= give_up):
                    self._set(status=f"failed: {exc}", interim="")
                    return
                self._set(status=f"reconnecting: {exc.details}", interim="")
                # A sidecar that answered and failed (busy, stopping) gets a pause; one that did
                # not answer was waited for already, its channel trying every RECONNECT_SECONDS,
                # so a restarted sidecar is taken the moment it is back.
                if answered or exc.code != grpc.StatusCode.UNAVAILABLE:
                    self._stop.wait(max(delay, exc.retry_delay or 0.0))  # a busy server says how long
                    delay = min(delay * 2, self.options.retry_max_seconds)
                continue
            if self.capture.ended and self._resume >= self.capture.captured - 1e-6:
                self._set(status=f"failed: {self.capture.error}" if self.capture.error else "ended")
                return
        self._set(status="stopped")

    def _wait_ready(self, client: SidecarClient) -> None:
        deadline = time.monotonic() + self.options.retry_max_seconds
        while True:
            try:
                client.wait_ready(timeout=max(0.01, min(READY_SLICE_SECONDS, deadline - time.monotonic())))
                return
            except SidecarError as exc:
                if exc.code != grpc.StatusCode.UNAVAILABLE or self._stop.is_set() or time.monotonic() >= deadline:
                    raise

    def _stream(self, client: SidecarClient) -> None:
        """One stream from the resume point; returns when it ends (capture ended, the device
        went away or a gap)."""
        start = max(self._resume, self.capture.oldest())
        chunks = self.capture.chunks_from(start, self._stop)
        first = next(chunks, None)
        if first is None:
            self._resume = max(self._resume, self.capture.captured)
            return
        origin = first.offset  # stream time 0 in capture time
        resumed_at = self._resume
        sent = [first.end]

        def audio() -> Iterator[bytes]:
            yield first.data
            for chunk in chunks:
                yield chunk.data
                sent[0] = chunk.end

        call = client.streaming_recognize(audio(), config=self.options.config())
        self._set(call=call)
        self.streams += 1
        try:
            for response in call:
                self._take(response, origin, resumed_at)
        finally:
            self._set(call=None)
        if not self._stop.is_set():
            self._set(resume=max(self._resume, sent[0]), interim="")

    def _take(self, response, origin: float, resumed_at: float) -> None:
        result = response.final_result
        words = tuple(
            subtitles.TimedWord(
                w.text, origin + seconds(w.time_range.start_offset), origin + seconds(w.time_range.end_offset)
            )
            for w in result.words
        )
        # A restarted stream decodes again from the last final word's end; a word that
        # straddled it was already shown. Within a stream no word comes twice: Whisper's
        # word times wobble, and a later final may start before an earlier one ends.
        words = tuple(w for w in words if (w.start + w.end) / 2 >= resumed_at)
        with self._lock:
            if words:
                text = "".join(w.text for w in words).strip()
                self._finals.append(Final(text, words))
                self._resume = max(self._resume, words[-1].end)
            if response.HasField("interim_result"):
                self._interim = response.interim_result.transcript
            self._lag = seconds(response.lag_duration)


class LagWatch:
    """Says when the sidecar falls more than `limit` seconds behind the audio, and when it
    catches up: once each way, not on every update."""

    def __init__(self, limit: float = LAG_WARNING_SECONDS) -> None:
        self.limit = limit
        self.lagging = False

    def check(self, lag: float) -> str | None:
        if (lag > self.limit) == self.lagging:
            return None
        self.lagging = not self.lagging
        if self.lagging:
            return f"the sidecar is {lag:.1f} s behind the audio: a smaller model or a GPU would keep up"
        return "the sidecar caught up with the audio"


class CaptionFile:
    """An SRT or WebVTT file (by its suffix) for a recording that began at capture time
    `origin`, rewritten atomically on each final result so it is complete and valid at every
    moment. Words before a pause that always ends a cue are frozen as cues, so a rewrite
    rebuilds only the cues since the last pause. A new capture (a restarted session) has a
    clock of its own: set `origin` to the recording's start in its time before adding its words.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        origin: float = 0.0,
        rules: subtitles.CueRules | None = None,
        *,
        overwrite: bool = False,
        append: bool = False,
    ) -> None:
        """Creates the file at once, empty; an existing file raises outputs.OutputExistsError
        unless `overwrite`. With `append`, an existing SRT keeps its cues and gets the new ones
        after them (ValueError if it is not an SRT)."""
        self.path = pathlib.Path(path)
        if self.path.suffix.lower() not in subtitles.WRITERS:
            raise ValueError(f"{self.path}: a caption file must end in {', '.join(subtitles.WRITERS)}")
        self._format = subtitles.WRITERS[self.path.suffix.lower()]
        self.origin = origin
        self.rules = rules or subtitles.CueRules()
        self._frozen: list[subtitles.Cue] = []  # cues of words before the last long pause
        self._words: list[subtitles.TimedWord] = []  # words since then
        if append:
            if self.path.suffix.lower() != ".srt":
                raise ValueError(f"{self.path}: only an SRT can be appended to")
            self._frozen = subtitles.parse_srt(self.path.read_text(encoding="utf-8"))
            return
        outputs.write_text(self.path, self._format([]), overwrite=overwrite)

    def add(self, final: Final) -> None:
        """Adds words in capture time; words spoken before the recording began are left out."""
        shifted = [
            dataclasses.replace(w, start=w.start - self.origin, end=w.end - self.origin)
            for w in final.words
            if w.start >= self.origin
        ]
        if not shifted:
            return
        if self._words and shifted[0].start - self._words[-1].end >= subtitles.PAUSE_SECONDS:
            # A cue held up for reading ends where the words after the pause begin.
            self._frozen, self._words = self._frozen + self._build(next_start=shifted[0].start), []
        self._words.extend(shifted)
        outputs.write_text(self.path, self._format(self.cues()))  # the file this object created

    def cues(self) -> list[subtitles.Cue]:
        return self._frozen + self._build()

    def _build(self, next_start: float = math.inf) -> list[subtitles.Cue]:
        """The cues of the words since the last pause, after the frozen ones."""
        not_before = self._frozen[-1].end if self._frozen else 0.0
        return subtitles.build_cues(self._words, rules=self.rules, not_before=not_before, next_start=next_start)

"""Live captions for the CLI and plugins: capture with ffmpeg, stream to the sidecar, reconnect, lay out.

Made for hosts such as OBS, whose embedded Python has no numpy or PyAV: it needs grpcio,
protobuf, the stubs in `sidecar.v1`, this package and `sidecar_common.subtitles` (standard
library only), plus an `ffmpeg` program. `sidecar live` uses the same pieces, each usable alone:

- `AudioCapture` runs ffmpeg in a thread (a capture device, or a file or URL read in real time
  or as fast as it is taken) and keeps the last BACKLOG_SECONDS of 16 kHz mono s16le audio,
  each chunk with its offset from the capture's start ("capture time"), so a stream can start
  anywhere in that window. A device whose ffmpeg exits (unplugged, sound server restarted) is
  opened again after a backoff; the time it was away counts as time passing. One that stops
  delivering without exiting (a hung driver or sound server) is killed and opened again too.
- `LiveCaptions` streams the capture to StreamingRecognize in a thread. When the sidecar goes
  away it waits (backoff) and starts a new stream from the end of the last final word, so the
  words that were pending when it went away are decoded again, not lost. The host's main
  thread takes what arrived with `poll()`; every time is capture time.
- `CaptionBoard` lays out the latest words as `lines` lines of at most `chars_per_line`
  characters; `CaptionFile` keeps an SRT or WebVTT file valid at every moment, timed to a
  recording that started at a given capture time.
"""

from __future__ import annotations

import collections
import dataclasses
import os
import pathlib
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator

import grpc

from sidecar.v1 import streaming_recognition_pb2
from sidecar_client.captions import write_text_atomically
from sidecar_client.client import DEFAULT_ADDRESS, SidecarClient, SidecarError, streaming_config
from sidecar_common import subtitles
from sidecar_common.durations import seconds

SAMPLE_RATE = 16_000  # what the stream sends: 16 kHz mono s16le, Whisper's rate
BYTES_PER_SECOND = SAMPLE_RATE * 2
CHUNK_SECONDS = 0.1
CHUNK_BYTES = int(CHUNK_SECONDS * BYTES_PER_SECOND)
BACKLOG_SECONDS = 60.0  # audio kept for a stream that (re)starts late; older audio is dropped
LOOKAHEAD_SECONDS = 2.0  # a file read as fast as taken stays this far ahead of the stream
LAG_WARNING_SECONDS = 5.0  # the sidecar this far behind the audio is worth a notice
MESSAGE_LINES = 3  # of ffmpeg's messages, kept in a notice or error
WAIT_SECONDS = 0.2  # how often blocked threads look at their stop flag
DEVICE_FORMATS = ("pulse", "alsa", "avfoundation", "dshow", "oss", "jack", "lavfi")
# Codes after which a new stream may succeed: the sidecar restarting, busy or cut off.
RETRY_CODES = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED,
                         grpc.StatusCode.ABORTED, grpc.StatusCode.RESOURCE_EXHAUSTED,
                         grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.INTERNAL})


def is_device(spec: str) -> bool:
    """Whether `spec` names a capture device (FORMAT:NAME) rather than a file or URL."""
    kind, _, name = spec.partition(":")
    return kind in DEVICE_FORMATS and bool(name) and not os.path.exists(spec)


def ffmpeg_command(spec: str, ffmpeg: str = "ffmpeg", *, realtime: bool = True) -> list[str]:
    """The ffmpeg command that writes `spec` as raw 16 kHz mono s16le to stdout.

    `spec` is FORMAT:NAME for a capture device (pulse:default, alsa:hw:0, avfoundation::0,
    dshow:audio=Microphone) or a file or URL, read in real time as a device would be unless
    `realtime` is False.
    """
    if is_device(spec):
        kind, _, name = spec.partition(":")
        source = ["-f", kind, "-i", name]
    elif spec.strip():
        source = ["-re", "-i", spec] if realtime else ["-i", spec]
    else:
        raise ValueError("no audio input given: a FORMAT:DEVICE such as pulse:default, or a file")
    return [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", *source,
            "-vn", "-ac", "1", "-ar", str(SAMPLE_RATE), "-f", "s16le", "-"]


@dataclasses.dataclass(frozen=True)
class Chunk:
    offset: float  # capture time of its first sample, in seconds
    data: bytes

    @property
    def end(self) -> float:
        return self.offset + len(self.data) / BYTES_PER_SECOND


@dataclasses.dataclass(frozen=True)
class CaptureOptions:
    realtime: bool = True  # a file or URL at its own pace; False: as fast as the stream takes it
    backlog_seconds: float = BACKLOG_SECONDS  # audio kept for a stream that (re)starts late
    restart_first_seconds: float = 0.5  # first wait before reopening a device; doubles each try
    restart_max_seconds: float = 5.0  # longest wait between tries to reopen a device
    # Input read in real time that delivered audio and then none for this long is hung: its
    # ffmpeg is killed, a device reopened, a file or URL ended with an error. Capture devices
    # deliver silence too, so this is never a pause in the talk.
    stall_seconds: float = 3.0

    def validate(self) -> None:
        if self.backlog_seconds < 2 * LOOKAHEAD_SECONDS:
            raise ValueError(f"backlog_seconds must be at least {2 * LOOKAHEAD_SECONDS:g}")
        if not 0 < self.restart_first_seconds <= self.restart_max_seconds:
            raise ValueError("restart times must satisfy 0 < restart_first_seconds <= restart_max_seconds")
        if self.stall_seconds <= 0:
            raise ValueError(f"stall_seconds must be > 0, got {self.stall_seconds}")


class AudioCapture:
    """Reads audio from an ffmpeg process in a thread and keeps a window of recent chunks.

    `clock_origin` is the time.monotonic() of capture time 0 (the first sample), known once
    the first chunk arrived; `error` says why capture stopped early, if it did. A device that
    delivered audio and then stops is opened again (see CaptureOptions); `notices` says so.
    """

    def __init__(self, spec: str, options: CaptureOptions = CaptureOptions(), *,
                 ffmpeg: str = "ffmpeg") -> None:
        options.validate()
        program = shutil.which(ffmpeg)
        if program is None:
            raise FileNotFoundError(f"no {ffmpeg} program on PATH: live captions need FFmpeg")
        self.spec = spec
        self.options = options
        self.device = is_device(spec)
        self._command = ffmpeg_command(spec, program, realtime=options.realtime)
        self._chunks: collections.deque[Chunk] = collections.deque(
            maxlen=max(1, round(options.backlog_seconds / CHUNK_SECONDS)))
        self._changed = threading.Condition()
        self._stopping = threading.Event()
        self._process: subprocess.Popen | None = None
        self._thread = threading.Thread(target=self._run, name="sidecar-capture", daemon=True)
        self._watchdog = threading.Thread(target=self._watch, name="sidecar-capture-watchdog",
                                          daemon=True)
        self._last_audio: float | None = None  # time.monotonic() of the running ffmpeg's last chunk
        self._stalled = False  # the watchdog killed the running ffmpeg
        self._messages = None  # the running ffmpeg's stderr, a temporary file
        self._notices: list[str] = []
        self._sent = 0.0  # capture time up to which a stream took audio (paces a fast file)
        self._down = False  # a device is being reopened
        self.clock_origin: float | None = None
        self.captured = 0.0  # capture time after the last chunk read
        self.restarts = 0  # times a device was reopened
        self.ended = False
        self.error: str | None = None

    def start(self) -> AudioCapture:
        self._process = self._open()
        self._thread.start()
        if self.options.realtime:  # a fast file waits for the stream: its pauses are no stall
            self._watchdog.start()
        return self

    def stop(self) -> None:
        """Ends capture: a stream reading it half-closes and its pending words become final."""
        self._stopping.set()
        with self._changed:
            process = self._process
            self._changed.notify_all()
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=2)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._thread.is_alive():
            self._thread.join(timeout=2)

    @property
    def pid(self) -> int | None:
        """The running ffmpeg's process id."""
        with self._changed:
            return None if self._process is None else self._process.pid

    def take_notices(self) -> list[str]:
        """What happened to the capture (a device lost and reopened) since the last call."""
        with self._changed:
            notices, self._notices = self._notices, []
            return notices

    def capture_time(self, monotonic: float) -> float:
        """The capture time at a time.monotonic() instant (0 before capture began)."""
        return 0.0 if self.clock_origin is None else max(0.0, monotonic - self.clock_origin)

    def chunks_from(self, offset: float, stop: threading.Event) -> Iterator[Chunk]:
        """Chunks from the one holding `offset` on, blocking for new audio, contiguous: ends
        when capture ends, `stop` is set, the device went away after some audio was handed
        out, or the window dropped the next chunk (a gap)."""
        expected = None
        while not stop.is_set():
            with self._changed:
                chunk = self._first_from(offset)
                if chunk is None:
                    if self.ended or (self._down and expected is not None):
                        return
                    self._changed.wait(WAIT_SECONDS)
                    continue
                self._sent = max(self._sent, chunk.end)
                self._changed.notify_all()
            if expected is not None and chunk.offset > expected + CHUNK_SECONDS / 2:
                return  # the window moved past unsent audio, or the device was away
            yield chunk
            offset = expected = chunk.end

    def oldest(self) -> float:
        with self._changed:
            return self._chunks[0].offset if self._chunks else self.captured

    def _first_from(self, offset: float) -> Chunk | None:
        for chunk in self._chunks:
            if chunk.end > offset + 1e-6:
                return chunk
        return None

    def _open(self) -> subprocess.Popen:
        # ffmpeg's messages go to a file: a pipe read only at exit would fill on a long run of
        # errors and block ffmpeg.
        self._messages = tempfile.TemporaryFile()
        return subprocess.Popen(self._command, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=self._messages)

    def _last_message(self) -> str:
        """The end of what the exited ffmpeg said."""
        with self._messages:
            self._messages.seek(0)
            lines = self._messages.read().decode(errors="replace").strip().splitlines()
        return " / ".join(lines[-MESSAGE_LINES:]) or "no message"

    def _run(self) -> None:
        delay = self.options.restart_first_seconds
        while True:
            delivered = self._read(self._process)
            code = self._process.wait()
            message = self._last_message()
            if self._stopping.is_set():
                break
            if not self.device or self.clock_origin is None:
                # A file or URL that ended or stalled, or a device that never opened.
                if self._stalled:
                    self.error = f"no audio from {self.spec!r} for {self.options.stall_seconds:g} s"
                elif code not in (0, -signal.SIGTERM):
                    self.error = f"ffmpeg failed on {self.spec!r} ({code}): {message}"
                break
            delay = self.options.restart_first_seconds if delivered else delay
            with self._changed:
                self._down = True
                self._notices.append(f"lost {self.spec} (ffmpeg exited with {code}: {message}); "
                                     f"reopening it in {delay:g} s")
                self._changed.notify_all()
            if self._stopping.wait(delay):
                break
            delay = min(delay * 2, self.options.restart_max_seconds)
            with self._changed:
                if self._stopping.is_set():  # stop() may not see a process opened after it
                    break
                self._process = self._open()
                self._last_audio, self._stalled = None, False
                self.restarts += 1
        with self._changed:
            self.ended = True
            self._changed.notify_all()

    def _watch(self) -> None:
        """Kills an ffmpeg that delivered audio and then went quiet (see stall_seconds): the
        capture thread then reopens a device as if it had exited, and ends a file or URL."""
        while not self._stopping.wait(WAIT_SECONDS):
            with self._changed:
                process, last = self._process, self._last_audio
                if (last is None or process is None or process.poll() is not None
                        or time.monotonic() - last < self.options.stall_seconds):
                    continue
                self._last_audio, self._stalled = None, True
                self._notices.append(f"no audio from {self.spec} for {self.options.stall_seconds:g} s: "
                                     "restarting its ffmpeg")
            process.kill()

    def _read(self, process: subprocess.Popen) -> bool:
        """Reads one ffmpeg process to its end; whether it delivered any audio."""
        delivered = False
        while data := process.stdout.read(CHUNK_BYTES):
            data = data[: len(data) // 2 * 2]
            duration = len(data) / BYTES_PER_SECOND
            with self._changed:
                now = time.monotonic()
                if self.clock_origin is None:
                    self.clock_origin = now - duration
                elif not delivered and self.device:
                    # A reopened device: the time it was away passed, in capture time too.
                    resumed = max(self.captured, now - duration - self.clock_origin)
                    if self._down:
                        self._notices.append(f"capturing {self.spec} again after "
                                             f"{resumed - self.captured:.1f} s")
                    self.captured, self._down = resumed, False
                self._chunks.append(Chunk(self.captured, data))
                self.captured += duration
                self._last_audio = now
                self._changed.notify_all()
                while (not self.options.realtime and not self._stopping.is_set()
                       and self.captured - self._sent > LOOKAHEAD_SECONDS):
                    self._changed.wait(WAIT_SECONDS)  # a fast file waits for the stream
            delivered = True
        return delivered


@dataclasses.dataclass(frozen=True)
class LiveOptions:
    address: str = DEFAULT_ADDRESS  # host:port of the sidecar
    token: str | None = None  # bearer token, when the sidecar asks for one
    language_code: str = ""  # BCP-47 ("en"); empty: the model's default or detection
    model: str = ""  # Whisper model name; empty: the server's default
    interim_results: bool = True  # also receive the words not yet final
    hotwords: str = ""  # comma-separated words to favour
    initial_prompt: str = ""  # text that conditions decoding (names, spellings)
    endpoint_silence_seconds: float = 0.0  # silence that ends an utterance; 0: the server's
    retry_first_seconds: float = 0.5  # first wait before reconnecting; doubles each try
    retry_max_seconds: float = 5.0  # longest wait between reconnection tries
    give_up_seconds: float | None = None  # how long the sidecar may stay away; None: for ever

    def validate(self) -> None:
        if not self.address.strip():
            raise ValueError("no sidecar address given (host:port, e.g. 127.0.0.1:50051)")
        if not 0 < self.retry_first_seconds <= self.retry_max_seconds:
            raise ValueError("retry times must satisfy 0 < retry_first_seconds <= retry_max_seconds")
        if self.give_up_seconds is not None and self.give_up_seconds < 0:
            raise ValueError(f"give_up_seconds must be >= 0, got {self.give_up_seconds}")

    def config(self) -> streaming_recognition_pb2.StreamingRecognitionConfig:
        vad = streaming_recognition_pb2.VoiceActivityConfig()
        if self.endpoint_silence_seconds:
            vad.endpoint_silence_duration.FromNanoseconds(round(self.endpoint_silence_seconds * 1e9))
        return streaming_config(SAMPLE_RATE, language_code=self.language_code, model=self.model,
                                interim_results=self.interim_results, hotwords=self.hotwords,
                                initial_prompt=self.initial_prompt, voice_activity=vad)


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

    def __init__(self, capture: AudioCapture, options: LiveOptions = LiveOptions()) -> None:
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
        self._resume = 0.0
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
        delay = self.options.retry_first_seconds
        away_since = None  # when the sidecar went away, while it is away
        while not self._stop.is_set():
            try:
                with SidecarClient(self.options.address, token=self.options.token) as client:
                    client.wait_ready(timeout=self.options.retry_max_seconds)
                    self._set(status="connected")
                    delay, away_since = self.options.retry_first_seconds, None
                    self._stream(client)
            except SidecarError as exc:
                if self._stop.is_set():
                    break
                away_since = away_since or time.monotonic()
                give_up = self.options.give_up_seconds
                if exc.code not in RETRY_CODES or (
                        give_up is not None and time.monotonic() - away_since >= give_up):
                    self._set(status=f"failed: {exc}", interim="")
                    return
                self._set(status=f"reconnecting: {exc.details}", interim="")
                self._stop.wait(delay)
                delay = min(delay * 2, self.options.retry_max_seconds)
                continue
            if self.capture.ended and self._resume >= self.capture.captured - 1e-6:
                self._set(status=f"failed: {self.capture.error}" if self.capture.error else "ended")
                return
        self._set(status="stopped")

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
                self._take(response, origin)
        finally:
            self._set(call=None)
        if not self._stop.is_set():
            self._set(resume=max(self._resume, sent[0]), interim="")

    def _take(self, response, origin: float) -> None:
        result = response.final_result
        words = tuple(subtitles.TimedWord(w.text, origin + seconds(w.start_offset),
                                          origin + seconds(w.end_offset)) for w in result.words)
        # A restarted stream decodes again from the last final word's end; a word that
        # straddled it was already shown.
        words = tuple(w for w in words if (w.start + w.end) / 2 >= self._resume)
        with self._lock:
            if words:
                text = "".join(w.text for w in words).strip()
                self._finals.append(Final(text, words))
                self._resume = words[-1].end
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
            return (f"the sidecar is {lag:.1f} s behind the audio: a smaller model or a GPU "
                    "would keep up")
        return "the sidecar caught up with the audio"


@dataclasses.dataclass(frozen=True)
class BoardOptions:
    lines: int = 2  # lines shown, 1 to 10
    chars_per_line: int = 42  # at most this many characters per line (a longer word is cut)

    def validate(self) -> None:
        if not 1 <= self.lines <= 10:
            raise ValueError(f"lines must be 1 to 10, got {self.lines}")
        if not 8 <= self.chars_per_line <= 200:
            raise ValueError(f"characters per line must be 8 to 200, got {self.chars_per_line}")


class CaptionBoard:
    """The text on screen, rolling up: final words then the interim ones, wrapped into lines,
    the last `lines` shown. Final words scroll away a whole line at a time, so the lines
    already on screen keep their breaks."""

    def __init__(self, options: BoardOptions = BoardOptions()) -> None:
        options.validate()
        self.options = options
        self._final: list[str] = []  # words (pieces of over-long ones) from the top line on
        self._interim: list[str] = []

    def add_final(self, text: str) -> None:
        self._final.extend(self._pieces(text))
        lines = self._wrap(self._final)
        scrolled = lines[: max(0, len(lines) - self.options.lines)]
        del self._final[: sum(len(line) for line in scrolled)]

    def set_interim(self, text: str) -> None:
        self._interim = self._pieces(text)

    def clear(self) -> None:
        self._final, self._interim = [], []

    def text(self) -> str:
        lines = self._wrap(self._final + self._interim)[-self.options.lines:]
        return "\n".join(" ".join(line) for line in lines)

    def _pieces(self, text: str) -> list[str]:
        """The words, a word longer than a line cut into line-long pieces."""
        width = self.options.chars_per_line
        return [word[i:i + width] for word in text.split() for i in range(0, len(word), width)]

    def _wrap(self, words: list[str]) -> list[list[str]]:
        lines: list[list[str]] = []
        used = self.options.chars_per_line + 1  # forces a first line
        for word in words:
            if used + 1 + len(word) > self.options.chars_per_line:
                lines.append([])
                used = -1
            lines[-1].append(word)
            used += 1 + len(word)
        return lines


class CaptionFile:
    """An SRT or WebVTT file (by its suffix) for a recording that began at capture time
    `origin`, rewritten atomically on each final result so it is complete and valid at every
    moment. Words before a pause that always ends a cue are frozen as cues, so a rewrite
    rebuilds only the cues since the last pause."""

    def __init__(self, path: str | os.PathLike, origin: float = 0.0,
                 rules: subtitles.CueRules | None = None) -> None:
        self.path = pathlib.Path(path)
        if self.path.suffix.lower() not in subtitles.WRITERS:
            raise ValueError(f"{self.path}: a caption file must end in {', '.join(subtitles.WRITERS)}")
        self._format = subtitles.WRITERS[self.path.suffix.lower()]
        self.origin = origin
        self.rules = rules or subtitles.CueRules()
        self._frozen: list[subtitles.Cue] = []  # cues of words before the last long pause
        self._words: list[subtitles.TimedWord] = []  # words since then
        write_text_atomically(self.path, self._format([]))

    def add(self, final: Final) -> None:
        """Adds words in capture time; words spoken before the recording began are left out."""
        shifted = [dataclasses.replace(w, start=w.start - self.origin, end=w.end - self.origin)
                   for w in final.words if w.start >= self.origin]
        if not shifted:
            return
        if self._words and shifted[0].start - self._words[-1].end >= subtitles.PAUSE_SECONDS:
            self._frozen, self._words = self.cues(), []
        self._words.extend(shifted)
        write_text_atomically(self.path, self._format(self.cues()))

    def cues(self) -> list[subtitles.Cue]:
        return self._frozen + subtitles.build_cues(self._words, rules=self.rules)

"""Audio capture with ffmpeg for live captions: a device, or a file or URL read in real time.

Standard library only (plus an `ffmpeg` program). `AudioCapture` runs ffmpeg in a thread and
keeps the last BACKLOG_SECONDS of 16 kHz mono s16le audio, each chunk with its offset from the
capture's start ("capture time"), so a stream can start anywhere in that window. A device whose
ffmpeg exits (unplugged, sound server restarted) is opened again after a backoff; the time it
was away counts as time passing. One that stops delivering without exiting (a hung driver or
sound server) is killed and opened again too. A file read as fast as it is taken stays
LOOKAHEAD_SECONDS ahead of the stream.
"""

from __future__ import annotations

import collections
import dataclasses
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator

SAMPLE_RATE = 16_000  # what the stream sends: 16 kHz mono s16le, Whisper's rate
BYTES_PER_SECOND = SAMPLE_RATE * 2
CHUNK_SECONDS = 0.1
CHUNK_BYTES = int(CHUNK_SECONDS * BYTES_PER_SECOND)
BACKLOG_SECONDS = 60.0  # audio kept for a stream that (re)starts late; older audio is dropped
LOOKAHEAD_SECONDS = 2.0  # a file read as fast as taken stays this far ahead of the stream
MESSAGE_LINES = 3  # of ffmpeg's messages, kept in a notice or error
WAIT_SECONDS = 0.2  # how often blocked threads look at their stop flag
DEVICE_FORMATS = ("pulse", "alsa", "avfoundation", "dshow", "oss", "jack", "lavfi")
LIST_SECONDS = 3.0  # an ffmpeg listing devices longer than this is given up (a hung sound server)
# `ffmpeg -sources FORMAT` lines: "* NAME [DESCRIPTION] (media types)", "*" on the default.
_SOURCE_LINE = re.compile(r"^\s*(\*)?\s*(\S+)\s+\[(.*)\]")
_AVFOUNDATION_LINE = re.compile(r"\]\s*\[(\d+)\]\s*(.+)$")


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
    return [
        ffmpeg,
        "-nostdin",
        "-hide_banner",
        "-loglevel",
        "error",
        *source,
        "-vn",
        "-ac",
        "1",
        "-ar",
        str(SAMPLE_RATE),
        "-f",
        "s16le",
        "-",
    ]


@dataclasses.dataclass(frozen=True)
class Device:
    spec: str  # FORMAT:NAME, as ffmpeg_command takes it
    description: str  # what the system calls it ("Built-in Audio Analog Stereo")
    default: bool = False


def list_devices(ffmpeg: str = "ffmpeg", platform: str = sys.platform) -> list[Device]:
    """The audio capture devices ffmpeg finds on this system, the default ones first; [] when
    there is no ffmpeg or it finds none (no sound server, no permission)."""
    program = shutil.which(ffmpeg)
    if program is None:
        return []
    if platform == "darwin":
        found = _avfoundation_devices(program)
    elif platform == "win32":
        found = _ffmpeg_sources(program, "dshow")
    else:
        found = _ffmpeg_sources(program, "pulse") + _ffmpeg_sources(program, "alsa")
    return sorted(found, key=lambda device: not device.default)


def _ffmpeg_sources(program: str, kind: str) -> list[Device]:
    devices = []
    for line in _ffmpeg_says([program, "-hide_banner", "-sources", kind]).splitlines():
        match = _SOURCE_LINE.match(line)
        if match is None or ".monitor" in match[2]:  # a monitor records what is played, not a microphone
            continue
        name = f"audio={match[3]}" if kind == "dshow" else match[2]  # dshow opens devices by their name
        if kind != "dshow" or "audio" in line[match.end() :]:
            devices.append(Device(f"{kind}:{name}", match[3], bool(match[1])))
    return devices


def _avfoundation_devices(program: str) -> list[Device]:
    """avfoundation cannot be asked for sources; it lists its devices in its messages."""
    said = _ffmpeg_says([program, "-hide_banner", "-f", "avfoundation", "-list_devices", "true", "-i", ""])
    _, _, audio = said.partition("audio devices:")
    return [
        Device(f"avfoundation::{match[1]}", match[2].strip(), match[1] == "0")
        for match in map(_AVFOUNDATION_LINE.search, audio.splitlines())
        if match
    ]


def _ffmpeg_says(command: list[str]) -> str:
    try:
        done = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, timeout=LIST_SECONDS)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return (done.stdout + done.stderr).decode(errors="replace")


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

    def __init__(self, spec: str, options: CaptureOptions = CaptureOptions(), *, ffmpeg: str = "ffmpeg") -> None:
        options.validate()
        program = shutil.which(ffmpeg)
        if program is None:
            raise FileNotFoundError(f"no {ffmpeg} program on PATH: live captions need FFmpeg")
        self.spec = spec
        self.options = options
        self.device = is_device(spec)
        self._command = ffmpeg_command(spec, program, realtime=options.realtime)
        self._chunks: collections.deque[Chunk] = collections.deque(
            maxlen=max(1, round(options.backlog_seconds / CHUNK_SECONDS))
        )
        self._changed = threading.Condition()
        self._stopping = threading.Event()
        self._process: subprocess.Popen | None = None
        self._thread = threading.Thread(target=self._run, name="sidecar-capture", daemon=True)
        self._watchdog = threading.Thread(target=self._watch, name="sidecar-capture-watchdog", daemon=True)
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
        return subprocess.Popen(self._command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._messages)

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
                self._notices.append(
                    f"lost {self.spec} (ffmpeg exited with {code}: {message}); reopening it in {delay:g} s"
                )
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
                if (
                    last is None
                    or process is None
                    or process.poll() is not None
                    or time.monotonic() - last < self.options.stall_seconds
                ):
                    continue
                self._last_audio, self._stalled = None, True
                self._notices.append(
                    f"no audio from {self.spec} for {self.options.stall_seconds:g} s: restarting its ffmpeg"
                )
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
                        self._notices.append(f"capturing {self.spec} again after {resumed - self.captured:.1f} s")
                    self.captured, self._down = resumed, False
                self._chunks.append(Chunk(self.captured, data))
                self.captured += duration
                self._last_audio = now
                self._changed.notify_all()
                while (
                    not self.options.realtime
                    and not self._stopping.is_set()
                    and self.captured - self._sent > LOOKAHEAD_SECONDS
                ):
                    self._changed.wait(WAIT_SECONDS)  # a fast file waits for the stream
            delivered = True
        return delivered

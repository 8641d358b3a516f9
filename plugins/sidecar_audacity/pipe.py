"""The mod-script-pipe transport: two FIFOs, one command line out, one reply block back.

Audacity creates `/tmp/audacity_script_pipe.to.<uid>` (it reads commands) and
`.from.<uid>` (it writes replies) and serves one client at a time. The awkward parts, each
handled here once:
- Audacity blocks on its end until a client opens both, in the order `to` then `from`; a
  blocking open of `to` with no Audacity behind it hangs forever, so both opens are
  non-blocking and `to` is retried on ENXIO (no reader) until a deadline.
- After a client disconnects, Audacity deletes and re-creates both FIFOs; reconnecting to
  the old ones races, so a reconnect waits until the file is a new one (inode or ctime).
- A reply is lines ending in `BatchCommand finished: OK|Failed` and an empty line. Before
  the project window exists a command gets only a bare newline; the handshake retries.
- A modal dialog (save prompt, import error, crash recovery) stops Audacity answering. A
  command that gets no reply in time raises AudacityStalledError instead of hanging, and
  the late reply is discarded before the next command so replies never shift by one.
Replies are read with select + os.read: a buffered reader could hide lines it already read.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import select
import time

from sidecar_audacity.errors import AudacityCommandError, AudacityStalledError, AudacityUnreachableError

log = logging.getLogger(__name__)

PIPE_DIR = "/tmp"
CONNECT_TIMEOUT_SECONDS = 5.0
COMMAND_TIMEOUT_SECONDS = 15.0  # no reply by then: a dialog is open (or Audacity hangs)
LATE_REPLY_WAIT_SECONDS = 1.0  # how long a stalled command's reply is awaited before the next one
RETRY_SECONDS = 0.05
MAX_COMMAND_BYTES = 1023  # Audacity reads each line into a 1024-byte buffer
HANDSHAKE = "Help: Command=Help"  # cheap, and answered only once a project window exists
HANDSHAKE_ATTEMPT_SECONDS = 1.0  # then check whether Audacity re-created the FIFOs meanwhile
_FINISHED = re.compile(rb"^BatchCommand finished: ([^\n]*)\n\n", re.M)

# FIFO identity (inode, ctime) each path had when this process last closed it: Audacity
# replaces a FIFO after its client leaves, and the next connection must wait for the new one.
_RETIRED: dict[str, tuple[int, int]] = {}


def pipe_paths(directory: str = PIPE_DIR) -> tuple[str, str]:
    """(commands FIFO, replies FIFO) for this user on Linux and macOS."""
    uid = os.getuid()
    return (
        os.path.join(directory, f"audacity_script_pipe.to.{uid}"),
        os.path.join(directory, f"audacity_script_pipe.from.{uid}"),
    )


class PipeConnection:
    """One client connection to Audacity's scripting pipe; reconnects when Audacity drops it."""

    def __init__(
        self,
        directory: str = PIPE_DIR,
        *,
        connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
        command_timeout: float = COMMAND_TIMEOUT_SECONDS,
    ) -> None:
        if os.name == "nt":
            raise AudacityUnreachableError(
                "Audacity's Windows named pipes are not supported yet (Linux and macOS only)"
            )
        self.to_path, self.from_path = pipe_paths(directory)
        self.lock_path = os.path.join(directory, f"sidecar-audacity.lock.{os.getuid()}")
        self.connect_timeout = connect_timeout
        self.command_timeout = command_timeout
        self._write_fd: int | None = None
        self._read_fd: int | None = None
        self._lock_fd: int | None = None
        self._buffer = b""
        self._late_replies = 0  # replies of stalled commands still to come
        self._replies_seen = False

    @property
    def connected(self) -> bool:
        return self._write_fd is not None

    def __enter__(self) -> PipeConnection:
        self.connect()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def connect(self) -> None:
        if self.connected:
            return
        self._take_lock()
        try:
            deadline = time.monotonic() + self.connect_timeout
            self._open(deadline)
            self._handshake(deadline)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        self._close_fds()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def _close_fds(self) -> None:
        if self._write_fd is not None:
            with contextlib.suppress(OSError):
                stat = os.fstat(self._write_fd)
                _RETIRED[self.to_path] = (stat.st_ino, stat.st_ctime_ns)
        for fd in (self._write_fd, self._read_fd):
            if fd is not None:
                os.close(fd)
        self._write_fd = self._read_fd = None
        self._buffer, self._late_replies, self._replies_seen = b"", 0, False

    def command(self, text: str, timeout: float | None = None) -> str:
        """Sends one command and returns the reply's text, without the closing status line."""
        if "\n" in text or "\r" in text:
            raise ValueError(f"a command is one line: {text!r}")
        line = (text + "\n").encode("utf-8")
        if len(line) > MAX_COMMAND_BYTES:
            raise ValueError(f"command longer than Audacity's {MAX_COMMAND_BYTES}-byte line: {text[:60]!r}...")
        self.connect()
        began = time.monotonic()
        try:
            self._discard_late_replies(text)
            os.write(self._write_fd, line)
        except (_Closed, BrokenPipeError):  # Audacity dropped us (it restarted, or quit)
            self.close()
            self.connect()
            os.write(self._write_fd, line)
        try:
            status, body = self._read_reply(time.monotonic() + (timeout or self.command_timeout), text)
        except _Closed:
            self.close()
            raise AudacityUnreachableError(
                f"Audacity closed its scripting pipe during {_name(text)} (did it quit?)"
            ) from None
        log.debug("%s: %s in %.3f s", _name(text), status, time.monotonic() - began)
        if not status.startswith("OK"):
            raise AudacityCommandError(f"Audacity could not run {_name(text)}: {body.strip() or status}")
        return body

    # --- connecting ------------------------------------------------------------------------

    def _take_lock(self) -> None:
        """One plugin client at a time: two writers on the FIFO would interleave replies."""
        import fcntl  # POSIX only, like the FIFOs themselves

        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise AudacityUnreachableError(
                "another sidecar-audacity client is using Audacity's scripting pipe; "
                "wait for it to finish or close its panel"
            ) from None
        self._lock_fd = fd

    def _open(self, deadline: float) -> None:
        while True:
            try:
                stat = os.stat(self.to_path)
                if (stat.st_ino, stat.st_ctime_ns) != _RETIRED.get(self.to_path) or time.monotonic() > deadline:
                    self._write_fd = os.open(self.to_path, os.O_WRONLY | os.O_NONBLOCK)
                    break
            except FileNotFoundError:
                pass
            except OSError as exc:
                if exc.errno != errno.ENXIO:  # ENXIO: the FIFO has no reader yet (or any more)
                    raise AudacityUnreachableError(f"cannot open {self.to_path}: {exc.strerror}") from None
            if time.monotonic() > deadline:
                raise AudacityUnreachableError(unreachable_message(self.to_path))
            time.sleep(RETRY_SECONDS)
        os.set_blocking(self._write_fd, True)  # commands are tiny; the FIFO buffer takes them
        self._read_fd = os.open(self.from_path, os.O_RDONLY | os.O_NONBLOCK)

    def _handshake(self, deadline: float) -> None:
        """Waits for a full reply; reopens if Audacity replaced the FIFOs under us meanwhile."""
        os.write(self._write_fd, (HANDSHAKE + "\n").encode())
        while True:
            attempt = min(deadline, time.monotonic() + HANDSHAKE_ATTEMPT_SECONDS)
            try:
                self._read_reply(attempt, HANDSHAKE, bare_newline_is_reply=True, late=True)
                return
            except _NotReady:
                time.sleep(RETRY_SECONDS)
            except (AudacityStalledError, _Closed):
                if time.monotonic() >= deadline:
                    raise AudacityUnreachableError(
                        f"Audacity holds the scripting pipe but does not answer within "
                        f"{self.connect_timeout:g} s: close any open dialog in Audacity and retry"
                    ) from None
                if not self._replaced():
                    continue
                self._close_fds()
                self._open(deadline)
            os.write(self._write_fd, (HANDSHAKE + "\n").encode())

    def _replaced(self) -> bool:
        """Whether the FIFO at our path is no longer the one we opened (Audacity re-created it)."""
        try:
            return os.stat(self.to_path).st_ino != os.fstat(self._write_fd).st_ino
        except FileNotFoundError:
            return True

    # --- replies ---------------------------------------------------------------------------

    def _discard_late_replies(self, text: str) -> None:
        while self._late_replies:
            try:
                self._read_reply(time.monotonic() + LATE_REPLY_WAIT_SECONDS, text, late=True)
            except AudacityCommandError:
                pass  # the stalled command failed after all; its error was already reported
            self._late_replies -= 1

    def _read_reply(
        self, deadline: float, text: str, *, bare_newline_is_reply: bool = False, late: bool = False
    ) -> tuple[str, str]:
        while True:
            match = _FINISHED.search(self._buffer)
            if match:
                body = self._buffer[: match.start()].decode("utf-8", "replace")
                self._buffer = self._buffer[match.end() :]
                return match[1].decode("utf-8", "replace"), body
            if bare_newline_is_reply and self._buffer == b"\n":
                self._buffer = b""
                raise _NotReady
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                if not late:
                    self._late_replies += 1
                raise AudacityStalledError(stalled_message(text, late))
            ready, _, _ = select.select([self._read_fd], [], [], min(remaining, 0.5))
            if not ready:
                continue
            data = os.read(self._read_fd, 65536)
            if data:
                self._buffer += data
                self._replies_seen = True
            elif self._replies_seen:
                raise _Closed
            else:
                time.sleep(RETRY_SECONDS)  # Audacity has not opened its end yet


class _Closed(Exception):
    """Audacity closed its end of the pipe."""


class _NotReady(Exception):
    """Audacity answered with a bare newline: its project window is not up yet."""


def _name(text: str) -> str:
    return text.split(":", 1)[0]


def stalled_message(text: str, late: bool) -> str:
    what = "is still busy with an earlier command" if late else f"did not answer {_name(text)}"
    return (
        f"Audacity {what}: a dialog is probably open in Audacity (an error, a save "
        "prompt or crash recovery); close it and try again"
    )


def unreachable_message(to_path: str) -> str:
    if audacity_running() is False:
        return f"Audacity is not running (no scripting pipe answers at {to_path}): start Audacity"
    return (
        f"no scripting pipe answers at {to_path}: enable mod-script-pipe in Audacity's "
        "Edit > Preferences > Modules, then restart Audacity"
    )


def audacity_running() -> bool | None:
    """Whether an Audacity process of this user runs; None where /proc cannot tell (macOS)."""
    pids = audacity_pids()
    return None if pids is None else bool(pids)


def audacity_pids() -> list[int] | None:
    """The ids of this user's Audacity processes; None where /proc cannot tell (macOS)."""
    if not os.path.isdir("/proc/self"):
        return None
    uid, pids = os.getuid(), []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError):
            if os.stat(f"/proc/{pid}").st_uid != uid:
                continue
            with open(f"/proc/{pid}/comm") as f:
                if f.read().strip().lower() == "audacity":
                    pids.append(int(pid))
    return pids

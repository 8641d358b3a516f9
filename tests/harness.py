"""Real sidecars for tests: in-process on a loopback port (as the CLI runs one), or as a
`sidecar serve` process on a fixed port that a test can kill and restart."""

import contextlib
import faulthandler
import os
import pathlib
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence

from sidecar.server.inprocess import InProcessSidecar

SIDECAR = [sys.executable, "-m", "sidecar.cli.main"]
SERVE_SECONDS = 90  # a cold start loads faster-whisper and tiny.en on a busy CPU


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_command(command: Sequence[str], timeout: float) -> subprocess.CompletedProcess:
    """subprocess.run(command, capture_output=True, text=True), except that a command still
    running after `timeout` seconds fails the test with where each of its threads stood
    (faulthandler's dump on SIGABRT), and where this process's threads stood: an in-process
    server's among them. A hang then says where it is, not only that it happened."""
    env = {**os.environ, "PYTHONFAULTHANDLER": "1"}
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) as process:
        try:
            out, err = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            faulthandler.dump_traceback(file=sys.__stderr__, all_threads=True)  # fd 2: the captured stderr
            process.send_signal(signal.SIGABRT)
            try:
                out, err = process.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                out, err = process.communicate()
            raise AssertionError(f"{shlex.join(command)} still ran after {timeout:g} s; then:\n{err[-8000:]}") from None
    return subprocess.CompletedProcess(command, process.returncode, out, err)


def serve(
    port: int,
    ready_file: pathlib.Path,
    env: dict | None = None,
    flags: Sequence[str] = (),
    seconds: float = SERVE_SECONDS,
    log: pathlib.Path | None = None,
) -> subprocess.Popen:
    """A real `sidecar serve` process on a fixed port with tiny.en loaded and any further
    `flags`, once it listens (within `seconds`). Its stderr goes to `log` when given: a
    process that logs much (Ray does) would block on a full pipe that nobody reads."""
    ready_file.unlink(missing_ok=True)
    with open(log, "a") if log else contextlib.nullcontext(subprocess.PIPE) as stderr:
        process = subprocess.Popen(
            [*SIDECAR, "serve", "--port", str(port), "--preload", "tiny.en", "--ready-file", str(ready_file), *flags],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            text=True,
            env=env,
        )
    deadline = time.monotonic() + seconds
    while not (ready_file.exists() and ready_file.read_text()):
        if process.poll() is not None:
            said = log.read_text()[-4000:] if log else process.stderr.read()
            raise AssertionError(f"sidecar serve exited: {said}")
        assert time.monotonic() < deadline, "sidecar serve did not start in time"
        time.sleep(0.1)
    return process


@contextlib.contextmanager
def serving(directory: pathlib.Path, *flags: str, env: dict | None = None):
    """A SidecarClient to a real `sidecar serve` process started with `flags`, stopped after."""
    from sidecar_client import SidecarClient

    port = free_port()
    process = serve(port, directory / f"ready-{port}", env=env, flags=flags)
    try:
        with SidecarClient(f"127.0.0.1:{port}") as client:
            yield client
    finally:
        process.terminate()
        process.wait(timeout=30)


class RunningSidecar(InProcessSidecar):
    def __init__(self, **overrides) -> None:
        super().__init__(**overrides)
        self.start()

    def call(self, coroutine, timeout: float = 120):
        return self.run(coroutine, timeout)


def wait_until(condition, timeout: float = 10.0) -> bool:
    """Whether condition() became true within `timeout` seconds (polled every 10 ms)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True

"""What bench/load.py and bench/soak.py share: a `sidecar serve` process, its resource use read
from /proc, live streams paced at real time through the project's client, and file jobs."""

from __future__ import annotations

import contextlib
import os
import pathlib
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "plugins")]

from sidecar_client.client import SidecarClient, SidecarError, streaming_config  # noqa: E402
from tests.harness import free_port  # noqa: E402
from tests.streaming_fixtures import SAMPLE_RATE, paced_long_form, pcm_chunks  # noqa: E402

FILE_CLIP = ROOT / "tests" / "data" / "demo-1089.flac"


@contextlib.contextmanager
def sidecar_process(*flags: str) -> Iterator[tuple[str, int]]:
    """A `sidecar serve` with tiny.en loaded: (address, pid)."""
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        ready = pathlib.Path(tmp) / "ready"
        process = subprocess.Popen(
            [sys.executable, "-m", "sidecar.cli.main", "serve", "--port", str(port), "--ready-file", str(ready)]
            + ["--preload", "tiny.en", *flags],
            cwd=ROOT,
            env={**os.environ, "HF_HUB_OFFLINE": "1"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 120
            while not (ready.exists() and ready.read_text()):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("sidecar serve did not start")
                time.sleep(0.1)
            yield f"127.0.0.1:{port}", process.pid
        finally:
            process.terminate()
            process.wait(60)


def process_stats(pid: int) -> dict[str, float]:
    """Resident memory (MiB), threads and open file descriptors of a process."""
    status = dict(
        line.split(":", 1) for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line
    )
    return {
        "rss_mib": int(status["VmRSS"].split()[0]) / 1024,
        "threads": int(status["Threads"]),
        "fds": len(os.listdir(f"/proc/{pid}/fd")),
    }


def speech(seconds: float, offset: float = 0.0) -> np.ndarray:
    """`seconds` of the paced long-form reading (looped), from `offset` seconds in."""
    audio, _ = paced_long_form()
    start = int(offset * SAMPLE_RATE) % len(audio)
    need = int(seconds * SAMPLE_RATE)
    reps = (start + need) // len(audio) + 1
    return np.tile(audio, reps)[start : start + need]


class LiveStream(threading.Thread):
    """One caption stream at real-time pace; `lags` holds (wall time, lag) of each final word:
    seconds from the word's end being sent to its final arriving."""

    def __init__(self, address: str, audio: np.ndarray) -> None:
        super().__init__(daemon=True)
        self.address = address
        self.audio = audio
        self.lags: list[tuple[float, float]] = []
        self.error: SidecarError | None = None
        self.started_at = 0.0

    def run(self) -> None:
        config = streaming_config(SAMPLE_RATE, model="tiny.en")
        try:
            with SidecarClient(self.address, busy_retries=0) as client:
                self.started_at = time.perf_counter()
                for response in client.streaming_recognize(pcm_chunks(self.audio, pace=1.0), config=config):
                    now = time.perf_counter()
                    for word in response.final_result.words:
                        end = word.time_range.end_offset.seconds + word.time_range.end_offset.nanos / 1e9
                        self.lags.append((now, now - self.started_at - end))
        except SidecarError as exc:
            self.error = exc


class FileJobs(threading.Thread):
    """Transcribes FILE_CLIP again and again until stopped (or every `every` seconds); counts
    the audio seconds done and the time each job took."""

    def __init__(self, address: str, priority: str = "interactive", every: float = 0.0) -> None:
        super().__init__(daemon=True)
        self.address, self.priority, self.every = address, priority, every
        self.stop = threading.Event()
        self.audio_seconds = 0.0
        self.durations: list[float] = []
        self.errors: list[str] = []

    def run(self) -> None:
        with SidecarClient(self.address, priority=self.priority) as client:
            while not self.stop.is_set():
                started = time.perf_counter()
                try:
                    transcript = client.transcribe(FILE_CLIP)
                    duration = transcript.info.audio_duration
                    self.audio_seconds += duration.seconds + duration.nanos / 1e9
                    self.durations.append(time.perf_counter() - started)
                except SidecarError as exc:
                    self.errors.append(str(exc))
                if self.every:
                    self.stop.wait(max(0.0, self.every - (time.perf_counter() - started)))


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")

"""Stopping with jobs running: SIGTERM refuses new calls, lets running jobs finish within the
grace period, then stops them with a status that says why, and exits cleanly."""

import signal
import threading
import time

import grpc
import numpy as np

from sidecar_client import SidecarClient, SidecarError
from tests.harness import free_port, serve
from tests.streaming_fixtures import speech, write_wav

GRACE_SECONDS = 2.0


def test_sigterm_stops_running_jobs_after_the_grace_and_exits_cleanly(tmp_path):
    one, _ = speech("1089-134686-0000", "1089-134686-0001", "1089-134691-0000", "1089-134691-0001")
    long_speech = write_wav(tmp_path / "long.wav", np.tile(one, 12))  # about 5 minutes
    port = free_port()
    server = serve(port, tmp_path / "ready", flags=["--shutdown-grace", str(GRACE_SECONDS)])
    outcome: dict = {}
    first_segment = threading.Event()

    def transcribe() -> None:
        try:
            with SidecarClient(f"127.0.0.1:{port}") as client:
                client.transcribe(long_speech, on_segment=lambda _: first_segment.set())
            outcome["finished"] = True
        except SidecarError as exc:
            outcome["error"] = exc
            outcome["at"] = time.monotonic()

    job = threading.Thread(target=transcribe)
    try:
        job.start()
        assert first_segment.wait(60), "the job never started"
        signalled = time.monotonic()
        server.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        with SidecarClient(f"127.0.0.1:{port}", busy_retries=0) as late:
            try:
                late.list_models()
                refused = None
            except SidecarError as exc:
                refused = exc
        job.join(30)
        exit_status = server.wait(30)
        stopped = time.monotonic()
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    log = server.stderr.read()

    assert refused is not None and refused.code == grpc.StatusCode.UNAVAILABLE, "a new call was served while stopping"
    error = outcome.get("error")
    assert error is not None, f"the 5 minute job was not stopped: {outcome}"
    assert error.code == grpc.StatusCode.UNAVAILABLE
    assert "shutting down" in error.details and f"{GRACE_SECONDS:g} s" in error.details
    # The job ran on through its grace period, and was stopped soon after it.
    assert GRACE_SECONDS - 0.5 <= outcome["at"] - signalled <= GRACE_SECONDS + 3
    # The server's log lines about the call carry the id the client printed.
    assert error.request_id and f"[{error.request_id}]" in log
    assert exit_status == 0 and "Traceback" not in log, log[-3000:]
    assert stopped - signalled < GRACE_SECONDS + 15
    assert "stopped" in log.splitlines()[-1]

"""A sidecar on a free loopback port in a background thread, for CLI runs without --server."""

from __future__ import annotations

import asyncio
import threading

from sidecar import config as config_mod
from sidecar.server import app


class InProcessSidecar:
    def __init__(self, **overrides) -> None:
        overrides.setdefault("port", 0)
        overrides.setdefault("host", "127.0.0.1")
        # The CLI's own server: the person naming model paths is the one who runs it.
        overrides.setdefault("allow_client_model_paths", True)
        self.config = config_mod.load(**overrides)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True, name="in-process-sidecar")
        self.sidecar: app.Sidecar | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.sidecar.port}"

    @property
    def runtime(self):
        return self.sidecar.runtime

    def run(self, coroutine, timeout: float | None = 120):
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    def start(self) -> InProcessSidecar:
        self._thread.start()
        self.sidecar = self.run(app.start(self.config))
        return self

    def stop(self) -> None:
        if self.sidecar is not None:
            self.run(self.sidecar.stop(grace=1.0))
        if self._thread.is_alive():
            self.run(self._loop.shutdown_asyncgens())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        if not self._thread.is_alive() and not self._loop.is_closed():
            self._loop.close()
        # Only now may the gRPC server go: dropping the last gRPC aio object shuts gRPC's aio
        # layer down and closes the pipe its poller wakes the loop through. With the loop still
        # running, a wake-up already queued then read the closed pipe and asyncio printed a
        # "Bad file descriptor" traceback.
        self.sidecar = None

    def __enter__(self) -> InProcessSidecar:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

"""Models of the sidecar's catalogue downloaded off the host's thread, for a host that polls: the
OBS script's "Download the models" button.

`ModelDownloads` asks the sidecar for its catalogue, then has it pull each named model that it
lacks (ModelService.PullModel), one after another in a thread of its own; `status` says what is
happening in a line ("Downloading small: 37 % of 484 MiB") and `take_downloaded()` names the
models that came, so that the host can start using them. A model whose licence must be accepted
is pulled only when the person accepted the licences; otherwise the status names the licence.

Needs what the rest of this package needs (grpcio, protobuf, the stubs): the host may be OBS's Python.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from sidecar_client.client import Connection, SidecarError


class ModelDownloads:
    """Pulls `names` through the sidecar at `connection`, in order, in a thread of its own."""

    def __init__(self, connection: Connection, names: Sequence[str], *, accept_licenses: bool = False) -> None:
        self.names = tuple(dict.fromkeys(name for name in names if name))
        self._connection = connection
        self._accept = accept_licenses
        self._lock = threading.Lock()
        self._status = "asking the sidecar for its catalogue"
        self._outcomes: list[str] = []  # a line per model finished, downloaded or not
        self._downloaded: list[str] = []  # not taken yet
        self._call = None  # the PullModel call under way
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="sidecar-model-downloads", daemon=True)

    def start(self) -> ModelDownloads:
        self._thread.start()
        return self

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    @property
    def status(self) -> str:
        """What happened to each model so far, then what is under way, a line each."""
        with self._lock:
            return "\n".join([*self._outcomes, *([self._status] if self._status else [])])

    def take_downloaded(self) -> list[str]:
        """The models downloaded since the last call."""
        with self._lock:
            taken, self._downloaded = self._downloaded, []
        return taken

    def stop(self) -> None:
        """Cancels the download under way (the sidecar removes its partial files) and the rest."""
        with self._lock:
            self._stopped, call = True, self._call
        if call is not None:
            call.cancel()

    def _run(self) -> None:
        try:
            with self._connection.open() as client:
                catalogue = {model.name: model for model in client.downloadable_models()}
                for name in self.names:
                    if self._stopped:
                        break
                    self._finish(self._pull(client, catalogue.get(name), name))
        except SidecarError as exc:
            self._finish(f"Download stopped: {exc.code.name}: {exc.details}")
        with self._lock:
            self._status = ""

    def _pull(self, client, model, name: str) -> str:
        if model is None:
            return f"{name}: not in the sidecar's catalogue (`sidecar models list` names what it can download)"
        if model.downloaded:
            return f"{name}: already downloaded"
        if model.license_to_accept and not self._accept:
            return f"{name}: its licence must be accepted first ({model.license_to_accept}): tick the box"
        self._set_status(f"Downloading {name}")
        call = client.pull_model(name, accept_license=self._accept)
        with self._lock:
            self._call = call
        try:
            for progress in call:
                if progress.total_bytes:
                    share = 100 * progress.done_bytes // progress.total_bytes
                    self._set_status(f"Downloading {name}: {share} % of {progress.total_bytes / 2**20:.0f} MiB")
        except SidecarError as exc:
            if self._stopped:
                return f"{name}: download cancelled"
            return f"{name}: download failed: {exc.code.name}: {exc.details}"
        finally:
            with self._lock:
                self._call = None
        with self._lock:
            self._downloaded.append(name)
        return f"Downloaded {name}"

    def _set_status(self, line: str) -> None:
        with self._lock:
            self._status = line

    def _finish(self, line: str) -> None:
        with self._lock:
            self._outcomes.append(line)
            self._status = ""

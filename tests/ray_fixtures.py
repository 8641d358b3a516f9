"""Ray Serve for the tests: a loopback-only network namespace to run Ray in (Ray replaces
127.0.0.1 with the host's address, and Serve's proxy listens on every interface), and a
`sidecar serve --ray` process inside it."""

from __future__ import annotations

import os
import pathlib
import shutil
import signal
import subprocess

from tests.harness import free_port, serve

# Set inside the namespace by tests/test_ray_serve.py: the session's sidecar is a Ray Serve one.
RAY_SERVE_ENV = "SIDECAR_TEST_RAY_SERVE"
TOKEN = "ray-serve-tests"  # Serve's proxy listens on every interface, so --ray needs a token
RAY_SERVE_SECONDS = 300  # Ray, Serve's controller and proxy, then a replica that loads tiny.en
STOP_SECONDS = 60


def loopback_namespace_missing() -> str | None:
    """Why no loopback-only network namespace can be made here, or None."""
    for tool in ("unshare", "ip"):
        if shutil.which(tool) is None:
            return f"no {tool} program (util-linux, iproute2)"
    probe = subprocess.run(in_loopback_namespace(["true"]), capture_output=True, text=True)
    return None if probe.returncode == 0 else f"cannot make a network namespace: {probe.stderr.strip()}"


def in_loopback_namespace(argv: list[str]) -> list[str]:
    """`argv` run in a new network namespace whose only interface, loopback, is up."""
    return ["unshare", "--net", "--", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", *argv]


class RaySidecar:
    """A `sidecar serve --ray` process: a local single-node Ray (or the cluster at
    `cluster`) serving the v1 services through Serve's gRPC proxy, tiny.en loaded."""

    def __init__(self, directory: pathlib.Path, *flags: str, cluster: str | None = None) -> None:
        self.port = free_port()
        env = {**os.environ, "SIDECAR_TOKEN": TOKEN, "RAY_USAGE_STATS_ENABLED": "0"}
        ray = ["--ray", cluster] if cluster else ["--ray"]
        self.process = serve(
            self.port,
            directory / f"ready-{self.port}",
            env=env,
            flags=[*ray, "--allow-client-model-paths", *flags],
            seconds=RAY_SERVE_SECONDS,
            log=directory / f"serve-{self.port}.log",
        )

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise

"""A Ray cluster of a head and a worker node on this machine, one sidecar replica on each: a
file job on the worker that is lost fails with UNAVAILABLE and its retry succeeds on the head,
while the job on the head carries on.

Not collected by itself: tests/test_ray_serve.py runs it inside a loopback-only namespace.
"""

from __future__ import annotations

import os
import threading

import grpc
import numpy as np
import pytest

from sidecar_client import SidecarClient, SidecarError
from tests.ray_fixtures import RAY_SERVE_ENV, RaySidecar
from tests.streaming_fixtures import demo, write_wav

pytestmark = pytest.mark.skipif(not os.environ.get(RAY_SERVE_ENV), reason="run by tests/test_ray_serve.py")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    from ray.cluster_utils import Cluster

    directory = tmp_path_factory.mktemp("cluster")
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    worker = cluster.add_node(num_cpus=1)
    server = None
    try:
        # One replica per node: each takes the one CPU of a node.
        server = RaySidecar(directory, "--ray-replicas", "2", "--ray-cpus", "1", cluster=cluster.address)
        yield cluster, worker, server
    finally:
        if server is not None:
            server.stop()
        cluster.shutdown()


class Job(threading.Thread):
    """A TranscribeFile call consumed on its own thread: how it ended, and whether it ran."""

    def __init__(self, client: SidecarClient, path) -> None:
        super().__init__(daemon=True)
        self.call = client.transcribe_stream(path)
        self.started = threading.Event()
        self.error: SidecarError | None = None
        self.segments = 0

    def run(self) -> None:
        try:
            for response in self.call:
                self.started.set()
                self.segments += response.WhichOneof("event") == "segment"
        except SidecarError as exc:
            self.error = exc
        self.started.set()


def test_a_job_on_a_lost_worker_fails_unavailable_and_its_retry_succeeds(cluster, tmp_path):
    cluster, worker, server = cluster
    long_speech = write_wav(tmp_path / "long.wav", np.tile(demo()[0], 6))  # 138 s
    with SidecarClient(server.address) as client:
        jobs = [Job(client, long_speech) for _ in range(2)]  # Serve sends the second to the idle replica
        for job in jobs:
            job.start()
        assert all(job.started.wait(120) for job in jobs)
        cluster.remove_node(worker, allow_graceful=False)
        for job in jobs:
            job.join(300)
        failed = [job for job in jobs if job.error is not None]
        assert len(failed) == 1, [job.error for job in jobs]
        assert failed[0].error.code == grpc.StatusCode.UNAVAILABLE, failed[0].error
        assert "replica running this call was lost" in failed[0].error.details
        carried_on = next(job for job in jobs if job.error is None)
        assert carried_on.segments > 10
        retried = client.transcribe(long_speech)
        assert len(retried.segments) > 10

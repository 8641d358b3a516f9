"""A Ray cluster of a head and a worker node on this machine, one sidecar replica on each.
ListModels answers for both replicas, whichever takes the call. When the worker is lost, a
file job on it fails with UNAVAILABLE and its retry succeeds on the head, while the job on the
head carries on; a live stream on it resumes on the head by itself; a folder being captioned
ends with no error, the lost file's job made again by the client, or by Ray for a folder
captioned as Ray tasks (`--ray`).

Not collected by itself: tests/test_ray_serve.py runs it inside a loopback-only namespace.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import threading
import time

import grpc
import numpy as np
import pytest

from sidecar.server.ray_serve import APPLICATION, MODELS_BOARD
from sidecar.v1 import models_pb2, transcription_pb2
from sidecar_client import SidecarClient, SidecarError, live
from sidecar_client.capture import AudioCapture
from sidecar_common import subtitles
from sidecar_common.durations import seconds
from tests.conftest import word_error_rate
from tests.harness import wait_until
from tests.ray_fixtures import RAY_SERVE_ENV, RaySidecar
from tests.streaming_fixtures import SAMPLE_RATE, demo, paced_long_form, write_wav

RESUME_SECONDS = 10  # the goal for a live stream whose replica was lost

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
        import ray

        ray.shutdown()  # connect() joined this process to the cluster
        cluster.shutdown()


class Job(threading.Thread):
    """A TranscribeFile call consumed on its own thread: how it ended, and how far it got."""

    def __init__(self, client: SidecarClient, path) -> None:
        super().__init__(daemon=True)
        self.call = client.transcribe_stream(path)
        self.started = threading.Event()
        self.error: SidecarError | None = None
        self.transcribed_until = 0.0  # the last segment's end, in seconds

    def run(self) -> None:
        try:
            for response in self.call:
                self.started.set()
                if response.WhichOneof("event") == "segment":
                    self.transcribed_until = seconds(response.segment.time_range.end_offset)
        except SidecarError as exc:
            self.error = exc
        self.started.set()


def test_list_models_answers_for_every_replica(cluster, tmp_path):
    """Serve sends each call to one replica: a model loaded on one of the two is listed as
    loaded, with its memory, whichever replica takes the ListModels call."""
    cluster, _, server = cluster
    assert wait_until(lambda: running_replicas(cluster) == 2, 180), "two replicas"
    speech = write_wav(tmp_path / "demo.wav", demo()[0][: 4 * SAMPLE_RATE])
    with SidecarClient(server.address) as client:
        client.transcribe(speech, options=transcription_pb2.TranscriptionOptions(model="base"))

        def base():
            return next(m for m in client.list_models() if m.name == "base")

        assert wait_until(lambda: posted_loaded(cluster, "base"), 60), "a replica posted base as loaded"
        answers = [base() for _ in range(12)]  # from both replicas but once in 2 ** 11
        assert all(m.loaded and m.memory_bytes > 0 for m in answers), [(m.loaded, m.memory_bytes) for m in answers]


def test_a_job_on_a_lost_worker_fails_unavailable_and_its_retry_succeeds(cluster, tmp_path):
    cluster, worker, server = cluster
    assert wait_until(lambda: running_replicas(cluster) == 2, 180), "two replicas"
    long_speech = write_wav(tmp_path / "long.wav", np.tile(demo()[0], 6))  # 138 s
    with SidecarClient(server.address) as client:
        jobs = []
        for _ in range(2):  # a job sent while the other runs goes to the idle replica
            jobs.append(Job(client, long_speech))
            jobs[-1].start()
            assert jobs[-1].started.wait(120)
        assert sorted(ongoing_calls(cluster)) == [1, 1], "one job on each replica"
        cluster.remove_node(worker, allow_graceful=False)
        for job in jobs:
            job.join(300)
        failed = [job for job in jobs if job.error is not None]
        assert len(failed) == 1, [job.error for job in jobs]
        assert failed[0].error.code == grpc.StatusCode.UNAVAILABLE, failed[0].error
        assert "replica running this call was lost" in failed[0].error.details
        carried_on = next(job for job in jobs if job.error is None)
        assert carried_on.transcribed_until > 130
        retried = client.transcribe(long_speech)
        assert seconds(retried.segments[-1].time_range.end_offset) > 130


def test_a_live_stream_on_a_lost_worker_resumes_on_the_head_within_10_s(cluster, tmp_path):
    cluster, _, server = cluster
    worker = cluster.add_node(num_cpus=1)  # the test before took the first one
    assert wait_until(lambda: running_replicas(cluster) == 2, 180), "no second replica"
    speech = write_wav(tmp_path / "speech.wav", paced_long_form()[0][: 60 * SAMPLE_RATE])
    captures: list[AudioCapture] = []
    sessions: list[live.LiveCaptions] = []
    heard: list[list[float]] = [[], []]  # when each session's new words (interim or final) arrived
    interims = ["", ""]

    def start_session() -> None:
        captures.append(AudioCapture(str(speech)).start())
        sessions.append(live.LiveCaptions(captures[-1], live.LiveOptions(address=server.address)).start())

    def stop_session(i: int) -> None:
        sessions.pop(i).stop()
        captures.pop(i).stop()
        heard[i], interims[i] = [], ""

    def pump() -> None:
        for i, session in enumerate(sessions):
            update = session.poll()
            if update.finals or update.interim not in ("", interims[i]):
                heard[i].append(time.monotonic())
            interims[i] = update.interim

    def pumped(condition, seconds: float) -> bool:
        return wait_until(lambda: pump() or condition(), seconds)

    try:
        # Serve's router may put both streams on one replica when they open together; a
        # stream opened while the other runs goes to the idle replica.
        for _ in range(3):
            for _ in range(len(sessions), 2):
                start_session()
                assert pumped(lambda: len(heard[len(sessions) - 1]) > 0, 60), "the stream captions"
            if sorted(ongoing_calls(cluster)) == [1, 1]:
                break
            stop_session(1)
            wait_until(lambda: sum(ongoing_calls(cluster)) == 1, 10)
        assert sorted(ongoing_calls(cluster)) == [1, 1], "one stream on each replica"
        lost_at = time.monotonic()
        cluster.remove_node(worker, allow_graceful=False)
        assert pumped(lambda: all(t and t[-1] > lost_at + 2 for t in heard), 60), [s.poll().status for s in sessions]
    finally:
        for session, capture in zip(sessions, captures):
            session.stop()
            capture.stop()
    moved = [i for i, session in enumerate(sessions) if session.streams > 1]
    assert len(moved) == 1, [s.streams for s in sessions]  # the stream on the worker, and only it
    resumed = next(t for t in heard[moved[0]] if t > lost_at)
    assert resumed - lost_at < RESUME_SECONDS


def test_a_folder_captioned_through_a_lost_worker_ends_with_no_error(cluster, tmp_path):
    """`sidecar subtitle FOLDER --jobs 2` on the cluster: the worker is lost while it captions
    one of the files, whose job the client makes again on the head; the batch ends with every
    file captioned and nothing reported failed."""
    cluster, _, server = cluster
    worker = cluster.add_node(num_cpus=1)  # the tests before took the others
    assert wait_until(lambda: running_replicas(cluster) == 2, 180), "no second replica"
    folder = tmp_path / "talks"
    folder.mkdir()
    audio, reference = demo()
    names = ("one", "two", "three")
    for name in names:
        write_wav(folder / f"{name}.wav", np.tile(audio, 6))  # 138 s
    # Serve's router may send two files that start together to one replica, and the third, sent
    # while one of them runs, to the other. Under the whole suite's load it sent every file to
    # the head's replica in three runs of three: the folder is then captioned again (--force).
    command = [sys.executable, "-m", "sidecar.cli.main", "subtitle", str(folder), "--jobs", "2", "-q", "--force"]
    for code, said in batches_until_the_worker_is_lost(
        cluster,
        worker,
        [*command, "--server", server.address],
        lambda: calls_on_node(cluster, worker.node_id) > 0,
        "Serve's router sent no file of three batches to the worker",
    ):
        assert code == 0 and not said.strip(), f"exit {code}: {said}"  # every run, the last with the loss
    for name in names:
        cues = subtitles.parse_srt((folder / f"{name}.srt").read_text())
        assert word_error_rate(" ".join([reference] * 6), " ".join(c.text.replace("\n", " ") for c in cues)) < 0.1


def test_a_folder_captioned_as_ray_tasks_through_a_lost_worker(cluster, tmp_path):
    """`sidecar subtitle FOLDER --ray ADDRESS --server PROXY`: each file is a Ray task. The worker
    node is lost while a task on it captions a file; Ray runs the task again on the head, and the
    batch ends with every media file captioned. A file that is no media is reported by name with
    the sidecar's reason, and the batch run again skips the files it finished."""
    cluster, _, server = cluster
    worker = cluster.add_node(num_cpus=1)
    assert wait_until(lambda: running_replicas(cluster) == 2, 180), "no second replica"
    folder = tmp_path / "talks"
    folder.mkdir()
    audio, reference = demo()
    names = ("one", "two")
    for name in names:
        write_wav(folder / f"{name}.wav", np.tile(audio, 3))  # 69 s
    (folder / "broken.wav").write_bytes(b"RIFF" + bytes(range(256)) * 8)
    command = [sys.executable, "-m", "sidecar.cli.main", "subtitle", str(folder), "--jobs", "3", "-q"]
    command += ["--ray", cluster.address, "--server", server.address]
    # Ray spreads the three tasks over the two nodes, but may place every one on the head: the
    # folder is then captioned again (--force).
    *_, (code, said) = batches_until_the_worker_is_lost(
        cluster,
        worker,
        [*command, "--force"],
        lambda: subtitle_tasks_on(worker) > 0,
        "Ray placed no task of three batches on the worker",
    )
    assert code == 1, said
    broken = str(folder / "broken.wav")
    assert said.count(f"sidecar subtitle: {broken}: ") == 1, said  # the sidecar's reason, once
    assert said.strip().endswith(f"3 files: 2 captioned, 1 failed: {broken}"), said
    assert not (folder / "broken.srt").exists()
    for name in names:
        cues = subtitles.parse_srt((folder / f"{name}.srt").read_text())
        assert word_error_rate(" ".join([reference] * 3), " ".join(c.text.replace("\n", " ") for c in cues)) < 0.1
    written = {name: (folder / f"{name}.srt").stat().st_mtime_ns for name in names}
    again = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert again.returncode == 1 and "2 skipped" in again.stderr, again.stderr
    assert written == {name: (folder / f"{name}.srt").stat().st_mtime_ns for name in names}


def batches_until_the_worker_is_lost(cluster, worker, argv: list[str], busy_on_worker, nothing_there: str):
    """(exit code, stderr) of the batch `argv`, run three times at most, until the worker node is
    removed during a run, as soon as busy_on_worker() says that run has work on it; the last
    given is that run's. A skip saying `nothing_there` when no run had work on the worker."""
    for _ in range(3):
        batch = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True)
        try:
            wait_until(lambda batch=batch: batch.poll() is not None or busy_on_worker(), 180)
            if batch.poll() is None:
                cluster.remove_node(worker, allow_graceful=False)
            _, said = batch.communicate(timeout=600)
        finally:
            batch.kill()
        yield batch.returncode, said
        if worker not in cluster.worker_nodes:
            return
    pytest.skip(f"{nothing_there}: its loss was not tested")


def subtitle_tasks_on(node) -> int:
    """The `sidecar subtitle --ray` tasks running on a node: processes of its raylet that Ray
    titled after the task."""
    raylet = node.all_processes["raylet"][0].process.pid
    count = 0
    for status in pathlib.Path("/proc").glob("[0-9]*/status"):
        try:
            parent = int(next(line for line in status.read_text().splitlines() if line.startswith("PPid:")).split()[1])
            title = (status.parent / "cmdline").read_bytes().split(b"\0")[0]
        except (OSError, StopIteration, ValueError):
            continue  # ended while being read
        count += parent == raylet and title.startswith(b"ray::sidecar-subtitle")
    return count


def running_replicas(cluster) -> int:
    from ray import serve

    connect(cluster)
    application = serve.status().applications.get("sidecar")
    if application is None:
        return 0
    return application.deployments["SidecarIngress"].replica_states.get("RUNNING", 0)


def ongoing_calls(cluster) -> list[int]:
    """The calls each sidecar replica is running, by its own count."""
    import ray

    return ray.get([replica.get_num_ongoing_requests.remote() for replica in replicas(cluster)], timeout=30)


def calls_on_node(cluster, node_id: str) -> int:
    """The calls the sidecar replicas on one node are running. A replica lost with an earlier
    node may still be listed: it answers nothing, and is given up on after a few seconds (at 30
    s, a batch of files could end between two looks)."""
    import ray

    calls = 0
    for replica in replicas(cluster):
        try:
            node = ray.get(replica.__ray_call__.remote(lambda _: ray.get_runtime_context().get_node_id()), timeout=3)
            if node == node_id:
                calls += ray.get(replica.get_num_ongoing_requests.remote(), timeout=3)
        except ray.exceptions.RayError:
            pass
    return calls


def replicas(cluster) -> list:
    import ray

    connect(cluster)
    return [
        ray.get_actor(actor["name"], namespace="serve")
        for actor in ray.util.list_named_actors(all_namespaces=True)
        if actor["namespace"] == "serve" and actor["name"].startswith("SERVE_REPLICA::sidecar#SidecarIngress")
    ]


def posted_loaded(cluster, name: str) -> bool:
    """Whether a replica's latest post on the models board lists `name` as loaded."""
    import ray

    connect(cluster)
    try:
        board = ray.get_actor(MODELS_BOARD, namespace=APPLICATION)
    except ValueError:  # not made yet
        return False
    posts = ray.get(board.others.remote(""), timeout=30)  # every replica's: none is named ""
    listed = [m for post in posts for m in models_pb2.ListModelsResponse.FromString(post).models]
    return any(m.name == name and m.loaded for m in listed)


def connect(cluster) -> None:
    import ray

    if not ray.is_initialized():
        ray.init(address=cluster.address, logging_level="WARNING")

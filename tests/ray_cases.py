"""What only Serve's path has: the token checked on the proxy's calls, health without it,
cancelled jobs that free their replica, and the hosts' client code (the subtitle command line,
a folder of it, the OBS script's live captions) against `sidecar serve --ray`, and the whisper
family's calls routed to its own deployment.

Not collected by itself: tests/test_ray_serve.py runs it inside a loopback-only namespace, with
the session's sidecar served through Ray (tests/ray_fixtures.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from sidecar.v1 import models_pb2, models_pb2_grpc
from sidecar_client import SidecarClient, SidecarError, live
from sidecar_client.capture import AudioCapture
from sidecar_common import subtitles
from tests.conftest import DATA, word_error_rate
from tests.harness import wait_until
from tests.streaming_fixtures import SAMPLE_RATE, demo, paced_long_form, speech, write_wav

pytestmark = pytest.mark.skipif(not os.environ.get("SIDECAR_TEST_RAY_SERVE"), reason="run by tests/test_ray_serve.py")


def test_every_call_but_health_needs_the_token(sidecar_server):
    with grpc.insecure_channel(sidecar_server.address) as channel:
        health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=30)
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        with pytest.raises(grpc.RpcError) as missing:
            models_pb2_grpc.ModelServiceStub(channel).ListModels(models_pb2.ListModelsRequest(), timeout=30)
    assert missing.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "missing token" in missing.value.details()
    with SidecarClient(sidecar_server.address, token="not-the-token") as wrong, pytest.raises(SidecarError) as err:
        wrong.list_models()
    assert err.value.code == grpc.StatusCode.UNAUTHENTICATED and "wrong token" in err.value.details


def test_cancelled_file_jobs_free_the_replica_for_the_next(client, data_dir, tmp_path):
    """The replica runs one job at a time, and each cancelled one holds minutes of speech, so
    the next job comes back in seconds only if the cancelled one stopped. The cancels come at
    several moments of the job's responses: Serve's proxy cancelled the replica's work only
    when a cancel found it waiting on the replica."""
    long_speech = write_wav(tmp_path / "long.wav", np.tile(demo()[0], 10))  # 230 s
    for after_first_response in (0.0, 0.3, 0.8, 1.5):
        call = client.transcribe_stream(long_speech)
        next(iter(call))  # the job runs
        time.sleep(after_first_response)
        call.cancel()
        began = time.monotonic()
        transcript = client.transcribe(data_dir / "1089-134691-0000.flac")
        assert " ".join(s.text for s in transcript.segments).strip()
        waited = time.monotonic() - began
        assert waited < 10, (
            f"cancelled {after_first_response} s after the first response, the next job waited {waited:.1f} s"
        )


def test_the_subtitle_command_line_through_ray_serve(sidecar_server, tmp_path):
    output = tmp_path / "demo.srt"
    done = subprocess.run(
        [sys.executable, "-m", "sidecar.cli.main", "subtitle", str(DATA / "demo-1089.flac"), "-o", str(output)]
        + ["--server", sidecar_server.address],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    said = " ".join(cue.text.replace("\n", " ") for cue in subtitles.parse_srt(output.read_text()))
    assert word_error_rate(demo()[1], said) < 0.1, said


def test_a_folder_captioned_two_files_at_a_time_through_ray_serve(sidecar_server, tmp_path):
    """`sidecar subtitle FOLDER --jobs 2`, the batch a cluster spreads over its replicas: every
    file captioned, a broken one reported without stopping the rest."""
    folder = tmp_path / "talks"
    folder.mkdir()
    names = ("1089-134691-0000", "1089-134686-0001", "1089-134691-0001")
    for name in names:
        (folder / f"{name}.flac").write_bytes((DATA / f"{name}.flac").read_bytes())
    (folder / "broken.mp3").write_bytes(os.urandom(20_000))
    done = subprocess.run(
        [sys.executable, "-m", "sidecar.cli.main", "subtitle", str(folder), "--jobs", "2", "-q"]
        + ["--server", sidecar_server.address],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1 and "4 files: 3 captioned, 1 failed" in done.stderr, done.stderr
    assert "broken.mp3: INVALID_ARGUMENT" in done.stderr
    said = " ".join(
        cue.text.replace("\n", " ")
        for name in names
        for cue in subtitles.parse_srt((folder / f"{name}.srt").read_text())
    )
    assert word_error_rate(speech(*names)[1], said) < 0.2, said


def test_the_obs_scripts_live_captions_through_ray_serve(sidecar_server, tmp_path):
    audio, reference = speech("1089-134691-0000", "1089-134691-0001", pause=1.5, tail=2.0)
    capture = AudioCapture(str(write_wav(tmp_path / "two.wav", audio))).start()
    captions = live.LiveCaptions(capture, live.LiveOptions(address=sidecar_server.address)).start()
    finals = []
    try:
        deadline = time.monotonic() + 90
        while captions.running:  # until the file ended and its last words are final
            finals.extend(captions.poll().finals)
            assert time.monotonic() < deadline, "the captions did not end in 90 s"
            time.sleep(0.1)
        finals.extend(captions.poll().finals)
    finally:
        captions.stop()
        capture.stop()
    said = " ".join(f.text for f in finals)
    assert word_error_rate(reference, said) < 0.2, said


def test_whisper_calls_go_to_the_whisper_familys_own_deployment(client, tmp_path):
    """The session's sidecar gives the whisper family a deployment of its own
    (--ray-family whisper:...): a file job runs on one of its replicas, not on the sidecar's,
    while ListModels, which the sidecar's replica answers, lists the model that one loaded."""
    # 276 s: still running when its calls are counted (92 s, decoded 4 windows at a time, had
    # ended by then once in a clean-clone run)
    long_speech = write_wav(tmp_path / "long.wav", np.tile(demo()[0], 12))
    call = client.transcribe_stream(long_speech)
    next(iter(call))  # the job runs
    try:
        assert sum(ongoing_calls("sidecar-whisper")) == 1
        assert ongoing_calls("sidecar") == [0]

        def listed_loaded() -> bool:  # a replica posts its models within Serve's first health check
            listed = {m.name: m for m in client.list_models()}
            return listed["tiny.en"].loaded and listed["tiny.en"].memory_bytes > 0

        assert wait_until(listed_loaded, 15), "ListModels lists tiny.en as loaded"
    finally:
        call.cancel()


def test_the_whisper_services_are_not_serving_while_their_family_has_no_replica(client, sidecar_server, data_dir):
    """Health calls reach the sidecar's replica, which follows the whisper family's: its
    services are NOT_SERVING from the loss of that family's replicas until Serve has started
    new ones, while the sidecar's own services stay SERVING. (Before the burst of streams, while
    the family has one replica: with the burst's two killed at once, health still said SERVING
    after 45 s in two runs. Serve finds each at its own health check, 10 s apart at most, and
    can have the first one's successor running before it finds the second.)"""
    import ray

    serving, not_serving = health_pb2.HealthCheckResponse.SERVING, health_pb2.HealthCheckResponse.NOT_SERVING
    with grpc.insecure_channel(sidecar_server.address) as channel:
        health = health_pb2_grpc.HealthStub(channel)

        def status(service: str):
            return health.Check(health_pb2.HealthCheckRequest(service=f"sidecar.v1.{service}"), timeout=30).status

        assert status("TranscriptionService") == serving
        for replica in replicas("sidecar-whisper"):
            ray.kill(replica, no_restart=True)
        # Serve finds a killed replica at its next health check (every 10 s): seen 6.5 s after the
        # kill here, NOT_SERVING a second later, and SERVING again 4 s after that.
        assert wait_until(lambda: status("StreamingRecognitionService") == not_serving, 45), "still SERVING"
        assert status("SeparationService") == serving
        assert wait_until(lambda: status("TranscriptionService") == serving, 180), "a new whisper replica"
    transcript = client.transcribe(data_dir / "1089-134691-0000.flac")
    assert " ".join(s.text for s in transcript.segments).strip()


def test_a_burst_of_live_streams_adds_a_whisper_replica_before_any_is_refused(sidecar_server, tmp_path):
    """The whisper family autoscales between 1 and 2 replicas, each holding 4 live streams:
    4 streams fill the one replica, so Serve adds the second, and a fifth stream opens there.
    None is refused (the OBS script and `sidecar live` do not retry a refused stream)."""
    assert running_replicas("sidecar-whisper") == 1
    speech_file = write_wav(tmp_path / "speech.wav", paced_long_form()[0][: 150 * SAMPLE_RATE])
    captures: list[AudioCapture] = []
    sessions: list[live.LiveCaptions] = []
    heard: list[int] = []

    def start_session() -> None:
        captures.append(AudioCapture(str(speech_file)).start())
        options = live.LiveOptions(address=sidecar_server.address)
        sessions.append(live.LiveCaptions(captures[-1], options).start())
        heard.append(0)

    def pump() -> None:
        for i, session in enumerate(sessions):
            update = session.poll()
            heard[i] += len(update.finals) + bool(update.interim)
            assert not update.status.startswith("failed"), update.status

    try:
        for _ in range(4):
            start_session()
        assert wait_until(lambda: pump() or all(heard), 90), "four streams caption"
        began = time.monotonic()
        assert wait_until(lambda: pump() or running_replicas("sidecar-whisper") == 2, 120), "a second replica"
        scaled_after = time.monotonic() - began
        start_session()
        assert wait_until(lambda: pump() or heard[-1] > 0, 60), "the fifth stream captions"
        assert sorted(ongoing_calls("sidecar-whisper")) == [1, 4], "the fifth on the new replica"
        pump()
    finally:
        for session, capture in zip(sessions, captures):
            session.stop()
            capture.stop()
    assert [session.streams for session in sessions] == [1] * 5, "a stream was refused or moved"
    print(f"second replica running {scaled_after:.0f} s after four streams captioned")


def running_replicas(application: str) -> int:
    from ray import serve

    connect()
    status = serve.status().applications.get(application)
    return 0 if status is None else status.deployments["SidecarIngress"].replica_states.get("RUNNING", 0)


def ongoing_calls(application: str) -> list[int]:
    """The calls each replica of a Serve application is running, by its own count."""
    import ray

    return ray.get([replica.get_num_ongoing_requests.remote() for replica in replicas(application)], timeout=30)


def replicas(application: str) -> list:
    import ray

    connect()
    return [
        ray.get_actor(actor["name"], namespace="serve")
        for actor in ray.util.list_named_actors(all_namespaces=True)
        if actor["namespace"] == "serve" and actor["name"].startswith(f"SERVE_REPLICA::{application}#SidecarIngress")
    ]


def connect() -> None:
    import ray

    if not ray.is_initialized():
        ray.init(address="auto", logging_level="WARNING")  # the sidecar's local Ray

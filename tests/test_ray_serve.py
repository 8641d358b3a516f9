"""The same v1 protocol served by Ray Serve (`sidecar serve --ray`): a representative part of the
gRPC suite, bad input and cancellation included, runs again with the session's sidecar served
through Serve's gRPC proxy, plus tests/ray_cases.py; and a cluster loses a worker node
(tests/ray_cluster_cases.py). Each runs in one pytest inside a loopback-only network namespace
(tests/ray_fixtures.py), so Ray's traffic stays local."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import warnings

import pytest

from tests.ray_fixtures import RAY_SERVE_ENV, TOKEN, in_loopback_namespace, loopback_namespace_missing

pytest.importorskip("ray.serve", reason="the ray extra is not installed")
NO_NAMESPACE = loopback_namespace_missing()

ON_BOTH_SERVERS = [
    "tests/test_transcription_server.py::test_real_tiny_en_word_error_rate",
    "tests/test_transcription_server.py::test_events_arrive_in_order_and_segments_stream",
    "tests/test_transcription_server.py::test_raw_pcm_input",
    "tests/test_transcription_server.py::test_english_only_model_refuses_other_languages",
    "tests/test_transcription_server.py::test_unknown_model_is_not_found",
    "tests/test_transcription_server.py::test_list_models_health_and_reflection",
    "tests/test_streaming_recognition.py::test_real_time_pace_gives_results_while_audio_still_arrives",
    "tests/test_streaming_recognition.py::test_bad_streams_get_invalid_argument_and_the_server_carries_on",
    "tests/test_live_cli.py::test_live_file_prints_captions_and_keeps_the_srt_valid",
    "tests/test_obs_live.py::test_a_refused_stream_fails_with_the_servers_reason_and_is_not_retried",
    "tests/test_audacity.py::test_caption_labels_the_selection_in_project_time",
    "tests/test_audacity.py::test_cancel_stops_the_sidecar_and_adds_nothing",
]
RAY_ONLY_TESTS = 8  # in tests/ray_cases.py


@pytest.mark.skipif(NO_NAMESPACE is not None, reason=str(NO_NAMESPACE))
def test_the_same_tests_pass_through_ray_serve(tmp_path):
    passes_inside_a_namespace(tmp_path, [*ON_BOTH_SERVERS, "tests/ray_cases.py"], len(ON_BOTH_SERVERS) + RAY_ONLY_TESTS)


@pytest.mark.skipif(NO_NAMESPACE is not None, reason=str(NO_NAMESPACE))
def test_a_lost_worker_node_fails_its_jobs_with_unavailable_and_its_streams_move(tmp_path):
    # Serve's proxy would otherwise send each call to the replica on its own node. Its router also
    # passes over a replica that has not said within 0.1 s how busy it is: under the suite's load
    # the worker's often had not, and a folder's files all went to the head's replica.
    passes_inside_a_namespace(
        tmp_path,
        ["tests/ray_cluster_cases.py"],
        5,
        RAY_SERVE_PROXY_PREFER_LOCAL_NODE_ROUTING="0",
        RAY_SERVE_QUEUE_LENGTH_RESPONSE_DEADLINE_S="2",
    )


def passes_inside_a_namespace(tmp_path, tests: list[str], count: int, **env: str) -> None:
    """Runs `tests` in one pytest inside a loopback-only namespace, the session's sidecar
    served through Ray; all `count` of them must pass."""
    inner = subprocess.run(
        in_loopback_namespace(
            [sys.executable, "-m", "pytest", "-q", "-ra", "-p", "no:cacheprovider", "--basetemp", str(tmp_path / "t")]
            + tests
        ),
        env={**os.environ, RAY_SERVE_ENV: "1", "SIDECAR_TOKEN": TOKEN, "RAY_USAGE_STATS_ENABLED": "0", **env},
        capture_output=True,
        text=True,
        timeout=1200,
    )
    failures = inner.stdout.find("= FAILURES =")  # before pages of warnings and Ray's logs
    report = inner.stdout[failures : failures + 12000] if failures >= 0 else inner.stdout[-12000:]
    report += inner.stderr[-4000:]
    assert inner.returncode == 0, report
    summary = inner.stdout.strip().rsplit("\n", 1)[-1]
    found = re.fullmatch(r"(\d+) passed(?:, (\d+) skipped)?(?:, \d+ warnings?)? in .*", summary)
    assert found and int(found[1]) + int(found[2] or 0) == count, inner.stdout[-12000:]
    for skipped in re.findall(r"^SKIPPED .*$", inner.stdout, re.MULTILINE):  # said, not hidden
        warnings.warn(skipped, stacklevel=2)


@pytest.mark.parametrize(
    "flags, problem",
    [
        ([], "needs a token"),
        (["--token", "t", "--port", "0"], "explicit --port"),
        (["--token", "t", "--tls-cert", "c.pem", "--tls-key", "k.pem"], "no TLS"),
        (["--token", "t", "--ray-replicas", "3:2"], "1 <= min <= max"),
        (["--token", "t", "--http-port", "8000"], "HTTP API is not served through Ray"),
        (["--token", "t", "--ray-replicas", "two"], "MIN or MIN:MAX"),
        (["--token", "t", "--port", "5", "--ray-family", "whsiper"], "no service needs model family whsiper"),
        (["--token", "t", "--ray-family", "whisper:replicas=2:1"], "whisper: replicas must be 1 <= min <= max"),
        (["--token", "t", "--ray-family", "whisper:gpu=1"], "unknown setting(s) gpu"),
        (["--token", "t", "--ray-family", "whisper:cpus"], "FAMILY[:replicas=MIN[:MAX],cpus=N,gpus=N]"),
    ],
)
def test_serve_on_ray_refuses_what_serves_proxy_cannot_do(flags, problem):
    env = {k: v for k, v in os.environ.items() if k != "SIDECAR_TOKEN"}
    done = subprocess.run(
        [sys.executable, "-m", "sidecar.cli.main", "serve", "--ray", *flags], capture_output=True, text=True, env=env
    )
    assert done.returncode == 2 and problem in done.stderr, done.stderr


def test_the_proxy_internals_the_sidecar_changes_are_where_it_expects_them():
    from sidecar.server import ray_proxy

    assert ray_proxy.changed_internals() == []


@pytest.mark.parametrize(
    "change, named",
    [
        ("del proxy.get_grpc_response_status", "ray.serve._private.proxy.get_grpc_response_status"),
        (
            "proxy.gRPCProxy.send_request_to_replica = lambda self, request_id, handle: None",
            "ray.serve._private.proxy.gRPCProxy.send_request_to_replica",
        ),
    ],
)
def test_serve_on_ray_refuses_a_ray_whose_proxy_internals_moved(change, named):
    """A Ray whose private proxy moved or changed what the sidecar patches: `serve --ray` says
    which part and which Ray to install, before it starts anything."""
    code = (
        "import sys\n"
        "from ray.serve._private import proxy\n"
        f"{change}\n"
        "from sidecar.cli.main import main\n"
        "sys.exit(main(['serve', '--ray', '--token', 't', '--port', '5']))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert named in done.stderr and "install Ray 2.60" in done.stderr, done.stderr
    assert "ray.serve._private.proxy_router" not in done.stderr  # only what changed is named

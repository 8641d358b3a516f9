"""The same v1 protocol served by Ray Serve (`sidecar serve --ray`): a representative part of the
gRPC suite, bad input and cancellation included, runs again with the session's sidecar served
through Serve's gRPC proxy, plus tests/ray_cases.py. It all runs in one pytest inside a
loopback-only network namespace (tests/ray_fixtures.py), so Ray's traffic stays local."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests.ray_fixtures import RAY_SERVE_ENV, TOKEN, in_loopback_namespace, loopback_namespace_missing

pytest.importorskip("ray.serve", reason="the ray extra is not installed")
pytestmark = pytest.mark.skipif(loopback_namespace_missing() is not None, reason=str(loopback_namespace_missing()))

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
    "tests/ray_cases.py",
]
RAY_ONLY = 4  # the tests in tests/ray_cases.py


def test_the_same_tests_pass_through_ray_serve(tmp_path):
    inner = subprocess.run(
        in_loopback_namespace(
            [sys.executable, "-m", "pytest", "-q", "-ra", "-p", "no:cacheprovider", "--basetemp", str(tmp_path / "t")]
            + ON_BOTH_SERVERS
        ),
        env={**os.environ, RAY_SERVE_ENV: "1", "SIDECAR_TOKEN": TOKEN, "RAY_USAGE_STATS_ENABLED": "0"},
        capture_output=True,
        text=True,
        timeout=1200,
    )
    report = inner.stdout[-12000:] + inner.stderr[-4000:]
    assert inner.returncode == 0, report
    passed = re.search(r"(\d+) passed", inner.stdout)
    assert passed and int(passed[1]) == len(ON_BOTH_SERVERS) - 1 + RAY_ONLY, report
    assert "skipped" not in inner.stdout.rsplit("\n", 3)[-2], report

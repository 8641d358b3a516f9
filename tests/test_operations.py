"""What an operator sees: Prometheus metrics, a health status per service, request ids."""

import re
import subprocess
import sys
import time
import urllib.request

import grpc
import pytest
from grpc_health.v1 import health_pb2

from sidecar.v1 import cues_pb2
from sidecar_client import SidecarClient, SidecarError
from sidecar_client.client import streaming_config
from tests.harness import RunningSidecar, free_port, serve
from tests.streaming_fixtures import SAMPLE_RATE, pcm_chunks, speech


def scrape(port: int) -> dict[str, float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return samples


def test_metrics_count_calls_jobs_live_lag_and_models(data_dir):
    port = free_port()
    server = RunningSidecar(metrics_port=port)
    try:
        with SidecarClient(server.address) as client:
            client.transcribe(data_dir / "1089-134691-0000.flac")
            with pytest.raises(SidecarError):
                client.translate(["hello"], "xx")
            audio, _ = speech("1089-134686-0000")
            finals = [
                r
                for r in client.streaming_recognize(pcm_chunks(audio), config=streaming_config(SAMPLE_RATE))
                if r.HasField("final_result")
            ]
        metrics = scrape(port)
    finally:
        server.stop()
    assert metrics['sidecar_calls_total{code="OK",method="TranscribeFile"}'] == 1
    assert metrics['sidecar_calls_total{code="INVALID_ARGUMENT",method="Translate"}'] == 1
    assert metrics['sidecar_calls_total{code="OK",method="StreamingRecognize"}'] == 1
    assert metrics["sidecar_live_final_lag_seconds_count"] == len(finals) > 0
    assert metrics['sidecar_jobs{state="running"}'] == 0 and metrics['sidecar_jobs{state="waiting"}'] == 0
    assert metrics['sidecar_live_streams{service="StreamingRecognitionService"}'] == 0
    assert metrics["sidecar_models_loaded"] == 1
    assert metrics['sidecar_model_memory_bytes{device="cpu",family="whisper",model="tiny.en"}'] > 10 << 20
    assert metrics['sidecar_model_load_seconds_count{family="whisper"}'] == 1


def test_metrics_are_off_unless_asked_and_on_loopback_when_asked():
    server = RunningSidecar()
    try:
        assert server.sidecar.metrics_port is None
    finally:
        server.stop()
    port = free_port()
    server = RunningSidecar(metrics_port=port)
    try:
        listening = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True).stdout
        assert re.search(rf"127\.0\.0\.1:{port}\b", listening), listening
    finally:
        server.stop()


def service_health(client: SidecarClient, service: str):
    return client.health.Check(health_pb2.HealthCheckRequest(service=f"sidecar.v1.{service}"), timeout=10).status


def test_a_service_whose_model_cannot_load_is_not_serving_while_the_others_serve(tmp_path):
    """Offline, with no XTTS licence agreed and no MusicGen in the cache: those two services say
    NOT_SERVING; captions and denoising serve; a call to a NOT_SERVING one still says why."""
    port = free_port()
    server = serve(port, tmp_path / "ready")
    try:
        with SidecarClient(f"127.0.0.1:{port}") as client:
            serving, not_serving = health_pb2.HealthCheckResponse.SERVING, health_pb2.HealthCheckResponse.NOT_SERVING
            deadline = time.monotonic() + 60  # the checks run after start, in the background
            while service_health(client, "CueGenerationService") != not_serving:
                assert time.monotonic() < deadline, "CueGenerationService stayed SERVING"
                time.sleep(0.2)
            assert service_health(client, "SynthesisService") == not_serving
            assert service_health(client, "TranscriptionService") == serving
            assert service_health(client, "EnhancementService") == serving
            assert client.health.Check(health_pb2.HealthCheckRequest(), timeout=10).status == serving
            with pytest.raises(SidecarError) as err:
                list(client.generate_cue(cues_pb2.CueSettings(prompt="a short piano sting")))
            assert err.value.code in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.FAILED_PRECONDITION)
            assert "musicgen" in err.value.details.lower()
    finally:
        server.terminate()
        server.wait(30)
    log = server.stderr.read()
    assert "sidecar.v1.SynthesisService: NOT_SERVING until xtts can load" in log
    assert f"[{err.value.request_id}]" in log  # the client's error names the server's log lines


def test_the_cli_prints_the_request_id_of_a_failed_call(tmp_path, sidecar_server):
    text = tmp_path / "not-audio.wav"
    text.write_text("this is not audio")
    out = subprocess.run(
        [sys.executable, "-m", "sidecar.cli.main", "subtitle", str(text), "--server", sidecar_server.address],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode != 0
    assert re.search(r"INVALID_ARGUMENT: .+ \(request [0-9a-f]{8}\)", out.stderr), out.stderr

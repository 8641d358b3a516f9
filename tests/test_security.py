"""Non-loopback binds need a token; tokens are checked; TLS works."""

import subprocess
import sys

import grpc
import pytest
from grpc_health.v1 import health_pb2

from sidecar import config as config_mod
from sidecar_client import SidecarClient, SidecarError
from tests.harness import RunningSidecar

TOKEN = "s3cret-token-for-tests"


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.7", "example.org"])
def test_non_loopback_without_token_is_refused(host):
    with pytest.raises(ValueError, match="needs a token"):
        config_mod.load(host=host)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_loopback_needs_no_token(host):
    assert config_mod.load(host=host).host == host


def test_serve_command_refuses_to_start(monkeypatch):
    monkeypatch.delenv("SIDECAR_TOKEN", raising=False)
    done = subprocess.run(
        [sys.executable, "-m", "sidecar.cli.main", "serve", "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "needs a token" in done.stderr


@pytest.fixture(scope="module")
def guarded():
    server = RunningSidecar(host="0.0.0.0", token=TOKEN)  # reached over loopback only
    yield server
    server.stop()


@pytest.mark.parametrize(
    "token,message", [(None, "missing token"), ("wrong", "wrong token"), (TOKEN + "x", "wrong token")]
)
def test_bad_tokens_are_refused(guarded, token, message):
    with SidecarClient(f"127.0.0.1:{guarded.sidecar.port}", token=token) as client:
        with pytest.raises(SidecarError) as err:
            client.list_models()
        assert err.value.code == grpc.StatusCode.UNAUTHENTICATED and message in err.value.details
        with pytest.raises(SidecarError) as err:  # streaming calls too
            client.transcribe(b"\x00" * 100)
        assert err.value.code == grpc.StatusCode.UNAUTHENTICATED


def test_right_token_is_served_and_health_stays_open(guarded, data_dir):
    address = f"127.0.0.1:{guarded.sidecar.port}"
    with SidecarClient(address, token=TOKEN) as client:
        assert {m.name for m in client.list_models()} >= {"tiny.en"}
        transcript = client.transcribe(data_dir / "1089-134691-0000.flac")
        assert "wait" in transcript.segments[0].text.lower()
    with SidecarClient(address) as anonymous:
        reply = anonymous.health.Check(health_pb2.HealthCheckRequest())
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_tls(tmp_path):
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    server = RunningSidecar(tls_cert=str(cert), tls_key=str(key))
    try:
        with SidecarClient(f"localhost:{server.sidecar.port}", root_certificates=cert.read_bytes()) as client:
            assert client.list_models()
        with SidecarClient(f"localhost:{server.sidecar.port}") as plaintext:
            with pytest.raises(SidecarError) as err:
                plaintext.wait_ready(timeout=3)
            assert err.value.code == grpc.StatusCode.UNAVAILABLE
    finally:
        server.stop()


def test_cli_commands_with_their_own_server_use_the_token_it_takes(monkeypatch):
    """$SIDECAR_TOKEN guards the in-process sidecar a CLI command starts, and the command's
    own client sends it."""
    monkeypatch.setenv("SIDECAR_TOKEN", TOKEN)
    done = subprocess.run(
        [sys.executable, "-m", "sidecar.cli.main", "models"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "tiny.en" in done.stdout

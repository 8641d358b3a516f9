"""Non-loopback binds need a token; tokens are checked; TLS works."""

import ssl
import subprocess
import sys
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from sidecar import config as config_mod
from sidecar_client import SidecarClient, SidecarError
from tests.harness import RunningSidecar, run_command

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


def self_signed(directory) -> tuple:
    """(key, certificate) files of a self-signed localhost certificate in `directory`."""
    key, cert = directory / "key.pem", directory / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return key, cert


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory):
    """A sidecar that speaks only TLS (a self-signed localhost certificate) and wants a token."""
    directory = tmp_path_factory.mktemp("tls")
    key, cert = self_signed(directory)
    token_file = directory / "token"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o600)
    server = RunningSidecar(host="0.0.0.0", token=TOKEN, tls_cert=str(cert), tls_key=str(key))
    yield f"localhost:{server.sidecar.port}", cert, token_file
    server.stop()


def test_tls_and_a_token_file_end_to_end_from_the_cli(tls_server, data_dir, tmp_path, monkeypatch):
    address, cert, token_file = tls_server
    monkeypatch.delenv("SIDECAR_TOKEN", raising=False)
    clip = str(data_dir / "1089-134691-0000.flac")

    def subtitle(name: str, *connection: str, timeout: float = 300) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "sidecar.cli.main", "subtitle", clip, "-o", str(tmp_path / name),
                   "--server", address, *connection, "-q"]  # fmt: skip
        return run_command(command, timeout)

    done = subtitle("clip.srt", "--tls-ca", str(cert), "--token-file", str(token_file))
    assert done.returncode == 0, done.stderr
    assert "wait" in (tmp_path / "clip.srt").read_text().lower()
    # The same without the roots, or without the token, is refused, in seconds (a refusal hung
    # once in CI, not here; run_command reports where, should it again).
    done = subtitle("no-roots.srt", "--token-file", str(token_file), timeout=120)
    assert done.returncode != 0 and "UNAVAILABLE" in done.stderr, done.stderr
    done = subtitle("no-token.srt", "--tls-ca", str(cert), timeout=120)
    assert done.returncode != 0 and "UNAUTHENTICATED" in done.stderr, done.stderr


def test_tls_from_the_obs_and_audacity_client_code(tls_server, data_dir, monkeypatch):
    """The live captions the OBS script runs (LiveOptions, as it builds them from its settings)
    and the Audacity bridge's connection both reach a TLS sidecar with a token file."""
    from sidecar_audacity import session
    from sidecar_client import Connection, live
    from sidecar_client.capture import AudioCapture, CaptureOptions

    address, cert, token_file = tls_server
    monkeypatch.delenv("SIDECAR_TOKEN", raising=False)
    options = live.LiveOptions(address=address, token_file=str(token_file), tls_ca=str(cert), give_up_seconds=0.0)
    capture = AudioCapture(str(data_dir / "1089-134691-0000.flac"), CaptureOptions(realtime=False)).start()
    captions = live.LiveCaptions(capture, options).start()
    finals, statuses = [], []
    try:
        deadline = time.monotonic() + 120
        while captions.running and time.monotonic() < deadline:
            update = captions.poll()
            finals += update.finals
            statuses.append(update.status)
            time.sleep(0.1)
        finals += captions.poll().finals
    finally:
        captions.stop()
        capture.stop()
    assert "wait" in " ".join(f.text for f in finals).lower(), statuses[-3:]
    with session.connect(Connection(address, token_file=str(token_file), tls_ca=str(cert))) as client:
        assert {m.name for m in client.list_models()} >= {"tiny.en"}


def test_every_service_and_reflection_need_the_token(guarded):
    """Each of the 13 RPCs and server reflection answer UNAUTHENTICATED without the token; the
    health check alone stays open."""
    from grpc_reflection.v1alpha import reflection_pb2

    from tests import fuzzing

    address = f"127.0.0.1:{guarded.sidecar.port}"
    with grpc.insecure_channel(address) as channel:
        for rpc in fuzzing.rpcs():
            request = fuzzing.message_factory.GetMessageClass(rpc.method.input_type)()
            assert fuzzing.call(channel, rpc, [request]) == grpc.StatusCode.UNAUTHENTICATED, rpc.name
        reflection = channel.stream_stream(
            "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
            request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
            response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
        )
        with pytest.raises(grpc.RpcError) as caught:
            list(reflection(iter([reflection_pb2.ServerReflectionRequest(list_services="")])))
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
        health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
        assert health.status == health_pb2.HealthCheckResponse.SERVING


def test_the_http_api_speaks_tls_with_the_grpc_ports_certificate(tmp_path, data_dir):
    openai = pytest.importorskip("openai")
    pytest.importorskip("starlette")
    import httpx2 as httpx  # what the openai client speaks HTTP with

    from tests.harness import free_port

    key, cert = self_signed(tmp_path)
    server = RunningSidecar(token=TOKEN, tls_cert=str(cert), tls_key=str(key), http_port=free_port())
    try:
        port = server.sidecar.http_port
        trusted = ssl.create_default_context(cafile=str(cert))
        with httpx.Client(verify=trusted) as https, open(data_dir / "1089-134691-0000.flac", "rb") as clip:
            api = openai.OpenAI(base_url=f"https://localhost:{port}/v1", api_key=TOKEN, http_client=https)
            said = api.audio.transcriptions.create(model="whisper-1", file=clip).text
        assert "wait" in said.lower() or len(said.split()) > 3, said
        with pytest.raises(httpx.HTTPError):  # no plain HTTP on that port
            httpx.get(f"http://localhost:{port}/v1/models", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    finally:
        server.stop()

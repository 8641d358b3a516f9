"""A full server refuses a call as soon as its config arrives, says when to retry, and the
project's client waits that long and tries again; a client that stops sending loses its call."""

from __future__ import annotations

import contextlib
import threading
import time

import grpc
import pytest

from sidecar.v1 import (
    audio_pb2,
    streaming_recognition_pb2,
    streaming_recognition_pb2_grpc,
    transcription_pb2,
    transcription_pb2_grpc,
)
from sidecar_client import SidecarClient, SidecarError, streaming_config
from sidecar_common.limits import RETRY_DELAY_METADATA

CLIP = "1089-134691-0000.flac"
IDLE_SECONDS = 1.5


@pytest.fixture(scope="module")
def one_slot():
    """One job at a time and none waiting; streams that go quiet end after IDLE_SECONDS."""
    from tests.harness import RunningSidecar

    server = RunningSidecar(max_running_jobs=1, max_waiting_jobs=0, stream_idle_seconds=IDLE_SECONDS)
    yield server
    server.stop()


def config_message(name: str = "clip.flac") -> transcription_pb2.TranscribeFileRequest:
    audio_format = audio_pb2.AudioFormat(encoded_file=audio_pb2.EncodedFile(filename=name))
    return transcription_pb2.TranscribeFileRequest(
        config=transcription_pb2.TranscriptionConfig(audio_format=audio_format)
    )


class HeldSlot:
    """A TranscribeFile call that sends its config and then waits, holding the only place."""

    def __init__(self, address: str, audio: bytes) -> None:
        self.release = threading.Event()
        self.channel = grpc.insecure_channel(address)
        stub = transcription_pb2_grpc.TranscriptionServiceStub(self.channel)

        def requests():
            yield config_message()
            while not self.release.wait(IDLE_SECONDS / 3):  # empty chunks keep the call from going idle
                yield transcription_pb2.TranscribeFileRequest(audio_content=b"")
            yield transcription_pb2.TranscribeFileRequest(audio_content=audio)

        def drain():
            with contextlib.suppress(grpc.RpcError):
                list(self.call)

        self.call = stub.TranscribeFile(requests())
        self.done = threading.Thread(target=drain, daemon=True)
        self.done.start()

    def end(self) -> None:
        self.release.set()
        self.done.join(60)
        self.channel.close()


def wait_until_admitted(server, count: int) -> None:
    deadline = time.monotonic() + 10
    while server.runtime.jobs.waiting + server.runtime.jobs.running < count:
        assert time.monotonic() < deadline, "the held call never took its place"
        time.sleep(0.02)


def test_a_full_server_refuses_at_the_config_with_a_retry_delay(one_slot, data_dir):
    held = HeldSlot(one_slot.address, (data_dir / CLIP).read_bytes())
    try:
        wait_until_admitted(one_slot, 1)
        sent = []

        def upload():
            yield config_message()
            for i in range(200):  # 200 MiB if it were all read
                sent.append(i)
                yield transcription_pb2.TranscribeFileRequest(audio_content=b"\0" * (1 << 20))
                time.sleep(0.01)

        with grpc.insecure_channel(one_slot.address) as channel:
            stub = transcription_pb2_grpc.TranscriptionServiceStub(channel)
            with pytest.raises(grpc.RpcError) as caught:
                list(stub.TranscribeFile(upload()))
        error = caught.value
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and "try again in" in error.details()
        delay = dict(error.trailing_metadata())[RETRY_DELAY_METADATA]
        assert int(delay) >= 1000
        assert len(sent) < 50, f"{len(sent)} MiB were sent before the refusal"
    finally:
        held.end()


def test_the_client_waits_the_delay_and_tries_again(one_slot, data_dir):
    held = HeldSlot(one_slot.address, (data_dir / CLIP).read_bytes())
    wait_until_admitted(one_slot, 1)
    threading.Timer(2.0, held.end).start()  # the slot frees while the second client waits
    with SidecarClient(one_slot.address) as client:
        started = time.monotonic()
        transcript = client.transcribe(data_dir / CLIP)
    assert "wait" in " ".join(s.text for s in transcript.segments).lower()
    assert time.monotonic() - started >= 2.0
    with SidecarClient(one_slot.address, busy_retries=0) as impatient:
        held = HeldSlot(one_slot.address, (data_dir / CLIP).read_bytes())
        try:
            wait_until_admitted(one_slot, 1)
            with pytest.raises(SidecarError) as caught:
                impatient.transcribe(data_dir / CLIP)
            assert caught.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED and caught.value.retry_delay >= 1
        finally:
            held.end()


def test_an_upload_that_stops_sending_loses_its_place(one_slot, data_dir):
    stop = threading.Event()

    def stalled():
        yield config_message()
        stop.wait(IDLE_SECONDS * 4)  # a client that hangs without closing

    with grpc.insecure_channel(one_slot.address) as channel:
        stub = transcription_pb2_grpc.TranscriptionServiceStub(channel)
        started = time.monotonic()
        with pytest.raises(grpc.RpcError) as caught:
            list(stub.TranscribeFile(stalled()))
        stop.set()
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED and "sent nothing for" in caught.value.details()
    assert time.monotonic() - started < IDLE_SECONDS * 4
    with SidecarClient(one_slot.address) as client:  # the place is free again
        assert client.transcribe(data_dir / CLIP).segments


def test_a_live_stream_that_goes_quiet_ends_and_frees_its_slot(one_slot):
    stop = threading.Event()

    def quiet():
        yield streaming_recognition_pb2.StreamingRecognizeRequest(config=streaming_config(16000))
        yield streaming_recognition_pb2.StreamingRecognizeRequest(audio_content=b"\0" * 3200)
        stop.wait(IDLE_SECONDS * 4)

    with grpc.insecure_channel(one_slot.address) as channel:
        stub = streaming_recognition_pb2_grpc.StreamingRecognitionServiceStub(channel)
        started = time.monotonic()
        with pytest.raises(grpc.RpcError) as caught:
            list(stub.StreamingRecognize(quiet()))
        stop.set()
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert time.monotonic() - started < IDLE_SECONDS * 4

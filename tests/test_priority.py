"""Live streams go before file jobs, and interactive jobs before batch ones: in the compute
gate's turns, and in the order waiting jobs get a slot."""

import threading
import time

import grpc
import numpy as np
import pytest

from sidecar.media import audio as media
from sidecar.runtime.priority import ComputeGate, Priority
from sidecar.v1 import audio_pb2
from sidecar.v1 import transcription_pb2 as pb
from sidecar_client import SidecarClient, SidecarError
from tests.harness import RunningSidecar, wait_until

PCM = audio_pb2.AudioFormat(
    pcm=audio_pb2.PcmFormat(encoding=audio_pb2.AUDIO_ENCODING_PCM_S16LE, sample_rate_hertz=16_000, channel_count=1)
)


def start_turn(gate: ComputeGate, priority: Priority, entered: list, release: threading.Event, **kwargs):
    def step():
        with gate.turn(priority, **kwargs):
            entered.append(priority)
            release.wait(10)

    thread = threading.Thread(target=step)
    thread.start()
    return thread


def test_a_file_step_waits_for_a_live_step_and_a_batch_step_for_an_interactive_one():
    gate, entered = ComputeGate(), []
    live_done, interactive_done, batch_done = threading.Event(), threading.Event(), threading.Event()
    live = start_turn(gate, Priority.LIVE, entered, live_done)
    assert wait_until(lambda: entered == [Priority.LIVE])
    interactive = start_turn(gate, Priority.INTERACTIVE, entered, interactive_done)
    batch = start_turn(gate, Priority.BATCH, entered, batch_done)
    time.sleep(0.3)
    assert entered == [Priority.LIVE]  # both file steps wait while the live step runs
    # A live step never waits for file steps, even while they wait or run.
    second_live = start_turn(gate, Priority.LIVE, entered, live_done)
    assert wait_until(lambda: entered.count(Priority.LIVE) == 2)
    live_done.set()
    assert wait_until(lambda: Priority.INTERACTIVE in entered)
    time.sleep(0.3)
    assert Priority.BATCH not in entered  # the interactive step goes first
    interactive_done.set()
    assert wait_until(lambda: Priority.BATCH in entered)
    batch_done.set()
    for thread in (live, second_live, interactive, batch):
        thread.join(5)


def test_a_cancelled_job_stops_waiting_for_its_turn():
    gate, entered = ComputeGate(), []
    live_done, batch_done = threading.Event(), threading.Event()
    cancelled = threading.Event()
    live = start_turn(gate, Priority.LIVE, entered, live_done)
    assert wait_until(lambda: entered == [Priority.LIVE])
    batch = start_turn(gate, Priority.BATCH, entered, batch_done, cancelled=cancelled.is_set)
    time.sleep(0.2)
    cancelled.set()
    assert wait_until(lambda: Priority.BATCH in entered, timeout=1)  # runs its step, which ends it
    batch_done.set()
    live_done.set()
    for thread in (live, batch):
        thread.join(5)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from tests.tiny_whisper import build_tiny_whisper

    return str(build_tiny_whisper(tmp_path_factory.mktemp("tiny"), multilingual=False))


def test_an_interactive_job_gets_the_next_slot_before_a_batch_job_that_came_first(tiny_model, data_dir):
    from tests.tiny_whisper import speech_like_audio

    long_pcm = media.encode_pcm(np.asarray(speech_like_audio(600), np.float32)[None, :], media.PCM_S16LE)
    server = RunningSidecar(max_running_jobs=1, max_waiting_jobs=4)
    options = pb.TranscriptionOptions(model=tiny_model, vad_filter=False, word_timestamps=False)
    clip = data_dir / "1089-134691-0000.flac"
    finished: list[str] = []

    def transcribe(name: str, priority: str) -> None:
        with SidecarClient(server.address, priority=priority) as client:
            client.transcribe(clip, options=options)
        finished.append(name)

    try:
        with SidecarClient(server.address, priority="batch") as client:
            long_call = client.transcribe_stream(long_pcm, options=options, audio_format=PCM)
            assert next(r for r in long_call if r.WhichOneof("event") == "segment")
            batch = threading.Thread(target=transcribe, args=("batch", "batch"))
            batch.start()
            assert wait_until(lambda: server.runtime.jobs.waiting == 1)
            interactive = threading.Thread(target=transcribe, args=("interactive", "interactive"))
            interactive.start()
            assert wait_until(lambda: server.runtime.jobs.waiting == 2)
            long_call.cancel()
            batch.join(60)
            interactive.join(60)
        assert finished == ["interactive", "batch"]
    finally:
        server.stop()


def test_an_unknown_priority_is_refused_by_name(sidecar_server, data_dir):
    with SidecarClient(sidecar_server.address, priority="urgent") as client:
        with pytest.raises(SidecarError) as err:
            client.transcribe(data_dir / "1089-134691-0000.flac")
    assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "'urgent'" in err.value.details and "interactive or batch" in err.value.details
    assert err.value.request_id

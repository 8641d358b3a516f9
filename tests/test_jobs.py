"""The job queue refuses work beyond its bound, and a cancelled call frees its worker."""

import threading
import time

import grpc
import numpy as np
import pytest

from sidecar.media import audio as media
from sidecar.v1 import audio_pb2
from sidecar.v1 import transcription_pb2 as pb
from sidecar_client import SidecarClient, SidecarError
from tests.harness import RunningSidecar, wait_until

LONG_SECONDS = 600


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from tests.tiny_whisper import build_tiny_whisper

    return str(build_tiny_whisper(tmp_path_factory.mktemp("tiny"), multilingual=False))


@pytest.fixture(scope="module")
def long_pcm():
    from tests.tiny_whisper import speech_like_audio

    samples = speech_like_audio(LONG_SECONDS)
    return media.encode_pcm(np.asarray(samples, np.float32)[None, :], media.PCM_S16LE)


PCM = audio_pb2.AudioFormat(
    pcm=audio_pb2.PcmFormat(encoding=audio_pb2.AUDIO_ENCODING_PCM_S16LE, sample_rate_hertz=16_000, channel_count=1)
)


def test_full_queue_answers_resource_exhausted_and_cancel_frees_the_worker(tiny_model, long_pcm, data_dir):
    server = RunningSidecar(max_running_jobs=1, max_waiting_jobs=0)
    options = pb.TranscriptionOptions(model=tiny_model, vad_filter=False, word_timestamps=False)
    try:
        with SidecarClient(server.address, busy_retries=0) as client:  # the refusal itself, not a retry
            long_call = client.transcribe_stream(long_pcm, options=options, audio_format=PCM)
            responses = iter(long_call)
            assert next(r for r in responses if r.WhichOneof("event") == "segment")
            assert server.runtime.jobs.running == 1
            with pytest.raises(SidecarError) as err:
                client.transcribe(data_dir / "1089-134691-0000.flac", options=options)
            assert err.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED and "busy" in err.value.details
            long_call.cancel()
            # The worker stops at its next window, long before the 600 s job would end.
            assert wait_until(lambda: server.runtime.jobs.running == 0, timeout=10)
            started = time.monotonic()
            transcript = client.transcribe(data_dir / "1089-134691-0000.flac", options=options)
            assert transcript.summary.segment_count >= 1 and time.monotonic() - started < 10
    finally:
        server.stop()


def test_waiting_jobs_run_in_turn(tiny_model, data_dir):
    server = RunningSidecar(max_running_jobs=1, max_waiting_jobs=2)
    options = pb.TranscriptionOptions(model=tiny_model, vad_filter=False)
    results, errors = [], []

    def one():
        try:
            with SidecarClient(server.address) as c:
                results.append(c.transcribe(data_dir / "1089-134686-0000.flac", options=options))
        except Exception as exc:
            errors.append(exc)

    try:
        threads = [threading.Thread(target=one) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert not errors and len(results) == 3
        assert server.runtime.jobs.running == 0 and server.runtime.jobs.waiting == 0
        # Three calls, one model: it loaded once.
        assert len([e for e in server.runtime.models.loaded() if e.key.family == "whisper"]) == 1
    finally:
        server.stop()

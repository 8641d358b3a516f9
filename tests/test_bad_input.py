"""Every bad input gets a clear status, and the same server answers the next good request."""

import grpc
import numpy as np
import pytest

from sidecar.v1 import audio_pb2
from sidecar.v1 import transcription_pb2 as pb
from sidecar_client import SidecarClient, SidecarError
from tests import media_files
from tests.harness import RunningSidecar

GOOD_CLIP = "1089-134691-0000.flac"  # 2 s


@pytest.fixture(scope="module")
def limited_server():
    """Small limits so the limit checks are cheap to reach."""
    server = RunningSidecar(max_audio_seconds=6.0, max_upload_bytes=400_000)
    yield server
    server.stop()


@pytest.fixture()
def limited(limited_server):
    with SidecarClient(limited_server.address, max_message_bytes=16 << 20) as c:
        yield c


def pcm(encoding=audio_pb2.AUDIO_ENCODING_PCM_S16LE, rate=16_000, channels=1):
    return audio_pb2.AudioFormat(
        pcm=audio_pb2.PcmFormat(encoding=encoding, sample_rate_hertz=rate, channel_count=channels)
    )


def expect(client, audio, code, needle, audio_format=None):
    with pytest.raises(SidecarError) as err:
        client.transcribe(audio, audio_format=audio_format)
    assert err.value.code == code, err.value
    assert needle in err.value.details, err.value.details


def answers_good_request(client, data_dir):
    transcript = client.transcribe(data_dir / GOOD_CLIP)
    assert "wait" in " ".join(s.text for s in transcript.segments).lower()


INVALID = grpc.StatusCode.INVALID_ARGUMENT
CASES = {
    "empty file": (lambda d, t: b"", None, INVALID, "empty"),
    "truncated file": (
        lambda d, t: media_files.truncated(d / "1089-134686-0000.flac", t / "cut.flac").read_bytes(),
        None,
        INVALID,
        "truncated",
    ),
    "random bytes": (lambda d, t: np.random.default_rng(3).bytes(20_000), None, INVALID, "not a readable audio"),
    "text file": (
        lambda d, t: b"WEBVTT\n\nthis is not audio at all\n" * 40,
        None,
        INVALID,
        "not an audio or video file",
    ),
    "unsupported codec": (
        lambda d, t: media_files.unknown_codec_wav(t / "odd.wav").read_bytes(),
        None,
        INVALID,
        "codec is not supported",
    ),
    "NaN PCM": (
        lambda d, t: np.array([0.0, np.nan] * 800, "<f4").tobytes(),
        pcm(audio_pb2.AUDIO_ENCODING_PCM_F32LE),
        INVALID,
        "NaN or infinity",
    ),
    "Inf PCM": (
        lambda d, t: np.array([0.0, np.inf] * 800, "<f4").tobytes(),
        pcm(audio_pb2.AUDIO_ENCODING_PCM_F32LE),
        INVALID,
        "NaN or infinity",
    ),
    "zero sample rate": (lambda d, t: b"\x00\x00" * 1600, pcm(rate=0), INVALID, "sample rate 0 Hz"),
    "absurd sample rate": (lambda d, t: b"\x00\x00" * 1600, pcm(rate=10_000_000), INVALID, "sample rate"),
    "channel count 0": (lambda d, t: b"\x00\x00" * 1600, pcm(channels=0), INVALID, "channel count 0"),
    "channel count mismatch": (lambda d, t: b"\x00\x00" * 1601, pcm(channels=2), INVALID, "whole number of frames"),
    "no encoding": (
        lambda d, t: b"\x00\x00" * 1600,
        pcm(encoding=audio_pb2.AUDIO_ENCODING_UNSPECIFIED),
        INVALID,
        "PCM encoding",
    ),
    "file declared as PCM": (lambda d, t: (d / GOOD_CLIP).read_bytes(), pcm(), INVALID, "declare `encoded_file`"),
    "no audio format": (lambda d, t: b"\x00\x00" * 1600, audio_pb2.AudioFormat(), INVALID, "`audio_format` must be"),
    "too long (file)": (
        lambda d, t: (d / "1089-134686-0000.flac").read_bytes(),
        None,
        INVALID,
        "longer than the server's limit of 6 s",
    ),
    "too long (PCM)": (lambda d, t: b"\x00\x00" * 16_000 * 7, pcm(), INVALID, "longer than the server's limit of 6 s"),
    "too large": (lambda d, t: b"\x00" * 500_000, None, INVALID, "exceeds the server's limit of 400000 bytes"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input(limited, data_dir, tmp_path, case):
    make, audio_format, code, needle = CASES[case]
    expect(limited, make(data_dir, tmp_path), code, needle, audio_format)
    answers_good_request(limited, data_dir)


def raw_call(client, requests):
    try:
        return list(client.transcription.TranscribeFile(iter(requests)))
    except grpc.RpcError as exc:
        return exc


def test_config_must_come_first_and_only_once(limited, data_dir):
    config = pb.TranscriptionConfig(audio_format=audio_pb2.AudioFormat(encoded_file=audio_pb2.EncodedFile()))
    audio = (data_dir / GOOD_CLIP).read_bytes()
    for requests, needle in [
        ([pb.TranscribeFileRequest(audio_content=audio)], "first message of the stream must carry `config`"),
        (
            [pb.TranscribeFileRequest(config=config), pb.TranscribeFileRequest(config=config)],
            "only the first message may carry `config`",
        ),
        ([], "stream ended before its `config`"),
        ([pb.TranscribeFileRequest()], "not nothing"),
    ]:
        err = raw_call(limited, requests)
        assert isinstance(err, grpc.RpcError) and err.code() == INVALID and needle in err.details()
    answers_good_request(limited, data_dir)


def test_oversized_message_is_refused_by_grpc(limited, data_dir):
    config = pb.TranscriptionConfig(audio_format=audio_pb2.AudioFormat(encoded_file=audio_pb2.EncodedFile()))
    err = raw_call(
        limited, [pb.TranscribeFileRequest(config=config), pb.TranscribeFileRequest(audio_content=b"\x00" * (5 << 20))]
    )
    assert isinstance(err, grpc.RpcError) and err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    answers_good_request(limited, data_dir)

"""A corpus of malformed and hostile inputs, each sent to a real server on loopback.

Every case must get a named status (never INTERNAL or UNKNOWN) whose message names the
problem, and the same server must answer a good request afterwards. The server here runs with
the operator's defaults: no model roots, client model paths refused, and a short audio limit
so that "bombs" (tiny files that decode to much audio) are cheap to test.
"""

from __future__ import annotations

import dataclasses
import io
import math
import pathlib
import re
import shutil
import struct

import grpc
import numpy as np
import pytest
from google.protobuf import duration_pb2

from sidecar.v1 import audio_pb2, diarization_pb2, enhancement_pb2, events_pb2, models_pb2, separation_pb2
from sidecar.v1 import transcription_pb2 as tpb
from sidecar_client import SidecarClient, SidecarError
from tests import stems_fixtures

CLIP = "1089-134686-0000.flac"  # "He hoped there would be stew for dinner..."
MAX_AUDIO_SECONDS = 60.0
INVALID = grpc.StatusCode.INVALID_ARGUMENT
DENIED = grpc.StatusCode.PERMISSION_DENIED


@pytest.fixture(scope="module")
def strict_server(tmp_path_factory):
    from tests.harness import RunningSidecar

    stems_repo = stems_fixtures.make_tiny_repo(tmp_path_factory.mktemp("demucs"))
    server = RunningSidecar(
        max_audio_seconds=MAX_AUDIO_SECONDS, allow_client_model_paths=False, demucs_repositories=(str(stems_repo),)
    )
    yield server
    server.stop()


@pytest.fixture()
def strict(strict_server):
    with SidecarClient(strict_server.address) as c:
        yield c


def wav(
    samples: np.ndarray, rate: int, *, channels: int = 1, float32: bool = False, declared_frames: int | None = None
) -> bytes:
    """A WAV file; `declared_frames` lets the header lie about its length."""
    data = samples.astype("<f4").tobytes() if float32 else (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()
    width = 4 if float32 else 2
    size = len(data) if declared_frames is None else declared_frames * channels * width
    fmt = struct.pack(
        "<HHIIHH", 3 if float32 else 1, channels, rate, rate * channels * width, channels * width, 8 * width
    )
    return (
        b"RIFF"
        + struct.pack("<I", min(36 + size, 0xFFFFFFFF))
        + b"WAVE"
        + b"fmt "
        + struct.pack("<I", 16)
        + fmt
        + b"data"
        + struct.pack("<I", min(size, 0xFFFFFFFF))
        + data
    )


def encoded(name: str = "") -> audio_pb2.AudioFormat:
    return audio_pb2.AudioFormat(encoded_file=audio_pb2.EncodedFile(filename=name))


def pcm(rate: int, channels: int, encoding=audio_pb2.AUDIO_ENCODING_PCM_S16LE) -> audio_pb2.AudioFormat:
    return audio_pb2.AudioFormat(
        pcm=audio_pb2.PcmFormat(encoding=encoding, sample_rate_hertz=rate, channel_count=channels)
    )


def seconds(value: float) -> duration_pb2.Duration:
    d = duration_pb2.Duration()
    d.FromNanoseconds(int(value * 1e9))
    return d


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    data: bytes
    audio_format: audio_pb2.AudioFormat = dataclasses.field(default_factory=encoded)
    rpc: str = "transcribe"  # or "enhance", "separate", "diarize", "events"
    options: object = None
    code: grpc.StatusCode | None = INVALID  # None: may also be read for the audio it really holds
    message: str = ""  # a regular expression the message must match


SPEECH = np.sin(np.linspace(0, 2000 * math.pi, 16000)).astype(np.float32) * 0.1
PLAYLIST_TARGET = "private-call.flac"

PLAYLISTS = [
    Case(
        "ffconcat naming a file beside the server",
        f"ffconcat version 1.0\nfile {PLAYLIST_TARGET}\n".encode(),
        message="not an audio or video file|readable",
    ),
    Case(
        "ffconcat naming an absolute path",
        b"ffconcat version 1.0\nfile /etc/passwd\n",
        message="not an audio or video file|readable",
    ),
    Case(
        "ffconcat naming a URL",
        b"ffconcat version 1.0\nfile http://127.0.0.1:9/x.flac\n",
        message="not an audio or video file|readable",
    ),
    Case(
        "ffconcat through EnhanceFile",
        f"ffconcat version 1.0\nfile {PLAYLIST_TARGET}\n".encode(),
        rpc="enhance",
        message="not an audio or video file|readable",
    ),
    Case(
        "ffconcat through SeparateFile",
        f"ffconcat version 1.0\nfile {PLAYLIST_TARGET}\n".encode(),
        rpc="separate",
        options=separation_pb2.SeparationOptions(model=stems_fixtures.TINY_NAME),
        message="not an audio or video file|readable",
    ),
    Case(
        "HLS playlist naming a file",
        f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n{PLAYLIST_TARGET}\n#EXT-X-ENDLIST\n".encode(),
        encoded("list.m3u8"),
        message="not an audio or video file|readable",
    ),
    Case(
        "HLS playlist naming a URL",
        b"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nhttp://127.0.0.1:9/a.ts\n#EXT-X-ENDLIST\n",
        encoded("list.m3u8"),
        message="not an audio or video file|readable",
    ),
    Case(
        "DASH manifest",
        b'<?xml version="1.0"?><MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static">'
        b'<Period><AdaptationSet><Representation id="a" bandwidth="1"><BaseURL>private-call.flac</BaseURL>'
        b"</Representation></AdaptationSet></Period></MPD>",
        encoded("x.mpd"),
        message="not an audio or video file|readable",
    ),
    Case(
        "SDP session (opens RTP sockets)",
        b"v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=x\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\n",
        encoded("x.sdp"),
        message="not an audio or video file|readable",
    ),
    Case("FFmetadata text", b";FFMETADATA1\ntitle=x\n", message="not an audio or video file|no audio"),
    Case(
        "subtitles, not audio",
        b"1\n00:00:00,000 --> 00:00:01,000\nhello\n",
        encoded("x.srt"),
        message="not an audio or video file|no audio",
    ),
]

HEADER_LIES = [
    Case(
        "WAV declaring hours with a second of data",
        wav(SPEECH, 16000, declared_frames=16000 * 3600 * 3),
        message="truncated|longer than",
        code=None,
    ),
    Case(
        "WAV declaring 4 GiB",
        wav(SPEECH, 16000, declared_frames=0x7FFFFFFF),
        message="truncated|longer than",
        code=None,
    ),
    Case("first 2 KB of a FLAC", b"", message="decod|truncated|readable|contains no"),  # filled in below
    Case("random bytes", np.random.default_rng(7).bytes(4096), message="readable|not an audio or video file|decod"),
    Case("zeros", bytes(1 << 20), message="readable|not an audio or video file|decod"),
    Case("empty upload", b"", message="empty"),
    Case("a PNG picture", b"\x89PNG\r\n\x1a\n" + bytes(64), message="not an audio or video file|readable|no audio"),
    Case("WAV at 655 kHz", wav(np.zeros(6550, np.float32), 655_350), message="sample rate"),
    Case("WAV at 1 Hz", wav(np.zeros(10, np.float32), 1), message="sample rate"),
    Case("WAV with 255 channels", wav(np.zeros(255 * 100, np.float32), 16000, channels=255), message="channel"),
    Case("WAV of NaN floats", wav(np.full(16000, np.nan, np.float32), 16000, float32=True), message="NaN"),
    Case("WAV of infinite floats", wav(np.full(16000, np.inf, np.float32), 16000, float32=True), message="NaN|infin"),
    Case("decompression bomb: 10 minutes of silence in a small FLAC", b"", message="longer than"),  # below
    Case("bomb through EnhanceFile", b"", rpc="enhance", message="longer than"),  # below
]

PCM_LIES = [
    Case("PCM with half a frame", b"\x00\x01\x02", pcm(16000, 1), message="whole number of frames"),
    Case("PCM at 0 Hz", bytes(3200), pcm(0, 1), message="sample rate"),
    Case("PCM at 10 MHz", bytes(3200), pcm(10_000_000, 1), message="sample rate"),
    Case("PCM with 0 channels", bytes(3200), pcm(16000, 0), message="channel"),
    Case("PCM with 255 channels", bytes(255 * 2 * 10), pcm(16000, 255), message="channel"),
    Case(
        "PCM floats that are NaN",
        np.full(1600, np.nan, "<f4").tobytes(),
        pcm(16000, 1, audio_pb2.AUDIO_ENCODING_PCM_F32LE),
        message="NaN",
    ),
    Case(
        "PCM floats that are infinite",
        np.full(1600, -np.inf, "<f4").tobytes(),
        pcm(16000, 1, audio_pb2.AUDIO_ENCODING_PCM_F32LE),
        message="NaN|infin",
    ),
    Case("PCM with no encoding", bytes(3200), pcm(16000, 1, audio_pb2.AUDIO_ENCODING_UNSPECIFIED), message="encoding"),
    Case(
        "PCM longer than the limit",
        bytes(int(2 * 1000 * (MAX_AUDIO_SECONDS + 5))),
        pcm(1000, 1),
        message="longer than|limit",
    ),
]

OPTIONS = [
    Case(
        "beam size of a million",
        wav(SPEECH, 16000),
        options=tpb.TranscriptionOptions(beam_size=1_000_000),
        message="beam",
    ),
    Case("negative beam size", wav(SPEECH, 16000), options=tpb.TranscriptionOptions(beam_size=-3), message="beam"),
    Case(
        "unknown language",
        wav(SPEECH, 16000),
        options=tpb.TranscriptionOptions(language_code="xx-bogus"),
        message="language",
    ),
    Case(
        "a megabyte of initial prompt",
        wav(SPEECH, 16000),
        options=tpb.TranscriptionOptions(initial_prompt="word " * 200_000),
        message="prompt|characters|long",
    ),
    Case(
        "a megabyte of hotwords",
        wav(SPEECH, 16000),
        options=tpb.TranscriptionOptions(hotwords="word " * 200_000),
        message="hotwords|characters|long",
    ),
    Case(
        "event hop of 1 ns",
        wav(SPEECH, 16000),
        rpc="events",
        options=events_pb2.EventDetectionOptions(hop_duration=duration_pb2.Duration(nanos=1)),
        message="hop",
    ),
    Case(
        "event window of a day",
        wav(SPEECH, 16000),
        rpc="events",
        options=events_pb2.EventDetectionOptions(window_duration=seconds(86400)),
        message="window",
    ),
    Case(
        "event threshold NaN",
        wav(SPEECH, 16000),
        rpc="events",
        options=events_pb2.EventDetectionOptions(threshold=float("nan")),
        message="threshold",
    ),
    Case(
        "ten thousand event labels",
        wav(SPEECH, 16000),
        rpc="events",
        options=events_pb2.EventDetectionOptions(labels=[f"label {i}" for i in range(10_000)]),
        message="label",
    ),
    Case(
        "a million speakers",
        wav(SPEECH, 16000),
        rpc="diarize",
        options=diarization_pb2.DiarizationOptions(speaker_count=1_000_000),
        message="speaker",
    ),
    Case(
        "negative speakers",
        wav(SPEECH, 16000),
        rpc="diarize",
        options=diarization_pb2.DiarizationOptions(min_speaker_count=-1),
        message="speaker",
    ),
    Case(
        "attenuation limit NaN",
        wav(SPEECH, 16000),
        rpc="enhance",
        options=enhancement_pb2.EnhancementOptions(attenuation_limit_db=float("nan")),
        message="attenuation",
    ),
    Case(
        "a million separation shifts",
        wav(SPEECH, 16000),
        rpc="separate",
        options=separation_pb2.SeparationOptions(model=stems_fixtures.TINY_NAME, shift_count=1_000_000),
        message="shift",
    ),
]

NAMES = [
    Case(
        "Whisper model as a parent-directory path",
        wav(SPEECH, 16000),
        options=tpb.TranscriptionOptions(model="../../../../etc"),
        code=DENIED,
        message="model",
    ),
    Case(
        "Whisper model as an absolute path",
        wav(SPEECH, 16000),
        options=tpb.TranscriptionOptions(model="/etc"),
        code=DENIED,
        message="model",
    ),
    Case(
        "Whisper model as an absolute path that does not exist",
        wav(SPEECH, 16000),
        options=tpb.TranscriptionOptions(model="/no/such/place"),
        code=DENIED,
        message="model",
    ),
    Case(
        "Whisper model as a hub id",
        wav(SPEECH, 16000),
        options=tpb.TranscriptionOptions(model="someone/evil-whisper"),
        code=DENIED,
        message="model",
    ),
    Case(
        "Demucs repository from the request",
        wav(SPEECH, 16000),
        rpc="separate",
        options=separation_pb2.SeparationOptions(model=stems_fixtures.TINY_NAME, model_repository="/tmp"),
        code=DENIED,
        message="model",
    ),
    Case(
        "pyannote pipeline path from the request",
        wav(SPEECH, 16000),
        rpc="diarize",
        options=diarization_pb2.DiarizationOptions(backend=diarization_pb2.DIARIZATION_BACKEND_PYANNOTE, model="/tmp"),
        code=DENIED,
        message="model",
    ),
    Case(
        "pyannote pipeline as another hub id",
        wav(SPEECH, 16000),
        rpc="diarize",
        options=diarization_pb2.DiarizationOptions(
            backend=diarization_pb2.DIARIZATION_BACKEND_PYANNOTE, model="someone/evil-pipeline"
        ),
        code=DENIED,
        message="model",
    ),
    Case(
        "event model as a path",
        wav(SPEECH, 16000),
        rpc="events",
        options=events_pb2.EventDetectionOptions(model="/tmp"),
        code=DENIED,
        message="model",
    ),
]

CORPUS = PLAYLISTS + HEADER_LIES + PCM_LIES + OPTIONS + NAMES
# The media cases sent to TranscribeFile go to every other service that takes a file, too.
OTHER_UPLOAD_RPCS = {
    "diarize": None,
    "enhance": None,
    "separate": separation_pb2.SeparationOptions(model=stems_fixtures.TINY_NAME),
}
MEDIA_ELSEWHERE = [
    dataclasses.replace(case, rpc=rpc, options=options)
    for case in PLAYLISTS + HEADER_LIES + PCM_LIES
    if case.rpc == "transcribe"
    for rpc, options in OTHER_UPLOAD_RPCS.items()
]


def call(client: SidecarClient, case: Case, data: bytes):
    kind = case.rpc
    if kind == "transcribe":
        return client.transcribe(data, options=case.options, audio_format=case.audio_format)
    if kind == "enhance":
        return list(client.enhance_stream(data, options=case.options, audio_format=case.audio_format))
    if kind == "separate":
        return list(client.separate_stream(data, options=case.options, audio_format=case.audio_format))
    if kind == "diarize":
        return list(client.diarize_stream(data, options=case.options, audio_format=case.audio_format))
    if kind == "events":
        return list(client.detect_events(data, options=case.options, audio_format=case.audio_format))
    raise AssertionError(kind)


@pytest.fixture(scope="module")
def filled(data_dir, tmp_path_factory):
    """Inputs that need real files: a FLAC cut short, and small FLACs of long silence."""
    import av

    flac = (data_dir / CLIP).read_bytes()
    out = io.BytesIO()
    with av.open(out, "w", format="flac") as container:
        stream = container.add_stream("flac", rate=8000, layout="mono")
        silence = np.zeros((1, 8000), np.int16)
        for _ in range(600):
            frame = av.AudioFrame.from_ndarray(silence, format="s16", layout="mono")
            frame.sample_rate = 8000
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    bomb = out.getvalue()
    assert len(bomb) < 200_000  # ten minutes of audio in a small file
    return {
        "first 2 KB of a FLAC": flac[:2048],
        "decompression bomb: 10 minutes of silence in a small FLAC": bomb,
        "bomb through EnhanceFile": bomb,
    }


def test_the_corpus_is_large_enough():
    assert len(CORPUS) >= 40 and len({c.name for c in CORPUS}) == len(CORPUS)
    assert len(MEDIA_ELSEWHERE) == 3 * 31


@pytest.mark.parametrize("case", CORPUS, ids=lambda c: c.name)
def test_each_hostile_input_gets_a_named_status_and_the_server_keeps_serving(
    case, strict, filled, data_dir, tmp_path, monkeypatch
):
    check_hostile_case(case, strict, filled, data_dir, tmp_path, monkeypatch)


@pytest.mark.parametrize("case", MEDIA_ELSEWHERE, ids=lambda c: f"{c.rpc}: {c.name}")
def test_each_hostile_file_gets_the_same_answer_from_every_service(
    case, strict, filled, data_dir, tmp_path, monkeypatch
):
    check_hostile_case(case, strict, filled, data_dir, tmp_path, monkeypatch)


def check_hostile_case(case, strict, filled, data_dir, tmp_path, monkeypatch):
    # A file a playlist could name, beside the server (its working directory is this test's).
    shutil.copy(data_dir / CLIP, tmp_path / PLAYLIST_TARGET)
    monkeypatch.chdir(tmp_path)
    data = filled.get(case.name, case.data)
    try:
        result = call(strict, case, data)
    except SidecarError as caught:
        error = caught
    else:
        assert case.code is None, f"{case.name} was accepted"
        if case.rpc == "transcribe":  # read for the second it really holds
            assert 0.5 < result.info.audio_duration.ToNanoseconds() / 1e9 < 2, result.info
        return
    assert error.code not in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN), error
    assert error.code == case.code, error
    assert case.message and re.search(case.message, error.details, re.I), error
    assert "Traceback" not in error.details and "internal error" not in error.details


def test_the_server_answers_after_the_corpus(strict, data_dir):
    text = " ".join(s.text for s in strict.transcribe(data_dir / CLIP).segments).lower()
    assert "stew" in text


def test_a_playlist_cannot_read_a_file_beside_the_server(strict, data_dir, tmp_path, monkeypatch):
    """The finding: an ffconcat 'file' uploaded as audio made the server transcribe a file from
    its own working directory."""
    shutil.copy(data_dir / CLIP, tmp_path / PLAYLIST_TARGET)
    monkeypatch.chdir(tmp_path)
    playlist = f"ffconcat version 1.0\nfile {PLAYLIST_TARGET}\n".encode()
    with pytest.raises(SidecarError) as caught:
        strict.transcribe(playlist)
    assert caught.value.code == INVALID and "not an audio or video file" in caught.value.details
    assert "stew" not in caught.value.details


def test_list_models_with_an_unknown_capability_is_invalid(strict):
    with pytest.raises(SidecarError) as caught:
        strict.list_models(capability=999)
    assert caught.value.code == INVALID and "capability" in caught.value.details
    assert strict.list_models(models_pb2.CAPABILITY_TRANSCRIPTION)


def test_model_refusals_do_not_say_whether_a_path_exists(strict, tmp_path):
    (tmp_path / "there").mkdir()
    messages = []
    for name in (str(tmp_path / "there"), str(tmp_path / "absent")):
        with pytest.raises(SidecarError) as caught:
            strict.transcribe(wav(SPEECH, 16000), options=tpb.TranscriptionOptions(model=name))
        messages.append(caught.value.details.replace(name, "NAME"))
    assert messages[0] == messages[1] and caught.value.code == DENIED


def test_a_model_under_a_configured_root_loads(tmp_path, data_dir):
    """--models-dir lets requests name models under it, and only there."""
    from tests.harness import RunningSidecar
    from tests.tiny_whisper import build_tiny_whisper

    root = tmp_path / "models"
    model = build_tiny_whisper(root / "tiny", multilingual=False)
    outside = build_tiny_whisper(tmp_path / "outside", multilingual=False)
    (root / "escape").symlink_to(outside)
    server = RunningSidecar(models_dirs=(str(root),), allow_client_model_paths=False)
    try:
        with SidecarClient(server.address) as client:
            client.transcribe(data_dir / CLIP, options=tpb.TranscriptionOptions(model=str(model)))
            for name in (str(outside), str(root / "escape"), str(root / ".." / "outside")):
                with pytest.raises(SidecarError) as caught:
                    client.transcribe(data_dir / CLIP, options=tpb.TranscriptionOptions(model=name))
                assert caught.value.code == DENIED, name
    finally:
        server.stop()
    assert pathlib.Path(model).is_dir()


OPTION_CLASSES = [
    "whisper.TranscriptionOptions",
    "streaming.StreamingOptions",
    "diarization.DiarizationOptions",
    "deepfilter.EnhancementOptions",
    "demucs_engine.SeparationOptions",
    "audio_events.EventOptions",
    "musicgen.CueOptions",
    "xtts.SynthesisOptions",
    "translation.TranslationOptions",
]


@pytest.mark.parametrize("name", OPTION_CLASSES)
def test_every_number_and_text_an_option_holds_has_a_bound(name):
    """The bounds table beside each option dataclass covers every int, float and str field."""
    import importlib

    from sidecar.engines.bounds import Bounded

    module, cls_name = name.split(".")
    cls = getattr(importlib.import_module(f"sidecar.engines.{module}"), cls_name)
    assert issubclass(cls, Bounded)
    bounded = [f.name for f in dataclasses.fields(cls) if {"int", "float", "str"} & set(re.findall(r"\w+", f.type))]
    assert bounded and sorted(bounded) == sorted(cls.BOUNDS), (name, sorted(set(bounded) ^ set(cls.BOUNDS)))


class _OpensAFile:
    """Unpickling this creates a file: what a hostile checkpoint could do instead."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_a_request_cannot_make_the_server_unpickle_a_checkpoint_it_names(strict, tmp_path):
    """The finding: Demucs loads `.th` files with pickle (weights_only=False), and requests could
    name any repository, so a request could run code on the server."""
    torch = pytest.importorskip("torch")
    marker = tmp_path / "code-ran"
    repo = tmp_path / "repo"
    repo.mkdir()
    torch.save(_OpensAFile(str(marker)), repo / "evil.th")
    options = separation_pb2.SeparationOptions(model="evil", model_repository=str(repo))
    with pytest.raises(SidecarError) as caught:
        list(strict.separate_stream(wav(SPEECH, 16000), options=options, audio_format=encoded()))
    assert caught.value.code == DENIED, caught.value
    assert not marker.exists()


def test_a_live_message_may_not_carry_minutes_of_audio(strict):
    """4 MiB of 1 kHz PCM in one message is 35 minutes of audio, upsampled on arrival."""
    from sidecar_client import streaming_config

    call = strict.streaming_recognize(iter([bytes(4_000_000)]), config=streaming_config(1000))
    with pytest.raises(SidecarError) as caught:
        list(call)
    assert caught.value.code == INVALID and "per message" in caught.value.details, caught.value

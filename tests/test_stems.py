"""SeparationService end to end on a tiny random HTDemucs saved as a Demucs model repository.

The stems the sidecar streams must equal demucs.apply.apply_model on the whole input.
"""

from __future__ import annotations

import threading
import time

import grpc
import numpy as np
import pytest

from sidecar.media import audio as media
from sidecar.server import convert
from sidecar.v1 import audio_pb2, models_pb2, separation_pb2
from sidecar_client import SidecarClient, SidecarError
from tests import stems_fixtures as fx

pytest.importorskip("demucs")

SHORT_SECONDS = 3.0
EXACT_TOLERANCE = 1e-5  # float rounding only: the same windows, weights and sums


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    return fx.make_tiny_repo(tmp_path_factory.mktemp("demucs-repo"))


@pytest.fixture(scope="module")
def model(repo):
    from demucs.pretrained import get_model

    return get_model(fx.TINY_NAME, repo=repo)


@pytest.fixture(scope="module")
def server(repo):
    from tests.harness import RunningSidecar

    sidecar = RunningSidecar(max_running_jobs=1, max_waiting_jobs=2, demucs_repositories=(str(repo),))
    yield sidecar
    sidecar.stop()


@pytest.fixture()
def client(server):
    with SidecarClient(server.address) as c:
        yield c


@pytest.fixture(scope="module")
def short_music():
    return fx.music(SHORT_SECONDS)


@pytest.fixture(scope="module")
def short_reference(model, short_music):
    return fx.direct_stems(model, short_music)


def pcm_f32(samples: np.ndarray, sample_rate: int = fx.SAMPLE_RATE) -> tuple[bytes, audio_pb2.AudioFormat]:
    fmt = audio_pb2.PcmFormat(
        encoding=audio_pb2.AUDIO_ENCODING_PCM_F32LE, sample_rate_hertz=sample_rate, channel_count=samples.shape[0]
    )
    return media.encode_pcm(samples), audio_pb2.AudioFormat(pcm=fmt)


def options(**fields) -> separation_pb2.SeparationOptions:
    return separation_pb2.SeparationOptions(model=fx.TINY_NAME, **fields)


def separate(client, data, audio_format=None, **fields):
    infos, summaries = [], []
    pairs = list(
        client.separate(
            data,
            options=options(**fields),
            audio_format=audio_format,
            on_info=infos.append,
            on_summary=summaries.append,
        )
    )
    return fx.joined_stems(pairs), infos[0], summaries[0]


def max_error(got: np.ndarray, want: np.ndarray) -> float:
    assert got.shape == want.shape
    return float(np.abs(got - want).max())


def test_stems_equal_apply_model(client, short_music, short_reference):
    data, fmt = pcm_f32(short_music)
    stems, info, summary = separate(client, data, fmt)
    assert list(info.stems) == fx.TINY_SOURCES == list(summary.stems)
    assert info.output_format.sample_rate_hertz == fx.SAMPLE_RATE
    assert info.output_format.channel_count == 2
    assert info.model == fx.TINY_NAME and info.device == "cpu"
    for name in fx.TINY_SOURCES:
        assert max_error(stems[name], short_reference[name]) < EXACT_TOLERANCE, name
    assert abs(convert.seconds(summary.audio_duration) - SHORT_SECONDS) < 1e-3


def test_long_file_streams_across_blocks(client, model):
    """12 s of Vorbis: decoded block by block (10 s blocks, 2 s windows) and streamed out."""
    whole = media.decode_file(fx.MUSIC, sample_rate=fx.SAMPLE_RATE).samples
    reference = fx.direct_stems(model, whole)
    progress = []
    infos = []
    pairs = list(client.separate(fx.MUSIC, options=options(), on_progress=progress.append, on_info=infos.append))
    stems = fx.joined_stems(pairs)
    # Stems arrive interleaved in time: every stem's first chunk before any stem's second.
    first_seen = [stem for i, (stem, _) in enumerate(pairs) if stem not in dict(pairs[:i])]
    assert first_seen == fx.TINY_SOURCES
    assert convert.seconds(infos[0].audio_duration) == pytest.approx(12.0, abs=0.1)
    for name in fx.TINY_SOURCES:
        error_db = fx.level_db(stems[name] - reference[name])
        assert error_db < fx.level_db(reference[name]) - 40, name
        assert max_error(stems[name], reference[name]) < EXACT_TOLERANCE, name
    fractions = [p.fraction_done for p in progress if p.stage == "separating"]
    assert len(fractions) >= 2 and fractions == sorted(fractions) and fractions[-1] > 0.99


def test_engine_matches_apply_model_for_bags_segments_and_small_blocks(repo, model, short_music):
    """The streaming windows equal apply_model's for any block size, a bag, and other windows."""
    from demucs.apply import BagOfModels

    from sidecar.engines import demucs_engine

    other = fx.make_tiny_model(seed=7)
    bag = BagOfModels([model, other], weights=[[1.0, 0.0, 2.0, 1.0], [1.0, 1.0, 1.0, 0.0]])
    separator, _ = demucs_engine.separator(bag, "bag", "cpu")
    mix = short_music[:, : int(1.5 * fx.SAMPLE_RATE)]  # two 1.5 s windows per model
    blocks = [mix[:, i : i + 20_000] for i in range(0, mix.shape[1], 20_000)]
    opts = demucs_engine.SeparationOptions(overlap=0.5, segment_seconds=1.5)
    got = list(separator.separate(blocks, opts))
    reference = fx.direct_stems(bag, mix, overlap=0.5, segment=1.5)
    for name in fx.TINY_SOURCES:
        joined = np.concatenate([b.stems[name] for b in got], axis=1)
        assert max_error(joined, reference[name]) < EXACT_TOLERANCE, name


def test_subset_and_two_stem_modes(client, short_music, short_reference):
    data, fmt = pcm_f32(short_music)
    stems, info, _ = separate(client, data, fmt, stems=["vocals", "drums"])
    assert list(info.stems) == ["drums", "vocals"] == sorted(stems)
    assert max_error(stems["vocals"], short_reference["vocals"]) < EXACT_TOLERANCE

    stems, info, _ = separate(client, data, fmt, two_stems="vocals")
    assert list(info.stems) == ["vocals", "no_vocals"]
    rest = sum(short_reference[n] for n in ("drums", "bass", "other"))
    assert max_error(stems["no_vocals"], rest) < EXACT_TOLERANCE
    assert max_error(stems["vocals"], short_reference["vocals"]) < EXACT_TOLERANCE

    stems, info, _ = separate(client, data, fmt, two_stems="vocals", stems=["no_vocals"])
    assert list(stems) == ["no_vocals"]


def test_mono_input_at_another_rate_comes_back_at_its_rate(client, short_music):
    rate = 22_050
    mono = media.resample(media.Audio(short_music, fx.SAMPLE_RATE), rate, mono=True).samples
    data, fmt = pcm_f32(mono, rate)
    stems, info, _ = separate(client, data, fmt, stems=["bass"], output_encoding=audio_pb2.AUDIO_ENCODING_PCM_S16LE)
    assert info.output_format.sample_rate_hertz == rate
    assert info.output_format.channel_count == 1
    assert info.output_format.encoding == audio_pb2.AUDIO_ENCODING_PCM_S16LE
    assert abs(stems["bass"].shape[1] - mono.shape[1]) <= 2
    assert np.abs(stems["bass"]).max() > 0


def test_list_models_shows_the_repository_model(client):
    models = client.list_models(models_pb2.CAPABILITY_SEPARATION)
    tiny = [m for m in models if m.name == fx.TINY_NAME]
    assert tiny and tiny[0].family == "demucs" and tiny[0].source == "local"
    assert tiny[0].path.endswith(f"{fx.TINY_NAME}.th")
    assert all(models_pb2.CAPABILITY_SEPARATION in m.capabilities for m in models)


BAD_REQUESTS = [
    ("unknown stem", dict(stems=["kazoo"]), grpc.StatusCode.INVALID_ARGUMENT, "kazoo"),
    ("bad two-stem", dict(two_stems="guitar"), grpc.StatusCode.INVALID_ARGUMENT, "guitar"),
    ("shifts", dict(shift_count=99), grpc.StatusCode.INVALID_ARGUMENT, "shifts"),
    ("overlap", dict(overlap=0.99), grpc.StatusCode.INVALID_ARGUMENT, "overlap"),
    ("segment", dict(segment_duration=convert.duration(3.0)), grpc.StatusCode.INVALID_ARGUMENT, "at most 2"),
    ("output rate", dict(output_sample_rate_hertz=100), grpc.StatusCode.INVALID_ARGUMENT, "output_sample_rate_hertz"),
    ("unknown model", dict(model="no_such_model"), grpc.StatusCode.NOT_FOUND, "no_such_model"),
    ("missing repository", dict(model_repository="/no/such/dir"), grpc.StatusCode.NOT_FOUND, "/no/such/dir"),
    # Not here and no network to download it from: the message says how to provide it.
    ("published model offline", dict(model="htdemucs"), grpc.StatusCode.FAILED_PRECONDITION, "--demucs-repo DIR"),
]


@pytest.mark.parametrize("fields, code, text", [b[1:] for b in BAD_REQUESTS], ids=[b[0] for b in BAD_REQUESTS])
def test_bad_options_are_refused_and_the_server_goes_on(client, short_music, fields, code, text):
    data, fmt = pcm_f32(short_music[:, : fx.SAMPLE_RATE])
    fields = {"model": fx.TINY_NAME, **fields}
    with pytest.raises(SidecarError) as caught:
        list(client.separate(data, options=separation_pb2.SeparationOptions(**fields), audio_format=fmt))
    assert caught.value.code == code and text in caught.value.details
    stems, _, _ = separate(client, data, fmt, stems=["vocals"])
    assert stems["vocals"].shape == (2, fx.SAMPLE_RATE)


def test_undecodable_and_empty_input(client):
    with pytest.raises(SidecarError) as caught:
        list(client.separate(b"this is not audio at all" * 100, options=options()))
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "not a readable audio" in caught.value.details
    with pytest.raises(SidecarError) as caught:
        list(client.separate(b"", options=options()))
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT and "empty" in caught.value.details


def test_cancelling_frees_the_worker(server, client, short_music):
    """A cancelled long job stops at its next window; the only job slot is free again at once."""
    long_input = np.tile(short_music, 20)  # 60 s: far longer than the test waits
    data, fmt = pcm_f32(long_input)
    call = client.separate_stream(data, options=options(), audio_format=fmt)
    got_audio = threading.Event()

    def consume():
        try:
            for response in call:
                if response.WhichOneof("event") == "stem_chunk":
                    got_audio.set()
        except SidecarError:
            pass

    reader = threading.Thread(target=consume)
    reader.start()
    assert got_audio.wait(120), "the long job sent no audio"
    call.cancel()
    reader.join(10)
    deadline = time.monotonic() + 10
    while server.runtime.jobs.running and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.runtime.jobs.running == 0, "the cancelled job still holds its slot"
    started = time.monotonic()
    small, small_fmt = pcm_f32(short_music[:, : fx.SAMPLE_RATE])
    stems, _, _ = separate(client, small, small_fmt, stems=["drums"])
    assert stems["drums"].shape == (2, fx.SAMPLE_RATE)
    assert time.monotonic() - started < 60


def test_cli_writes_one_file_per_stem_and_never_overwrites(server, repo, tmp_path, short_music, capsys):
    from sidecar.cli.main import main
    from sidecar.media.writers import write_audio

    rate = 32_000
    source = write_audio(
        tmp_path / "song.wav", media.resample(media.Audio(short_music, fx.SAMPLE_RATE), rate).samples, rate
    )
    out = tmp_path / "stems"
    base = [
        "stems",
        str(source),
        "-o",
        str(out),
        "--model",
        fx.TINY_NAME,
        "--repo",
        str(repo),
        "--server",
        server.address,
        "-q",
    ]
    assert main([*base, "--stems", "vocals,drums"]) == 0
    written = sorted(p.name for p in out.iterdir())
    assert written == ["song.drums.wav", "song.vocals.wav"]
    vocals = media.decode_file(out / "song.vocals.wav")
    assert vocals.sample_rate == rate and abs(vocals.frame_count - short_music.shape[1] * rate // fx.SAMPLE_RATE) <= 2
    before = (out / "song.vocals.wav").read_bytes()

    assert main([*base, "--stems", "vocals"]) == 2
    assert "exists" in capsys.readouterr().err
    assert (out / "song.vocals.wav").read_bytes() == before

    assert main([*base, "--two-stems", "vocals", "--format", "flac"]) == 0
    assert {"song.vocals.flac", "song.no_vocals.flac"} <= {p.name for p in out.iterdir()}

    assert main([*base, "--stems", "kazoo"]) == 1
    assert "kazoo" in capsys.readouterr().err
    assert not list(out.glob("song.kazoo*")) and not list(out.glob(".song*"))

    assert main([*base, "--stems", "vocals", "--force"]) == 0


@pytest.mark.gpu
def test_cuda_matches_the_cpu(model, short_music, short_reference):
    import torch

    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU")
    import copy

    from sidecar.engines import demucs_engine

    separator, device = demucs_engine.separator(copy.deepcopy(model), fx.TINY_NAME, "cuda")
    assert device.startswith("cuda")
    got = list(separator.separate([short_music], demucs_engine.SeparationOptions()))
    for name in fx.TINY_SOURCES:
        joined = np.concatenate([b.stems[name] for b in got], axis=1)
        assert fx.level_db(joined - short_reference[name]) < fx.level_db(short_reference[name]) - 40

"""Cue generation: a tiny random MusicGen through the engine, gRPC and `sidecar cue`."""

from __future__ import annotations

import json

import grpc
import numpy as np
import pytest

from sidecar.config import ServerConfig
from sidecar.engines import musicgen
from sidecar.errors import InvalidOptionsError
from tests.music_fixtures import music_client, music_sidecar, tiny_melody_dir, tiny_musicgen_dir  # noqa: F401

PROMPT = "calm piano bed with strings"


def settings(model_dir, **fields):
    from sidecar.v1 import cues_pb2

    s = cues_pb2.CueSettings(model=str(model_dir), prompt=fields.pop("prompt", PROMPT))
    s.audio_duration.FromNanoseconds(round(fields.pop("duration", 0.6) * 1e9))
    for name, value in fields.items():
        setattr(s, name, value)
    return s


def collect(call):
    """(info, float32 (channels, frames) audio, progress list, summary) of a GenerateCue call."""
    info = summary = None
    chunks, progress = [], []
    for response in call:
        kind = response.WhichOneof("event")
        if kind == "info":
            info = response.info
        elif kind == "audio":
            assert response.audio.format.channel_count == info.audio_format.channel_count
            chunks.append(response.audio)
        elif kind == "progress":
            progress.append(response.progress)
        elif kind == "summary":
            summary = response.summary
    channels = info.audio_format.channel_count
    position = 0.0
    for chunk in chunks:  # in order, without gaps
        start = chunk.start_offset.seconds + chunk.start_offset.nanos / 1e9
        assert start == pytest.approx(position, abs=1e-6)
        position += len(chunk.data) // (4 * channels) / info.audio_format.sample_rate_hertz
    audio = np.frombuffer(b"".join(c.data for c in chunks), dtype="<f4").reshape(-1, channels).T
    return info, audio, progress, summary


def expect_error(code, words, call):
    from sidecar_client import SidecarError

    with pytest.raises(SidecarError) as raised:
        collect(call)
    assert raised.value.code == code, raised.value
    for word in words:
        assert word in raised.value.details, raised.value.details


def test_options_are_checked_in_one_place():
    musicgen.CueOptions(prompt="x").validate()
    for fields, words in [
        ({"prompt": "  "}, "prompt is empty"),
        ({"duration": 30.5}, "at most 30 s"),
        ({"duration": 0.0}, "above 0"),
        ({"guidance_scale": 0.5}, "guidance_scale"),
        ({"top_p": 1.5}, "top_p"),
        ({"temperature": 0.0}, "temperature"),
        ({"seed": -1}, "seed"),
    ]:
        with pytest.raises(InvalidOptionsError, match=words):
            musicgen.CueOptions(**{"prompt": "x", **fields}).validate()
    assert musicgen.CueOptions(prompt="x", seed=5).with_seed().seed == 5
    assert musicgen.CueOptions(prompt="x").with_seed().seed is not None


def test_proto_settings_options_and_cli_flags_agree():
    """Every CueSettings field is an option (or output only) and a `sidecar cue` flag."""
    import argparse
    import dataclasses

    from sidecar.cli import cue
    from sidecar.v1 import cues_pb2

    proto = {f.name for f in cues_pb2.CueSettings.DESCRIPTOR.fields}
    to_option = {"audio_duration": "duration", "model": None, "reference_sha256": None}
    options = {f.name for f in dataclasses.fields(musicgen.CueOptions)}
    assert {to_option.get(n, n) for n in proto} - {None} == options - {"chunk_seconds"}
    parser = argparse.ArgumentParser()
    cue.add_parser(parser.add_subparsers())
    flags = {a.dest for a in parser._subparsers._group_actions[0].choices["cue"]._actions}
    to_flag = {
        "audio_duration": "duration",
        "guidance_scale": "guidance",
        "reference_mode": "melody",
        "reference_sha256": None,
    }
    assert {to_flag.get(n, n) for n in proto} - {None} <= flags


def assert_streams_like_the_library(engine: musicgen.MusicgenEngine) -> None:
    import torch

    options = musicgen.CueOptions(prompt=PROMPT, duration=1.0, seed=11, chunk_seconds=0.3)
    items = list(engine.generate(options))
    plan, steps = items[0], [i for i in items if isinstance(i, musicgen.CueStep)]
    chunks = [i for i in items if isinstance(i, musicgen.CueChunk)]
    assert plan.step_count == 50 + 3 and len(steps) == plan.step_count
    assert len(chunks) >= 3 and items.index(chunks[0]) < items.index(steps[-1])  # before the end
    streamed = np.concatenate([c.samples for c in chunks], axis=1)
    torch.manual_seed(11)
    reference = (
        engine.model.generate(**engine.inputs(options, None), **engine.sampling(options, plan))[0].float().cpu().numpy()
    )
    assert streamed.shape == reference.shape == (1, 16_000)
    np.testing.assert_allclose(streamed, reference, atol=1e-5)


@pytest.mark.gpu
def test_engine_on_cuda(tiny_musicgen_dir):
    from sidecar.runtime import devices

    if not devices.torch_cuda_available():
        pytest.skip("no CUDA GPU")
    settings = ServerConfig.model_settings_for("cuda")
    engine, device, _ = musicgen.MODEL_FAMILY.load_alone(str(tiny_musicgen_dir), settings)
    assert device == "cuda" and engine.model.device.type == "cuda"
    assert_streams_like_the_library(engine)


def test_engine_streams_exactly_the_librarys_cue(tiny_musicgen_dir):
    """Chunks sent while generating join into the audio transformers' generate returns."""
    import torch

    engine, device, resolved = musicgen.MODEL_FAMILY.load_alone(
        str(tiny_musicgen_dir), ServerConfig.model_settings_for("cpu", cpu_threads=1)
    )
    assert (device, resolved.source, engine.codebooks) == ("cpu", "local", 4)
    assert_streams_like_the_library(engine)

    # A continuation: only the new audio, aligned with the library's whole output.
    rng = np.random.default_rng(0)
    given = (rng.standard_normal((1, 12_345)) * 0.1).astype(np.float32)
    options = musicgen.CueOptions(
        prompt=PROMPT, duration=0.5, seed=11, chunk_seconds=0.2, reference_mode=musicgen.CONTINUATION
    )
    ref = engine.reference(given, musicgen.CONTINUATION)
    assert ref.samples.shape[1] % engine.hop == 0
    items = list(engine.generate(options, ref))
    streamed = np.concatenate([i.samples for i in items if isinstance(i, musicgen.CueChunk)], axis=1)
    torch.manual_seed(11)
    whole = engine.model.generate(**engine.inputs(options, ref), **engine.sampling(options, items[0]))[0].numpy()
    assert streamed.shape == (1, 8000)
    np.testing.assert_allclose(streamed, whole[:, ref.samples.shape[1] :], atol=1e-5)
    with pytest.raises(InvalidOptionsError, match="at most 1024 frames in all: 20.40 s after 0.00 s"):
        engine.plan(musicgen.CueOptions(prompt=PROMPT, duration=25.0), None)  # the tiny model's limit
    with pytest.raises(InvalidOptionsError, match="does not follow melodies"):
        engine.check(options.__class__(prompt=PROMPT, reference_mode=musicgen.MELODY))


def test_settings_echoed_in_full_regenerate_the_same_cue(music_client, tiny_musicgen_dir):
    from sidecar.v1 import cues_pb2

    info, first, progress, summary = collect(music_client.generate_cue(settings(tiny_musicgen_dir)))
    assert info.audio_format.sample_rate_hertz == 16_000 and info.device == "cpu"
    assert first.shape == (1, round(0.6 * 16_000)) and np.abs(first).max() > 0
    steps = [p for p in progress if p.stage == "generating"]
    assert len(steps) == info.step_count and steps[-1].fraction_done == pytest.approx(1.0)
    echoed = summary.settings
    assert echoed.HasField("seed") and echoed.model == str(tiny_musicgen_dir)
    assert (echoed.guidance_scale, echoed.top_k, echoed.top_p, echoed.temperature) == (3.0, 250, 0.0, 1.0)
    assert echoed.reference_mode == cues_pb2.REFERENCE_MODE_UNSPECIFIED and echoed.reference_sha256 == ""
    assert summary.chunk_count >= 1 and summary.speed_factor > 0
    from sidecar.v1 import models_pb2

    listed = music_client.list_models(models_pb2.CAPABILITY_CUE_GENERATION)
    assert [(m.name, m.family, m.loaded) for m in listed] == [(str(tiny_musicgen_dir), "musicgen", True)]

    _, again, _, again_summary = collect(music_client.generate_cue(echoed))
    np.testing.assert_array_equal(again, first)
    assert again_summary.settings == echoed
    other = cues_pb2.CueSettings()
    other.CopyFrom(echoed)
    other.seed = echoed.seed + 1
    _, different, _, _ = collect(music_client.generate_cue(other))
    assert different.shape == first.shape and np.abs(different - first).max() > 1e-4


def test_continuation_of_uploaded_audio(music_client, tiny_musicgen_dir, data_dir):
    from sidecar.v1 import cues_pb2

    s = settings(tiny_musicgen_dir, duration=0.4, seed=3, reference_mode=cues_pb2.REFERENCE_MODE_CONTINUATION)
    clip = data_dir / "1089-134691-0000.flac"
    info, audio, _, summary = collect(music_client.generate_cue(s, reference=clip))
    assert audio.shape == (1, round(0.4 * 16_000))
    assert info.reference_duration.seconds + info.reference_duration.nanos / 1e9 > 1.0
    assert len(summary.settings.reference_sha256) == 64
    _, again, _, _ = collect(music_client.generate_cue(summary.settings, reference=clip))
    np.testing.assert_array_equal(again, audio)


def test_melody_model_follows_an_uploaded_melody(music_client, tiny_melody_dir, tmp_path):
    from sidecar.media.writers import write_audio
    from sidecar.v1 import cues_pb2

    time = np.arange(2 * 16_000) / 16_000
    tune = tmp_path / "tune.wav"
    write_audio(tune, (0.3 * np.sin(2 * np.pi * np.where(time < 1, 440, 660) * time)).astype(np.float32), 16_000)
    s = settings(tiny_melody_dir, duration=0.4, seed=5, reference_mode=cues_pb2.REFERENCE_MODE_MELODY)
    info, audio, _, summary = collect(music_client.generate_cue(s, reference=tune))
    assert audio.shape == (1, 6400) and len(summary.settings.reference_sha256) == 64
    assert info.reference_duration.seconds + info.reference_duration.nanos / 1e9 == pytest.approx(2.0)
    _, again, _, _ = collect(music_client.generate_cue(summary.settings, reference=tune))
    np.testing.assert_array_equal(again, audio)
    expect_error(
        grpc.StatusCode.INVALID_ARGUMENT,
        ["melody model, which cannot continue"],
        music_client.generate_cue(
            settings(tiny_melody_dir, reference_mode=cues_pb2.REFERENCE_MODE_CONTINUATION), reference=tune
        ),
    )


def test_bad_requests_get_clear_errors_and_the_server_keeps_serving(
    music_client, tiny_musicgen_dir, data_dir, tmp_path
):
    from sidecar.v1 import cues_pb2

    bad = grpc.StatusCode.INVALID_ARGUMENT
    expect_error(bad, ["prompt is empty"], music_client.generate_cue(settings(tiny_musicgen_dir, prompt=" ")))
    expect_error(bad, ["at most 30 s", "31 s"], music_client.generate_cue(settings(tiny_musicgen_dir, duration=31.0)))
    expect_error(
        grpc.StatusCode.NOT_FOUND,
        ["no musicgen model named 'musicgen-huge'", "musicgen-small"],
        music_client.generate_cue(settings("musicgen-huge")),
    )
    expect_error(
        grpc.StatusCode.NOT_FOUND, ["not a musicgen model directory"], music_client.generate_cue(settings(tmp_path))
    )
    expect_error(
        bad,
        ["needs reference audio"],
        music_client.generate_cue(settings(tiny_musicgen_dir, reference_mode=cues_pb2.REFERENCE_MODE_CONTINUATION)),
    )
    expect_error(
        bad,
        ["without a `reference_mode`"],
        music_client.generate_cue(settings(tiny_musicgen_dir), reference=data_dir / "1089-134691-0000.flac"),
    )
    expect_error(
        bad,
        ["does not follow melodies"],
        music_client.generate_cue(
            settings(tiny_musicgen_dir, reference_mode=cues_pb2.REFERENCE_MODE_MELODY),
            reference=data_dir / "1089-134691-0000.flac",
        ),
    )
    expect_error(
        bad,
        ["empty"],
        music_client.generate_cue(
            settings(tiny_musicgen_dir, reference_mode=cues_pb2.REFERENCE_MODE_CONTINUATION), reference=b""
        ),
    )
    info, audio, _, _ = collect(music_client.generate_cue(settings(tiny_musicgen_dir, duration=0.2, seed=1)))
    assert audio.shape == (1, 3200)


def test_cancelling_stops_the_generation(music_client, tiny_musicgen_dir):
    """A client that goes away after the first chunk stops the model within a step or two."""
    import threading
    import time

    call = music_client.generate_cue(settings(tiny_musicgen_dir, duration=20.0, seed=2))
    for response in call:
        if response.WhichOneof("event") == "audio":
            break
    call.cancel()
    deadline = time.monotonic() + 10
    while any(t.name == "musicgen-generate" for t in threading.enumerate()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(t.name == "musicgen-generate" for t in threading.enumerate())
    _, audio, _, _ = collect(music_client.generate_cue(settings(tiny_musicgen_dir, duration=0.2, seed=1)))
    assert audio.shape == (1, 3200)


def test_cli_cue_saves_settings_that_regenerate_it(music_sidecar, tiny_musicgen_dir, tmp_path, capsys):
    from sidecar.cli.main import main
    from sidecar.media.audio import decode_file

    out = tmp_path / "bed.wav"
    server = ["--server", music_sidecar.address]
    assert (
        main(["cue", PROMPT, "-d", "0.5", "--seed", "9", "--model", str(tiny_musicgen_dir), "-o", str(out), *server])
        == 0
    )
    saved = json.loads((tmp_path / "bed.json").read_text())
    assert saved["seed"] == "9" and saved["model"] == str(tiny_musicgen_dir) and saved["topK"] == 250
    assert "bed.json" in capsys.readouterr().err
    again = tmp_path / "again.wav"
    assert main(["cue", "--settings", str(tmp_path / "bed.json"), "-o", str(again), *server]) == 0
    first, second = (
        decode_file(str(p), sample_rate=None, mono=False, max_duration=60, name=p.name) for p in (out, again)
    )
    assert first.sample_rate == 16_000 and first.frame_count == 8000
    np.testing.assert_array_equal(first.samples, second.samples)

    assert main(["cue", PROMPT, "-o", str(out), *server]) == 2
    assert "exists: pass --force" in capsys.readouterr().err
    assert (
        main(["cue", PROMPT, "-d", "45", "--model", str(tiny_musicgen_dir), "-o", str(tmp_path / "long.wav"), *server])
        == 1
    )
    assert "at most 30 s" in capsys.readouterr().err and not (tmp_path / "long.wav").exists()
    assert main(["cue", " ", "-o", str(tmp_path / "x.wav"), *server]) == 2
    assert "prompt is empty" in capsys.readouterr().err

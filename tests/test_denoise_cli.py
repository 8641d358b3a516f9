"""`sidecar denoise` end to end, and the WAV/FLAC writer it uses."""

from __future__ import annotations

import os

import numpy as np
import pytest

from sidecar.cli.main import main
from sidecar.errors import InvalidOptionsError
from sidecar.media import audio as media
from sidecar.media import writers

RATE = 44100


def noisy_speech(librispeech, seconds: float = 3.0) -> np.ndarray:
    path, _ = librispeech["1089-134691-0000"]
    clean = media.decode_file(path, sample_rate=RATE, mono=True).samples[0][: int(seconds * RATE)]
    noise = np.random.default_rng(2).standard_normal((2, clean.size)).astype(np.float32)
    noise *= np.sqrt((clean**2).mean() / (noise**2).mean())
    return (np.stack([clean, clean]) + noise).astype(np.float32)


def test_cli_writes_flac_at_input_rate_and_channels(sidecar_server, librispeech, tmp_path, capsys):
    noisy = noisy_speech(librispeech)
    source = writers.write_audio(tmp_path / "noisy.wav", noisy, RATE)
    original = source.read_bytes()
    out = tmp_path / "clean.flac"
    server = ["--server", sidecar_server.address]

    assert main(["denoise", str(source), "-o", str(out), "--attenuation-limit", "20", *server]) == 0
    enhanced = media.decode_file(out)
    assert (enhanced.sample_rate, enhanced.samples.shape) == (RATE, noisy.shape)
    assert np.abs(enhanced.samples).mean() < 0.7 * np.abs(noisy).mean()  # the noise went down
    assert "x real time" in capsys.readouterr().err

    before = out.read_bytes()
    assert main(["denoise", str(source), "-o", str(out), *server]) == 2  # exists: refused
    assert "--force" in capsys.readouterr().err
    assert out.read_bytes() == before
    assert main(["denoise", str(source), "-o", str(source), "--force", *server]) == 2  # never IN
    assert main(["denoise", str(source), "-o", str(tmp_path / "x.mp3"), *server]) == 2
    assert main(["denoise", str(source), "-o", str(out), "--force", "--post-filter", *server]) == 0
    assert source.read_bytes() == original
    assert sorted(os.listdir(tmp_path)) == ["clean.flac", "noisy.wav"]  # no temporary files left


def test_cli_reports_undecodable_input(sidecar_server, tmp_path, capsys):
    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(b"\x07" * 4000)
    out = tmp_path / "out.wav"
    assert main(["denoise", str(garbage), "-o", str(out), "--server", sidecar_server.address]) == 1
    assert "INVALID_ARGUMENT" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize(
    "name, sample_format, tolerance",
    [
        ("a.wav", None, 1e-7),
        ("a.wav", writers.S16, 1e-4),
        ("a.flac", None, 1e-6),
        ("a.flac", writers.S16, 1e-4),
    ],
)
def test_writer_round_trips(tmp_path, name, sample_format, tolerance):
    samples = np.random.default_rng(0).uniform(-0.9, 0.9, (2, 10007)).astype(np.float32)
    path = writers.write_audio(tmp_path / name, samples, 22050, sample_format=sample_format)
    decoded = media.decode_file(path)
    assert decoded.sample_rate == 22050
    assert np.abs(decoded.samples - samples).max() < tolerance


def test_writer_refuses_to_overwrite_and_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "a.wav"
    target.write_bytes(b"keep")
    with pytest.raises(FileExistsError):
        writers.write_audio(target, np.zeros((1, 10), np.float32), 8000)
    with pytest.raises(RuntimeError), writers.AudioWriter(tmp_path / "b.flac", 8000, 1) as writer:
        writer.write(np.zeros((1, 100), np.float32))
        raise RuntimeError("the job failed")
    with pytest.raises(InvalidOptionsError, match="must end in"):
        writers.write_audio(tmp_path / "c.mp3", np.zeros((1, 10), np.float32), 8000)
    with pytest.raises(InvalidOptionsError, match="f32"):
        writers.write_audio(tmp_path / "d.flac", np.zeros((1, 10), np.float32), 8000, sample_format=writers.F32)
    assert target.read_bytes() == b"keep"
    assert os.listdir(tmp_path) == ["a.wav"]
    writers.write_audio(target, np.zeros((1, 10), np.float32), 8000, overwrite=True)
    assert media.decode_file(target).frame_count == 10

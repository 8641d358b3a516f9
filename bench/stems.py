"""Stem separation through the sidecar against demucs called directly, with the tiny model.

For each length (1, 5 and 20 minutes of the test music repeated, as FLAC), two fresh
processes do the same work with the same random tiny HTDemucs (tests/stems_fixtures.py):
one decodes the file and runs demucs.apply.apply_model on it whole (shifts=0), the other
starts an in-process sidecar and streams the file through SidecarClient.separate, dropping
the chunks (after a warm-up call that loads the model). Prints each one's real-time factor
(wall time / audio time), the ratio sidecar/direct of wall and of CPU time (goal <= 1.05; the
CPU ratio is the steadier one on a shared machine) and each process's peak memory (goal: flat for the sidecar).

    .venv/bin/python bench/stems.py [--minutes 1 5 20]
"""

from __future__ import annotations

import argparse
import json
import pathlib
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DIRECT = r"""
import json, pathlib, resource, sys, time
import torch
from demucs.apply import apply_model
from demucs.pretrained import get_model
from sidecar.media import audio as media
from tests import stems_fixtures as fx
model = get_model(fx.TINY_NAME, repo=pathlib.Path(sys.argv[2]))
def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
started, cpu_started = time.perf_counter(), cpu()
samples = media.decode_file(sys.argv[1], sample_rate=model.samplerate).samples
out = apply_model(model, torch.from_numpy(samples)[None], shifts=0)
seconds, cpu_seconds = time.perf_counter() - started, cpu() - cpu_started
print(json.dumps({"seconds": seconds, "cpu_seconds": cpu_seconds,
                  "audio_seconds": samples.shape[1] / model.samplerate,
                  "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

SIDECAR = r"""
import json, os, resource, sys, time
from sidecar.server.inprocess import InProcessSidecar
from sidecar.v1 import audio_pb2, separation_pb2
from sidecar_client import SidecarClient
from tests import stems_fixtures as fx
with InProcessSidecar(demucs_repositories=[sys.argv[2]]) as server, SidecarClient(server.address) as client:
    client.wait_ready()
    options = separation_pb2.SeparationOptions(model=fx.TINY_NAME)
    # One second of silence loads the model, as the direct process does before its clock starts.
    silence = audio_pb2.AudioFormat(pcm=audio_pb2.PcmFormat(
        encoding=audio_pb2.AUDIO_ENCODING_PCM_S16LE, sample_rate_hertz=fx.SAMPLE_RATE, channel_count=1))
    for _ in client.separate(bytes(2 * fx.SAMPLE_RATE), options=options, audio_format=silence):
        pass
    frames = {}
    usage = resource.getrusage(resource.RUSAGE_SELF)
    started, cpu_started = time.perf_counter(), usage.ru_utime + usage.ru_stime
    for stem, chunk in client.separate(sys.argv[1], options=options):
        frames[stem] = frames.get(stem, 0) + len(chunk.data) // 8  # stereo float32
    seconds = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu_seconds = usage.ru_utime + usage.ru_stime - cpu_started
print(json.dumps({"seconds": seconds, "cpu_seconds": cpu_seconds,
                  "audio_seconds": max(frames.values()) / fx.SAMPLE_RATE,
                  "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def make_input(minutes: float, target: pathlib.Path) -> None:
    """The test music repeated to `minutes`, written block by block as FLAC."""
    from sidecar.media.writers import AudioWriter
    from tests import stems_fixtures as fx

    music = fx.music()
    frames = int(minutes * 60 * fx.SAMPLE_RATE)
    with AudioWriter(target, fx.SAMPLE_RATE, music.shape[0]) as writer:
        written = 0
        while written < frames:
            block = music[:, : frames - written]
            writer.write(block)
            written += block.shape[1]


def measure(script: str, clip: pathlib.Path, repo: pathlib.Path) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", script, str(clip), str(repo)], cwd=ROOT, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"benchmark process failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def best(runs) -> dict:
    """The fastest run's time and the highest peak memory of all."""
    runs = list(runs)
    fastest = min(runs, key=lambda r: r["seconds"])
    return {**fastest, "peak_mib": max(r["peak_mib"] for r in runs)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[1, 5, 20])
    parser.add_argument("--repeats", type=int, default=1, help="runs of each, the fastest counts")
    parser.add_argument(
        "--sidecar-only", action="store_true", help="skip demucs called directly (peak memory of the sidecar only)"
    )
    args = parser.parse_args()
    from tests import stems_fixtures as fx

    with tempfile.TemporaryDirectory(prefix="bench-stems-") as tmp:
        repo = fx.make_tiny_repo(pathlib.Path(tmp) / "repo")
        print(
            f"{'minutes':>7} {'direct RTF':>10} {'sidecar RTF':>11} {'ratio':>6} "
            f"{'CPU ratio':>9} {'direct peak MiB':>15} {'sidecar peak MiB':>16}"
        )
        for minutes in args.minutes:
            clip = pathlib.Path(tmp) / f"music-{minutes:g}min.flac"
            make_input(minutes, clip)
            sidecar = best(measure(SIDECAR, clip, repo) for _ in range(args.repeats))
            sidecar_rtf = sidecar["seconds"] / sidecar["audio_seconds"]
            if args.sidecar_only:
                print(
                    f"{minutes:>7g} {'-':>10} {sidecar_rtf:>11.3f} {'-':>6} {'-':>9} {'-':>15} "
                    f"{sidecar['peak_mib']:>16.0f}",
                    flush=True,
                )
            else:
                direct = best(measure(DIRECT, clip, repo) for _ in range(args.repeats))
                direct_rtf = direct["seconds"] / direct["audio_seconds"]
                print(
                    f"{minutes:>7g} {direct_rtf:>10.3f} {sidecar_rtf:>11.3f} "
                    f"{sidecar_rtf / direct_rtf:>6.3f} "
                    f"{sidecar['cpu_seconds'] / direct['cpu_seconds']:>9.3f} "
                    f"{direct['peak_mib']:>15.0f} {sidecar['peak_mib']:>16.0f}",
                    flush=True,
                )
            clip.unlink()


if __name__ == "__main__":
    main()

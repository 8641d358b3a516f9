"""Sidecar overhead for file captioning against faster-whisper called directly.

Captions the same long clip (the bundled LibriSpeech clips joined and repeated) twice each way,
alternating, with the same model and options: through a `sidecar serve` process and the client,
and by faster-whisper in a plain process. Prints the time ratio (goal <= 1.03), the real-time
factor and peak memory of each, and the p50/p99 round trip of small requests.

    make bench            # or: .venv/bin/python bench/transcribe_overhead.py [--minutes 5]
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CLIP = ROOT / "tests" / "data" / "demo-1089.flac"

DIRECT = r"""
import json, resource, sys, time
from faster_whisper import WhisperModel
from sidecar.engines import whisper_models
path = whisper_models.resolve(sys.argv[2]).path
model = WhisperModel(str(path), device="cpu", compute_type="int8")
started = time.perf_counter()
from faster_whisper.audio import decode_audio
audio = decode_audio(sys.argv[1])
segments, info = model.transcribe(audio, beam_size=5, word_timestamps=True, vad_filter=True)
count = sum(1 for _ in segments)
print(json.dumps({"seconds": time.perf_counter() - started, "segments": count,
                  "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def make_long_clip(minutes: float, target: pathlib.Path) -> float:
    import numpy as np

    from sidecar.media.audio import decode_file
    from sidecar.media.writers import S16, write_audio

    clip = decode_file(CLIP, sample_rate=16_000, mono=True).samples[0]
    repeats = max(1, int(minutes * 60 / (len(clip) / 16_000)))
    samples = np.tile(clip, repeats)
    write_audio(target, samples, 16_000, sample_format=S16)
    return len(samples) / 16_000


def run_direct(path: pathlib.Path, model: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", DIRECT, str(path), model], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def peak_mib(pid: int) -> float:
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Server:
    def __init__(self, model: str) -> None:
        self.dir = tempfile.TemporaryDirectory()
        port_file = pathlib.Path(self.dir.name) / "port"
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sidecar.cli.main",
                "serve",
                "--port",
                "0",
                "--ready-file",
                str(port_file),
                "--default-model",
                model,
                "--preload",
                model,
            ],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        while not (port_file.exists() and port_file.read_text()):
            if self.process.poll() is not None:
                raise RuntimeError("sidecar serve exited")
            time.sleep(0.1)
        self.address = f"127.0.0.1:{port_file.read_text()}"

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)
        self.dir.cleanup()


def run_sidecar(server: Server, path: pathlib.Path) -> dict:
    from sidecar_client import SidecarClient

    with SidecarClient(server.address) as client:
        client.wait_ready()
        started = time.perf_counter()
        transcript = client.transcribe(path)
        seconds = time.perf_counter() - started
    return {"seconds": seconds, "segments": len(transcript.segments), "peak_mib": peak_mib(server.process.pid)}


def round_trips(server: Server, count: int) -> dict:
    import numpy as np

    from sidecar.v1 import audio_pb2
    from sidecar_client import SidecarClient

    pcm = (np.zeros(8000, np.int16)).tobytes()  # 0.5 s of silence: VAD skips it, so this is overhead
    fmt = audio_pb2.AudioFormat(
        pcm=audio_pb2.PcmFormat(encoding=audio_pb2.AUDIO_ENCODING_PCM_S16LE, sample_rate_hertz=16_000, channel_count=1)
    )
    timings = {"ListModels": [], "TranscribeFile (0.5 s silence)": []}
    with SidecarClient(server.address) as client:
        client.transcribe(pcm, audio_format=fmt)  # warm up
        for _ in range(count):
            t = time.perf_counter()
            client.list_models()
            timings["ListModels"].append(time.perf_counter() - t)
            t = time.perf_counter()
            client.transcribe(pcm, audio_format=fmt)
            timings["TranscribeFile (0.5 s silence)"].append(time.perf_counter() - t)
    return {
        name: (statistics.median(v) * 1000, sorted(v)[int(0.99 * (len(v) - 1))] * 1000) for name, v in timings.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--model", default="tiny.en")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--round-trips", type=int, default=100)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with tempfile.TemporaryDirectory() as tmp:
        path = pathlib.Path(tmp) / "long.flac"
        duration = make_long_clip(args.minutes, path)
        print(f"clip: {duration / 60:.1f} min, model {args.model}, int8 on CPU, {os.cpu_count()} cores")
        direct, sidecar = [], []
        for _ in range(args.repeats):
            direct.append(run_direct(path, args.model))
            server = Server(args.model)
            try:
                sidecar.append(run_sidecar(server, path))
            finally:
                server.close()
        server = Server(args.model)
        try:
            latencies = round_trips(server, args.round_trips)
        finally:
            server.close()
    d = min(r["seconds"] for r in direct)
    s = min(r["seconds"] for r in sidecar)
    print(f"{'':24} {'best s':>8} {'RTF':>7} {'peak MiB':>9} {'segments':>9}")
    for name, runs, best in (("faster-whisper direct", direct, d), ("through the sidecar", sidecar, s)):
        print(
            f"{name:24} {best:8.2f} {best / duration:7.4f} {max(r['peak_mib'] for r in runs):9.0f} "
            f"{runs[0]['segments']:9d}"
        )
    print(
        f"time ratio sidecar/direct: {s / d:.3f} (goal <= 1.03); all runs: "
        f"direct {[round(r['seconds'], 2) for r in direct]}, sidecar {[round(r['seconds'], 2) for r in sidecar]}"
    )
    for name, (p50, p99) in latencies.items():
        print(f"round trip {name}: p50 {p50:.1f} ms, p99 {p99:.1f} ms")


if __name__ == "__main__":
    main()

"""Cue generation through the sidecar against transformers' own MusicgenForConditionalGeneration.generate.

A tiny random MusicGen (the test suite's: 4 codebooks, 50 frames per second, 16 kHz) is saved
to a temporary directory, or `--model` names a real one (a directory, or "musicgen-small" in
the Hugging Face cache). For each duration, both sides generate the same cue (same prompt,
seed and sampling settings, so the same audio): the library's `generate` call returns the
whole cue at once, so its time to first audio is its total time; the sidecar streams
GenerateCue through SidecarClient from an in-process server (model loaded by a warm-up call),
and the time to first audio is when the first chunk reaches the client. Prints time to first
audio, real-time factor (wall time / audio time), CPU seconds per audio second (the whole
process: on a shared machine wall time mostly measures the neighbours) and the
sidecar/library ratios, each the median of --repeat runs, taken alternately.

    .venv/bin/python bench/cues.py [--seconds 2 5 10] [--repeat 3] [--model DIR] [--threads 1]
"""

from __future__ import annotations

import argparse
import pathlib
import statistics
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "plugins"))

PROMPT = "calm piano bed with soft strings"
SEED = 7


def library_run(engine, options) -> tuple[float, float, float]:
    """(first audio, total, CPU) seconds for the plain library call: the same inputs and sampling."""
    import torch

    plan = engine.plan(options, None)
    started, cpu = time.perf_counter(), time.process_time()
    torch.manual_seed(options.seed)
    with torch.inference_mode():
        engine.model.generate(**engine.inputs(options, None), **engine.sampling(options, plan))
    total = time.perf_counter() - started
    return total, total, time.process_time() - cpu


def sidecar_run(client, model: str, seconds: float) -> tuple[float, float, float, float]:
    """(first audio, total, CPU, audio) seconds for GenerateCue as a client sees it."""
    from sidecar.v1 import cues_pb2

    settings = cues_pb2.CueSettings(model=model, prompt=PROMPT, seed=SEED)
    settings.audio_duration.FromNanoseconds(round(seconds * 1e9))
    started, cpu = time.perf_counter(), time.process_time()
    first = None
    audio = 0.0
    for response in client.generate_cue(settings):
        if response.WhichOneof("event") == "audio":
            first = first if first is not None else time.perf_counter() - started
        elif response.WhichOneof("event") == "summary":
            audio = response.summary.audio_duration.seconds + response.summary.audio_duration.nanos / 1e9
    return first, time.perf_counter() - started, time.process_time() - cpu, audio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, nargs="+", default=[2.0, 5.0, 10.0])
    parser.add_argument("--model", help="a MusicGen directory or alias (default: a tiny random model)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per duration and side (default 3)")
    args = parser.parse_args()

    from sidecar.config import ServerConfig
    from sidecar.engines import musicgen
    from sidecar.server.inprocess import InProcessSidecar
    from sidecar_client import SidecarClient
    from tests.music_fixtures import build_tiny_musicgen

    with tempfile.TemporaryDirectory() as tmp:
        model = args.model or str(build_tiny_musicgen(pathlib.Path(tmp) / "tiny-musicgen"))
        settings = ServerConfig.model_settings_for(cpu_threads=args.threads)
        engine, device, _ = musicgen.MODEL_FAMILY.load_alone(model, settings)
        with InProcessSidecar(cpu_threads=args.threads) as server, SidecarClient(server.address) as client:
            client.wait_ready(timeout=30)
            sidecar_run(client, model, 0.5)  # loads the model in the server
            library_run(engine, musicgen.CueOptions(prompt=PROMPT, duration=0.5, seed=SEED))
            print(f"model {model} on {device}, {args.threads} thread(s)")
            print(
                f"{'audio s':>7} {'lib first':>9} {'lib RTF':>8} {'lib CPU':>8} {'sc first':>9} "
                f"{'sc RTF':>7} {'sc CPU':>7} {'first x':>8} {'RTF x':>6} {'CPU x':>6}"
            )
            for seconds in args.seconds:
                options = musicgen.CueOptions(prompt=PROMPT, duration=seconds, seed=SEED)
                lib, side = [], []
                for _ in range(args.repeat):
                    lib.append(library_run(engine, options))
                    side.append(sidecar_run(client, model, seconds))
                lib_first, lib_total, lib_cpu = (statistics.median(v) for v in zip(*lib))
                side_first, side_total, side_cpu, audio = (statistics.median(v) for v in zip(*side))
                print(
                    f"{audio:7.1f} {lib_first:9.2f} {lib_total / audio:8.3f} {lib_cpu / audio:8.3f} "
                    f"{side_first:9.2f} {side_total / audio:7.3f} {side_cpu / audio:7.3f} "
                    f"{side_first / lib_first:8.2f} {side_total / lib_total:6.2f} {side_cpu / lib_cpu:6.2f}"
                )


if __name__ == "__main__":
    main()

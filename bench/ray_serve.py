"""Ray Serve against the plain sidecar: the same 5-minute file job and the same live stream
through `sidecar serve` and through `sidecar serve --ray` (a local single-node Ray), one after
the other in the same run. Prints the file job's time on each (median of --runs after a
warm-up) and their ratio (goal: at most 1.10), the share of words that differ, and the
live stream's final-caption lag p50/p90 on each (goal through Ray: p50 under 2 s). Then, on
the Ray one, a folder captioned both ways a batch reaches a cluster: `sidecar subtitle FOLDER
--jobs 2 --server PROXY` (calls from here) and the same with `--ray auto` (each file a Ray
task), the faster of two runs of each, and their ratio.

Ray runs inside a loopback-only network namespace (it replaces 127.0.0.1 with the host's
address, and Serve's proxy listens on every interface): the script re-runs itself under
`unshare --net`, which needs root or user namespaces.

    .venv/bin/python bench/ray_serve.py
    .venv/bin/python bench/ray_serve.py --runs 1 --live-seconds 30   # a shorter look
"""

from __future__ import annotations

import argparse
import os
import pathlib
import subprocess
import sys
import tempfile
import time

from live_load import LiveStream, percentile, sidecar_process, speech

from sidecar_client import SidecarClient
from tests.conftest import word_error_rate
from tests.ray_fixtures import TOKEN, in_loopback_namespace
from tests.streaming_fixtures import write_wav

INSIDE = "SIDECAR_BENCH_IN_NAMESPACE"


def file_job_seconds(address: str, path, runs: int) -> tuple[float, str]:
    """The median time of `runs` transcriptions of `path` after one warm-up, and the words."""
    times = []
    with SidecarClient(address) as client:
        for run in range(runs + 1):
            began = time.perf_counter()
            transcript = client.transcribe(path)
            if run:
                times.append(time.perf_counter() - began)
    return sorted(times)[len(times) // 2], " ".join(s.text.strip() for s in transcript.segments)


def folder_seconds(address: str, folder: pathlib.Path, *flags: str) -> float:
    """Wall time of `sidecar subtitle FOLDER --jobs 2` through the sidecar at `address`."""
    command = [sys.executable, "-m", "sidecar.cli.main", "subtitle", str(folder), "--jobs", "2", "-q", "--force"]
    began = time.perf_counter()
    done = subprocess.run([*command, "--server", address, *flags], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"the folder failed ({' '.join(flags) or 'calls'}): {done.stderr[-2000:]}")
    return time.perf_counter() - began


def live_lags(address: str, seconds: float) -> list[float]:
    stream = LiveStream(address, speech(seconds, offset=30.0))
    stream.start()
    stream.join()
    if stream.error:
        raise SystemExit(f"the live stream failed: {stream.error}")
    return [lag for _, lag in stream.lags]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--file-seconds", type=float, default=300.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--live-seconds", type=float, default=120.0)
    parser.add_argument("--folder-files", type=int, default=4, help="files of 60 s in the folder")
    args = parser.parse_args()
    if not os.environ.get(INSIDE):
        command = in_loopback_namespace([sys.executable, *sys.argv])
        return subprocess.run(command, env={**os.environ, INSIDE: "1", "RAY_USAGE_STATS_ENABLED": "0"}).returncode
    os.environ["SIDECAR_TOKEN"] = TOKEN  # both servers and every client: --ray needs one
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = write_wav(pathlib.Path(tmp) / "speech.wav", speech(args.file_seconds))
        for name, flags in (("direct", ()), ("ray", ("--ray",))):
            with sidecar_process(*flags) as (address, _):
                seconds, words = file_job_seconds(address, path, args.runs)
                lags = live_lags(address, args.live_seconds)
                if flags and args.folder_files:
                    folder = pathlib.Path(tmp) / "folder"
                    folder.mkdir()
                    for i in range(args.folder_files):
                        write_wav(folder / f"talk{i}.wav", speech(60.0, offset=60.0 * i))
                    calls, tasks = [], []
                    for _ in range(2):
                        calls.append(folder_seconds(address, folder))
                        tasks.append(folder_seconds(address, folder, "--ray", "auto"))
                    print(
                        f"folder of {args.folder_files} x 60 s, --jobs 2: calls from here {min(calls):.2f} s, "
                        f"Ray tasks {min(tasks):.2f} s, ratio {min(tasks) / min(calls):.3f}",
                        flush=True,
                    )
            results[name] = (seconds, words, lags)
            print(
                f"{name:>6}: {args.file_seconds:g} s file in {seconds:.2f} s (RTF {seconds / args.file_seconds:.3f}); "
                f"live final lag p50 {percentile(lags, 50):.2f} s, p90 {percentile(lags, 90):.2f} s "
                f"({len(lags)} words)",
                flush=True,
            )
    ratio = results["ray"][0] / results["direct"][0]
    differ = word_error_rate(results["direct"][1], results["ray"][1])
    print(f"ray / direct file job: {ratio:.3f} (goal <= 1.10); words that differ: {differ:.2%}")
    print(f"through Ray, live final lag p50 {percentile(results['ray'][2], 50):.2f} s (goal < 2 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

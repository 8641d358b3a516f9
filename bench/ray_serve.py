"""Ray Serve against the plain sidecar: the same 5-minute file job and the same live stream
through `sidecar serve` and through `sidecar serve --ray` (a local single-node Ray), one after
the other in the same run. Prints the file job's time on each (median of --runs after a
warm-up) and their ratio (goal: at most 1.10), whether both gave the same words, and the
live stream's final-caption lag p50/p90 on each (goal through Ray: p50 under 2 s).

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
            results[name] = (seconds, words, lags)
            print(
                f"{name:>6}: {args.file_seconds:g} s file in {seconds:.2f} s (RTF {seconds / args.file_seconds:.3f}); "
                f"live final lag p50 {percentile(lags, 50):.2f} s, p90 {percentile(lags, 90):.2f} s "
                f"({len(lags)} words)",
                flush=True,
            )
    ratio = results["ray"][0] / results["direct"][0]
    same = results["ray"][1] == results["direct"][1]
    print(f"ray / direct file job: {ratio:.3f} (goal <= 1.10); same words: {same}")
    print(f"through Ray, live final lag p50 {percentile(results['ray'][2], 50):.2f} s (goal < 2 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

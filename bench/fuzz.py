"""Longer property-based fuzzing of every v1 RPC against a `sidecar serve` process.

Sends hypothesis-generated requests (tests/fuzzing.py: hostile numbers, strings, enums, nested
messages, audio or not, config late or twice) to a real server on loopback with the operator's
defaults, and prints, per RPC and in total: examples tried, statuses seen, INTERNAL or UNKNOWN
answers (goal 0), server crashes (goal 0), and the server's peak resident memory (VmHWM).

    .venv/bin/python bench/fuzz.py [--examples 200] [--seed 1]
"""

from __future__ import annotations

import argparse
import collections
import pathlib
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import grpc  # noqa: E402
from hypothesis import HealthCheck, given, seed, settings  # noqa: E402

from tests import fuzzing  # noqa: E402
from tests.harness import SIDECAR, free_port  # noqa: E402


def peak_rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def start_server(port: int, directory: pathlib.Path) -> subprocess.Popen:
    """`sidecar serve` with the operator's defaults; its log goes to a file (a pipe nobody
    reads would fill and stop it)."""
    ready = directory / "ready"
    log = open(directory / "server.log", "w")  # noqa: SIM115 - the server's, for its lifetime
    process = subprocess.Popen(
        [*SIDECAR, "serve", "--port", str(port), "--preload", "tiny.en", "--ready-file", str(ready),
         "--max-audio-seconds", "30"],
        stdout=subprocess.DEVNULL,
        stderr=log,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while not (ready.exists() and ready.read_text()):
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"sidecar serve did not start: {(directory / 'server.log').read_text()[-2000:]}")
        time.sleep(0.1)
    return process


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=200, help="examples per RPC")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        process = start_server(port, pathlib.Path(tmp))
        totals = collections.Counter()
        unnamed, started = [], time.perf_counter()
        try:
            with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
                for rpc in fuzzing.rpcs():
                    codes = collections.Counter()

                    @seed(args.seed)
                    @settings(
                        max_examples=args.examples,
                        deadline=None,
                        database=None,
                        suppress_health_check=list(HealthCheck),
                    )
                    @given(fuzzing.requests(rpc))
                    def run(sent):
                        code = fuzzing.call(channel, rpc, sent)  # noqa: B023 - run() is called right here
                        codes[code.name] += 1  # noqa: B023
                        if code in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN):
                            unnamed.append((rpc.name, code.name, sent))  # noqa: B023

                    run()
                    totals.update(codes)
                    alive = "alive" if process.poll() is None else "CRASHED"
                    print(
                        f"{rpc.name:20} {sum(codes.values()):5} examples  {dict(codes)}  server {alive}, "
                        f"peak RSS {peak_rss_mib(process.pid):.0f} MiB",
                        flush=True,
                    )
                    if process.poll() is not None:
                        break
            crashed = process.poll() is not None
            peak = float("nan") if crashed else peak_rss_mib(process.pid)
        finally:
            process.terminate()
            process.wait(timeout=30)
    print(
        f"total: {sum(totals.values())} examples in {time.perf_counter() - started:.0f} s, "
        f"INTERNAL/UNKNOWN answers {len(unnamed)}, server crashes {int(crashed)}, "
        f"server peak RSS {peak:.0f} MiB"
    )
    for name, code, sent in unnamed[:10]:
        print(f"  {name}: {code} for {sent!r:.300}")
    return 1 if unnamed or crashed else 0


if __name__ == "__main__":
    raise SystemExit(main())

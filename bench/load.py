"""Load: how many live caption streams one sidecar keeps within the lag goal, beside file jobs.

Starts a `sidecar serve` (tiny.en, CPU), then for each level N opens N live streams of real
speech (the paced long-form reading, each from another point) at real-time pace through the
project's client, with file jobs running beside them (demo-1089.flac transcribed again and
again, interactive, one at a time) and then without. For each level it prints the final-caption
lag p50/p90 over every final word (seconds from the word's end being sent to its final
arriving), the server's memory per stream, and the file jobs' throughput (audio seconds per
second). Capacity is the largest N with p50 < 2 s and p90 < 3 s.

Then beyond capacity: a server started with --max-live-streams CAPACITY holds CAPACITY streams
and file jobs, and one more stream is opened; it must be refused with RESOURCE_EXHAUSTED and
a retry delay, and the others must keep their lag.

    .venv/bin/python bench/load.py                     # levels 1,2,3,4; 45 s each
    .venv/bin/python bench/load.py --levels 1,2,4,6 --seconds 60
"""

from __future__ import annotations

import argparse
import sys
import threading
import time

from live_load import FileJobs, LiveStream, percentile, process_stats, sidecar_process, speech

LAG_P50_GOAL, LAG_P90_GOAL = 2.0, 3.0
STAGGER_SECONDS = 0.7  # streams join one after another, as people press "start"


def run_level(address: str, pid: int, streams: int, seconds: float, file_jobs: bool) -> dict:
    jobs = FileJobs(address) if file_jobs else None
    if jobs:
        jobs.start()
        time.sleep(2.0)  # memory per stream counts from the file jobs' own working memory
    before = process_stats(pid)["rss_mib"]
    live = [LiveStream(address, speech(seconds, offset=37.0 * i)) for i in range(streams)]
    peak = before
    started = time.perf_counter()
    for stream in live:
        stream.start()
        time.sleep(STAGGER_SECONDS)
    while any(s.is_alive() for s in live):
        peak = max(peak, process_stats(pid)["rss_mib"])
        time.sleep(0.5)
    wall = time.perf_counter() - started
    if jobs:
        jobs.stop.set()
        jobs.join()
    lags = [lag for s in live for _, lag in s.lags]
    errors = [str(s.error) for s in live if s.error]
    return {
        "streams": streams,
        "p50": percentile(lags, 50),
        "p90": percentile(lags, 90),
        "words": len(lags),
        "mib_per_stream": (peak - before) / streams,
        "file_rate": jobs.audio_seconds / wall if jobs else None,
        "file_job_p50": percentile(jobs.durations, 50) if jobs else None,
        "errors": errors + (jobs.errors if jobs else []),
    }


def within_goal(level: dict) -> bool:
    return not level["errors"] and level["p50"] < LAG_P50_GOAL and level["p90"] < LAG_P90_GOAL


def print_level(level: dict) -> None:
    files = (
        f"files {level['file_rate']:.1f} audio s/s (job p50 {level['file_job_p50']:.1f} s)"
        if level["file_rate"] is not None
        else "no file jobs"
    )
    verdict = "ok" if within_goal(level) else "OVER"
    print(
        f"  {level['streams']} stream(s): final lag p50 {level['p50']:.2f} s, p90 {level['p90']:.2f} s "
        f"({level['words']} words), {level['mib_per_stream']:.0f} MiB per stream, {files}  {verdict}"
        + (f"  errors: {level['errors'][:2]}" if level["errors"] else ""),
        flush=True,
    )


def beyond_capacity(capacity: int, seconds: float) -> dict:
    """CAPACITY streams and file jobs on a server limited to CAPACITY; one more is refused."""
    with sidecar_process("--max-live-streams", str(capacity)) as (address, _):
        jobs = FileJobs(address)
        jobs.start()
        live = [LiveStream(address, speech(seconds, offset=37.0 * i)) for i in range(capacity)]
        for stream in live:
            stream.start()
            time.sleep(STAGGER_SECONDS)
        extra = LiveStream(address, speech(5.0))
        refused_after = time.perf_counter()
        extra.start()
        extra.join(30)
        refused_after = time.perf_counter() - refused_after
        for stream in live:
            stream.join()
        jobs.stop.set()
        jobs.join()
    lags = [lag for s in live for _, lag in s.lags]
    return {
        "refusal": extra.error,
        "refused_in": refused_after,
        "p50": percentile(lags, 50),
        "p90": percentile(lags, 90),
        "errors": [str(s.error) for s in live if s.error],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--levels", default="1,2,3,4", help="numbers of concurrent live streams to try")
    parser.add_argument("--seconds", type=float, default=45.0, help="audio each stream sends at each level")
    args = parser.parse_args()
    levels = [int(n) for n in args.levels.split(",")]
    capacity = {}
    with sidecar_process("--max-live-streams", str(max(levels))) as (address, pid):
        print(f"sidecar pid {pid}: {process_stats(pid)['rss_mib']:.0f} MiB with tiny.en loaded", flush=True)
        warm_up = LiveStream(address, speech(8.0, offset=100.0))  # first-use allocations
        warm_up.run()
        print(f"after a first stream: {process_stats(pid)['rss_mib']:.0f} MiB", flush=True)
        for file_jobs in (True, False):
            print("with file jobs beside the streams:" if file_jobs else "without file jobs:", flush=True)
            capacity[file_jobs] = 0
            for n in levels:
                level = run_level(address, pid, n, args.seconds, file_jobs)
                print_level(level)
                if not within_goal(level):
                    break
                capacity[file_jobs] = n
    print(
        f"capacity (final lag p50 < {LAG_P50_GOAL:g} s and p90 < {LAG_P90_GOAL:g} s): "
        f"{capacity[True]} stream(s) beside file jobs, {capacity[False]} without",
        flush=True,
    )
    limit = max(1, capacity[True])
    over = beyond_capacity(limit, args.seconds)
    refusal = over["refusal"]
    print(
        f"beyond capacity (--max-live-streams {limit}, file jobs running): stream {limit + 1} got "
        + (
            f"{refusal.code.name} in {over['refused_in']:.2f} s, retry in {refusal.retry_delay:g} s"
            if refusal is not None
            else "NO refusal"
        )
        + f"; the {limit} others kept final lag p50 {over['p50']:.2f} s, p90 {over['p90']:.2f} s"
        + (f"; errors: {over['errors']}" if over["errors"] else ""),
        flush=True,
    )
    refused_right = refusal is not None and refusal.code.name == "RESOURCE_EXHAUSTED" and refusal.retry_delay
    return 0 if refused_right and over["p50"] < LAG_P50_GOAL and over["p90"] < LAG_P90_GOAL else 1


if __name__ == "__main__":
    threading.excepthook = lambda hook: print(f"thread failed: {hook.exc_value!r}", file=sys.stderr)
    sys.exit(main())

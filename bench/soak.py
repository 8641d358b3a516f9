"""Soak: one live caption stream for 30 minutes of real speech, with a file job every minute.

A `sidecar serve` (tiny.en, CPU) captions the paced long-form reading looped at real-time pace
through the project's client, while demo-1089.flac is transcribed once a minute beside it.
Every 10 s the server's resident memory, threads and open file descriptors are read from
/proc. Prints, per 5 minutes, the final-caption lag p50/p99 and the resources; then the RSS
slope (MiB per hour, least squares after the first 2 minutes) and the range of threads and
descriptors. All must stay flat.

    .venv/bin/python bench/soak.py                  # 30 minutes
    .venv/bin/python bench/soak.py --minutes 5      # a shorter look
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from live_load import FileJobs, LiveStream, percentile, process_stats, sidecar_process, speech

SAMPLE_SECONDS = 10.0
WINDOW_MINUTES = 5.0
WARM_UP_MINUTES = 2.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--file-job-every", type=float, default=60.0, metavar="SECONDS")
    args = parser.parse_args()
    with sidecar_process() as (address, pid):
        stream = LiveStream(address, speech(args.minutes * 60))
        jobs = FileJobs(address, every=args.file_job_every)
        samples: list[tuple[float, dict]] = []
        started = time.perf_counter()
        stream.start()
        jobs.start()
        while stream.is_alive():
            samples.append((time.perf_counter() - started, process_stats(pid)))
            stream.join(SAMPLE_SECONDS)
        jobs.stop.set()
        jobs.join()
    if stream.error:
        print(f"the stream failed: {stream.error}")
        return 1
    lags = [(at - stream.started_at, lag) for at, lag in stream.lags]
    print(
        f"{args.minutes:g} min stream, {len(lags)} final words, {len(jobs.durations)} file jobs "
        f"({len(jobs.errors)} failed)"
    )
    windows = int(np.ceil(args.minutes / WINDOW_MINUTES))
    for w in range(windows):
        lo, hi = w * WINDOW_MINUTES * 60, (w + 1) * WINDOW_MINUTES * 60
        window_lags = [lag for at, lag in lags if lo <= at < hi]
        window_stats = [s for at, s in samples if lo <= at < hi]
        if not window_stats:
            continue
        print(
            f"  {lo / 60:4.0f}-{hi / 60:.0f} min: lag p50 {percentile(window_lags, 50):.2f} s, "
            f"p99 {percentile(window_lags, 99):.2f} s; RSS {window_stats[-1]['rss_mib']:.0f} MiB, "
            f"threads {window_stats[-1]['threads']}, fds {window_stats[-1]['fds']}"
        )
    settled = [(at, s) for at, s in samples if at >= WARM_UP_MINUTES * 60] or samples
    hours = np.array([at / 3600 for at, _ in settled])
    rss = np.array([s["rss_mib"] for _, s in settled])
    slope = float(np.polyfit(hours, rss, 1)[0]) if len(settled) > 2 else float("nan")
    threads = [s["threads"] for _, s in samples]
    fds = [s["fds"] for _, s in samples]
    print(
        f"RSS slope after {WARM_UP_MINUTES:g} min: {slope:+.1f} MiB/hour ({rss.min():.0f}-{rss.max():.0f} MiB); "
        f"threads {min(threads)}-{max(threads)}; open fds {min(fds)}-{max(fds)}; "
        f"lag over all: p50 {percentile([lag for _, lag in lags], 50):.2f} s, "
        f"p99 {percentile([lag for _, lag in lags], 99):.2f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

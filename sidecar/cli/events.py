"""`sidecar events`: mark laughter, applause, music, speech, silence... in a recording.

Writes an Audacity label track (.txt: File > Import > Labels) or JSON (.json); without -o the
labels go to standard output. The default model scores fixed AudioSet classes; with
`--model clap` any labels you give are scored zero-shot.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys

from sidecar.cli.connection import add_server_arguments, connect
from sidecar.cli.files import check_output, require_input, write_output
from sidecar.cli.progress import ProgressBar

FORMATS = (".txt", ".json")
EXAMPLES = """examples:
  sidecar events show.flac -o show-events.txt
  sidecar events show.flac --labels Laughter,Applause --threshold 0.2 -o marks.json
  sidecar events show.flac --model clap --labels "laughter,applause,crowd cheering,music"
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "events",
        help="mark sound events (laughter, applause, music...) as Audacity labels or JSON",
        description=__doc__,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("input", type=pathlib.Path, help="audio or video file, any format FFmpeg reads")
    p.add_argument(
        "-o",
        "--output",
        type=pathlib.Path,
        help="labels file: .txt (Audacity labels) or .json; default: labels on stdout",
    )
    p.add_argument(
        "--labels", default="", help="comma-separated labels: AudioSet class names, or anything with --model clap"
    )
    p.add_argument("--model", default="", help="ast-audioset (default), clap, or a model directory on the server")
    p.add_argument("--window", type=float, help="window length in seconds (default 2)")
    p.add_argument("--hop", type=float, help="hop between windows in seconds (default half the window)")
    p.add_argument("--threshold", type=float, help="smallest score that marks a window (default 0.3 AST, 0.5 CLAP)")
    p.add_argument("--min-region", type=float, help="drop regions shorter than this, in seconds (default 0)")
    p.add_argument("--merge-gap", type=float, help="join regions closer than this, in seconds (default 0.5)")
    p.add_argument("--force", action="store_true", help="overwrite an existing output file")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress or summary")
    add_server_arguments(p)
    return p


def run(args: argparse.Namespace) -> int:
    plan(args)
    from sidecar_client import SidecarError

    try:
        with connect(args) as client:
            info, regions, summary = detect(client, args)
    except SidecarError as exc:
        print(f"sidecar events: {exc}", file=sys.stderr)
        return 1
    regions.sort(key=lambda r: (r["start"], r["label"]))
    text = (
        json.dumps({"model": info.model, "labels": list(info.labels), "regions": regions}, indent=2) + "\n"
        if args.output is not None and args.output.suffix.lower() == ".json"
        else audacity_labels(regions)
    )
    if args.output is None:
        sys.stdout.write(text)
    else:
        write_output(args.output, text, force=args.force)
    if not args.quiet:
        print(
            f"{args.input}: {len(regions)} region(s) from {summary.window_count} windows "
            f"({summary.speed_factor:.1f}x real time)",
            file=sys.stderr,
        )
    return 0


def plan(args: argparse.Namespace) -> None:
    require_input(args.input)
    if args.output is not None:
        check_output(args.output, inputs=[args.input], force=args.force, suffixes=FORMATS)


def options_for(args: argparse.Namespace):
    from sidecar.v1 import events_pb2

    options = events_pb2.EventDetectionOptions(
        model=args.model, labels=[label.strip() for label in args.labels.split(",") if label.strip()]
    )
    for flag, field in (
        ("window", "window_duration"),
        ("hop", "hop_duration"),
        ("min_region", "min_region_duration"),
        ("merge_gap", "merge_gap_duration"),
    ):
        if getattr(args, flag) is not None:
            getattr(options, field).FromNanoseconds(round(getattr(args, flag) * 1e9))
    if args.threshold is not None:
        options.threshold = args.threshold
    return options


def detect(client, args: argparse.Namespace):
    from sidecar_common.durations import seconds

    call = client.detect_events(args.input, options=options_for(args))
    bar = ProgressBar(args.input.name, enabled=False if args.quiet else None)
    info = summary = None
    regions = []
    try:
        for response in call:
            kind = response.WhichOneof("event")
            if kind == "info":
                info = response.info
            elif kind == "region":
                r = response.region
                regions.append(
                    {
                        "start": seconds(r.time_range.start_offset),
                        "end": seconds(r.time_range.end_offset),
                        "label": r.label,
                        "score": round(r.score, 4),
                        "mean_score": round(r.mean_score, 4),
                    }
                )
            elif kind == "progress":
                bar.update(response.progress.fraction_done, response.progress.stage)
            elif kind == "summary":
                summary = response.summary
    finally:
        call.cancel()
        bar.close()
    return info, regions, summary


def audacity_labels(regions: list[dict]) -> str:
    from sidecar_common import subtitles

    return subtitles.format_audacity_labels(
        subtitles.Cue(r["start"], r["end"], (f"{r['label']} ({r['score']:.2f})",)) for r in regions
    )

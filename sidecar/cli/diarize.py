"""`sidecar diarize`: who spoke when, as RTTM and one Audacity label file per speaker.

Also holds the speaker flags that `sidecar subtitle --diarize` shares.
"""

from __future__ import annotations

import argparse
import pathlib
import sys

from sidecar.cli.connection import add_server_arguments, connect
from sidecar.cli.files import UsageError, check_output, require_input, write_output
from sidecar.cli.progress import ProgressBar
from sidecar_common import rttm

BACKENDS = ("offline", "pyannote")
LABEL_PREFIX = "SPEAKER_"  # the server numbers speakers SPEAKER_1, SPEAKER_2, ...


def add_speaker_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", choices=BACKENDS, default="offline", help="offline (default; no network) or pyannote")
    p.add_argument("--pipeline", help="pyannote only: pipeline directory on the server, or hub id")
    p.add_argument("--speakers", type=int, default=0, metavar="N", help="exactly N speakers")
    p.add_argument("--min-speakers", type=int, default=0, metavar="N", help="at least N speakers")
    p.add_argument("--max-speakers", type=int, default=0, metavar="N", help="at most N speakers")
    p.add_argument(
        "--speaker-names", metavar="NAMES", help='names for speakers 1, 2, ... in order of first appearance: "Ana,Ben"'
    )
    p.add_argument(
        "--speaker-ref",
        action="append",
        default=[],
        metavar="NAME=FILE",
        help="a person to name, from a recording of them alone (3 s or more; repeatable)",
    )
    p.add_argument(
        "--known-speakers",
        action="store_true",
        help="name the speakers enrolled with `sidecar speakers add` who are heard",
    )
    p.add_argument(
        "--name-threshold",
        type=float,
        default=0.0,
        metavar="S",
        help="how alike (0-1) a voice and a reference must be to take its name (default: the server's)",
    )


def diarization_options(args: argparse.Namespace):
    """The DiarizationOptions message for the speaker flags (the server checks the ranges)."""
    from sidecar.v1 import diarization_pb2

    if args.speakers and (args.min_speakers or args.max_speakers):
        raise UsageError("give --speakers, or --min-speakers/--max-speakers, not both")
    if args.pipeline and args.backend != "pyannote":
        raise UsageError("--pipeline needs --backend pyannote")
    backend = {
        "offline": diarization_pb2.DIARIZATION_BACKEND_OFFLINE,
        "pyannote": diarization_pb2.DIARIZATION_BACKEND_PYANNOTE,
    }[args.backend]
    return diarization_pb2.DiarizationOptions(
        backend=backend,
        model=args.pipeline or "",
        speaker_count=args.speakers,
        min_speaker_count=args.min_speakers,
        max_speaker_count=args.max_speakers,
        name_enrolled_speakers=args.known_speakers,
        speaker_references=[reference(spec) for spec in args.speaker_ref],
        name_threshold=args.name_threshold,
    )


def reference(spec: str):
    """A SpeakerReference from NAME=FILE."""
    from sidecar_client import speaker_reference

    name, _, path = spec.partition("=")
    if not name.strip() or not path:
        raise UsageError(f"--speaker-ref wants NAME=FILE, not {spec!r}")
    require_input(pathlib.Path(path))
    return speaker_reference(name.strip(), path)


def speaker_names(names: str | None, default_prefix: str | None = None) -> dict[str, str]:
    """SPEAKER_n -> display name from "Ana,Ben" (speaker 1 is Ana); speakers past the list
    keep their label, or `default_prefix` + n when one is given ("Speaker " gives "Speaker 3")."""
    mapping: dict[str, str] = {}
    if default_prefix is not None:
        mapping = {f"{LABEL_PREFIX}{n}": f"{default_prefix}{n}" for n in range(1, 65)}
    if names is None:
        return mapping
    given = [name.strip() for name in names.split(",")]
    if not all(given):
        raise UsageError(f"--speaker-names has an empty name: {names!r}")
    mapping.update({f"{LABEL_PREFIX}{n}": name for n, name in enumerate(given, start=1)})
    return mapping


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("diarize", help="find who spoke when: RTTM and Audacity labels")
    p.add_argument("input", type=pathlib.Path, help="any audio or video file FFmpeg reads")
    p.add_argument("-o", "--output", type=pathlib.Path, help="RTTM file (default INPUT.rttm)")
    p.add_argument(
        "--labels-dir",
        type=pathlib.Path,
        metavar="DIR",
        help="also write one Audacity label file per speaker, INPUT.<speaker>.txt, here",
    )
    add_speaker_arguments(p)
    p.add_argument("--force", action="store_true", help="overwrite existing output files")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
    add_server_arguments(p)
    return p


def run(args: argparse.Namespace) -> int:
    from sidecar_client import SidecarError

    require_input(args.input)
    output = args.output or args.input.with_suffix(".rttm")
    check_output(output, inputs=[args.input], force=args.force, suffixes=[".rttm"])
    options = diarization_options(args)
    names = speaker_names(args.speaker_names)
    bar = ProgressBar(args.input.name, enabled=False if args.quiet else None)
    try:
        with connect(args) as client:
            result = client.diarize(
                args.input, options=options, on_progress=lambda p: bar.update(p.fraction_done, p.stage)
            )
    except SidecarError as exc:
        bar.close()
        print(f"sidecar diarize: {args.input}: {exc}", file=sys.stderr)
        return 1
    bar.close()
    turns = [turn_of(t) for t in result.turns]
    tracks = {}
    if args.labels_dir is not None:
        tracks = {
            args.labels_dir / f"{args.input.stem}.{label_file_name(name)}.txt": text
            for name, text in rttm.audacity_labels_by_speaker(turns, names).items()
        }
        for path in tracks:
            check_output(path, inputs=[args.input], force=args.force)
    write_output(output, rttm.format_rttm(turns, args.input.stem, names), force=args.force)
    for path, text in tracks.items():
        write_output(path, text, force=args.force)
    if not args.quiet:
        summary = result.summary
        print(
            f"{output}: {summary.speaker_count} speaker(s), {summary.turn_count} turns "
            f"({summary.model} on {summary.device}, {summary.speed_factor:.1f}x real time)",
            file=sys.stderr,
        )
    return 0


def turn_of(t) -> rttm.Turn:
    from sidecar_common.durations import span

    return rttm.Turn(*span(t.time_range), t.speaker_label, t.confidence if t.HasField("confidence") else None)


def label_file_name(name: str) -> str:
    """A speaker name as a safe file-name part."""
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name) or "speaker"

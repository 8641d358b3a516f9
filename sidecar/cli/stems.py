"""`sidecar stems`: split music into stems (vocals, drums, bass, ...), one WAV or FLAC each."""

from __future__ import annotations

import argparse
import contextlib
import pathlib
import sys

from sidecar import errors
from sidecar.cli.connection import add_server_arguments, connect
from sidecar.cli.files import UsageError, check_output, require_input
from sidecar.cli.progress import ProgressBar
from sidecar.media import writers

FORMATS = ("wav", "flac")


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("stems", help="split music into stems (Demucs)")
    p.add_argument("input", type=pathlib.Path, help="any audio or video file FFmpeg reads")
    p.add_argument(
        "-o",
        "--output-dir",
        type=pathlib.Path,
        required=True,
        metavar="DIR",
        help="where to write INPUT-NAME.STEM.wav (or .flac) per stem, at the input's sample rate; created if missing",
    )
    p.add_argument(
        "--stems", type=_names, default=(), metavar="A,B", help="only these stems, e.g. vocals,drums (default: all)"
    )
    p.add_argument("--two-stems", metavar="STEM", help="write STEM and no_STEM (everything else), e.g. vocals")
    p.add_argument(
        "--model", default="", help="htdemucs (default), htdemucs_ft, htdemucs_6s, mdx_extra, or a model in --repo"
    )
    p.add_argument("--repo", type=pathlib.Path, help="a Demucs model repository directory (NAME.th / NAME.yaml files)")
    p.add_argument(
        "--shifts", type=int, default=0, help="average N randomly shifted passes (N times slower, slightly better)"
    )
    p.add_argument("--overlap", type=float, default=None, help="window overlap, 0..0.9 (default 0.25)")
    p.add_argument(
        "--segment", type=float, default=None, metavar="SECONDS", help="window length (default: the model's)"
    )
    p.add_argument(
        "--sample-rate",
        type=int,
        default=0,
        metavar="HZ",
        help="the stems' sample rate, 8000..192000 (default: the input's)",
    )
    p.add_argument("--format", choices=FORMATS, default="wav", help="wav (32-bit float, default) or flac (24-bit)")
    p.add_argument("--force", action="store_true", help="overwrite existing stem files")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    add_server_arguments(p)
    return p


def _names(text: str) -> tuple[str, ...]:
    return tuple(n.strip() for n in text.split(",") if n.strip())


def stem_path(args: argparse.Namespace, stem: str) -> pathlib.Path:
    return args.output_dir / f"{args.input.stem}.{stem}.{args.format}"


def check_paths(args: argparse.Namespace) -> None:
    """Refuses up front what can be known before the server names the stems."""
    require_input(args.input)
    if args.output_dir.exists() and not args.output_dir.is_dir():
        raise UsageError(f"{args.output_dir}: not a directory")
    known = list(args.stems) or ([args.two_stems, f"no_{args.two_stems}"] if args.two_stems else [])
    for stem in known:
        check_output(stem_path(args, stem), inputs=[args.input], force=args.force)


def options_from_args(args: argparse.Namespace):
    from sidecar.server import convert
    from sidecar.v1 import separation_pb2

    options = separation_pb2.SeparationOptions(
        model=args.model,
        model_repository=str(args.repo.resolve()) if args.repo else "",
        stems=args.stems,
        two_stems=args.two_stems or "",
        shift_count=args.shifts,
        output_sample_rate_hertz=args.sample_rate,
    )
    if args.overlap is not None:
        options.overlap = args.overlap
    if args.segment is not None:
        options.segment_duration.CopyFrom(convert.duration(args.segment))
    return options


class StemFiles:
    """One AudioWriter per stem, opened when the server names the stems; all or none appear."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.writers: dict[str, writers.AudioWriter] = {}

    def open(self, info) -> None:
        self.args.output_dir.mkdir(parents=True, exist_ok=True)
        fmt = info.output_format
        for stem in info.stems:
            path = stem_path(self.args, stem)
            check_output(path, inputs=[self.args.input], force=self.args.force)
            self.writers[stem] = writers.AudioWriter(
                path, fmt.sample_rate_hertz, fmt.channel_count, overwrite=self.args.force
            )

    def write(self, stem: str, chunk) -> None:
        from sidecar.media import audio as media
        from sidecar.server import convert

        self.writers[stem].write(media.decode_pcm(chunk.data, convert.pcm_spec(chunk.format)).samples)

    def commit(self) -> list[writers.AudioWriter]:
        writers.commit_together(list(self.writers.values()))
        return list(self.writers.values())

    def abort(self) -> None:
        for writer in self.writers.values():
            with contextlib.suppress(OSError):
                writer.abort()


def run(args: argparse.Namespace) -> int:
    check_paths(args)
    from sidecar_client import SidecarError

    bar = ProgressBar(args.input.name, enabled=False if args.quiet else None)
    files = StemFiles(args)
    summaries = []
    try:
        with connect(args) as client:
            for stem, chunk in client.separate(
                args.input,
                options=options_from_args(args),
                on_progress=lambda p: bar.update(p.fraction_done, p.stage),
                on_info=files.open,
                on_summary=summaries.append,
            ):
                files.write(stem, chunk)
        written = files.commit()
    except (SidecarError, errors.SidecarError, FileExistsError) as exc:
        files.abort()
        bar.close()
        print(f"sidecar stems: {args.input}: {exc}", file=sys.stderr)
        return 1
    except BaseException:
        files.abort()
        bar.close()
        raise
    bar.close()
    if not args.quiet and summaries:
        speed = summaries[0].speed_factor
        for writer in written:
            print(
                f"{writer.path}: {writer.frame_count / writer.sample_rate:.1f} s, "
                f"{writer.sample_rate} Hz, {writer.channel_count} channel(s)",
                file=sys.stderr,
            )
        print(f"{len(written)} stems at {speed:.2f}x real time", file=sys.stderr)
    return 0

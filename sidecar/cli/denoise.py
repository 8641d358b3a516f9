"""`sidecar denoise`: remove noise from speech in any audio or video file, into WAV or FLAC."""

from __future__ import annotations

import argparse
import pathlib
import sys

from sidecar import errors
from sidecar.cli.connection import add_server_arguments, connect
from sidecar.cli.files import check_output, require_input
from sidecar.cli.progress import ProgressBar
from sidecar.media import writers


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("denoise", help="remove noise from speech (DeepFilterNet3)")
    p.add_argument("input", type=pathlib.Path, help="any audio or video file FFmpeg reads")
    p.add_argument(
        "-o",
        "--output",
        type=pathlib.Path,
        required=True,
        help="the enhanced audio: .wav (32-bit float) or .flac (24-bit), at the input's sample rate and channel count",
    )
    p.add_argument(
        "--attenuation-limit",
        type=float,
        default=0.0,
        metavar="DB",
        help="attenuate the noise by at most DB dB (6 to 12 keeps a natural background; default: no limit)",
    )
    p.add_argument(
        "--post-filter",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="DeepFilterNet's post-filter: less residual noise, thinner speech (default: off)",
    )
    p.add_argument("--force", action="store_true", help="overwrite OUTPUT if it exists")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    add_server_arguments(p)
    return p


def run(args: argparse.Namespace) -> int:
    require_input(args.input)
    check_output(
        args.output, inputs=[args.input], force=args.force, suffixes=writers.supported_suffixes(), needs_directory=True
    )
    from sidecar.v1 import enhancement_pb2
    from sidecar_client import SidecarError

    options = enhancement_pb2.EnhancementOptions(
        attenuation_limit_db=args.attenuation_limit, post_filter=args.post_filter
    )
    bar = ProgressBar(args.input.name, enabled=False if args.quiet else None)
    summaries = []
    try:
        with connect(args) as client:
            chunks = client.enhance(
                args.input,
                options=options,
                on_progress=lambda p: bar.update(p.fraction_done, p.stage),
                on_summary=summaries.append,
            )
            written = write_chunks(chunks, args.output, overwrite=args.force)
    except (SidecarError, errors.SidecarError, FileExistsError) as exc:
        bar.close()
        print(f"sidecar denoise: {args.input}: {exc}", file=sys.stderr)
        return 1
    bar.close()
    if not args.quiet and written is not None and summaries:
        s = summaries[0]
        print(
            f"{args.output}: {written.frame_count / written.sample_rate:.1f} s, "
            f"{written.sample_rate} Hz, {written.channel_count} channel(s), "
            f"{s.speed_factor:.1f}x real time",
            file=sys.stderr,
        )
    return 0


def write_chunks(chunks, path: pathlib.Path, *, overwrite: bool) -> writers.AudioWriter | None:
    """Writes the AudioChunks to path as they arrive; the file appears only when all are in."""
    from sidecar.media import audio as media
    from sidecar.server import convert

    writer = None
    try:
        for chunk in chunks:
            spec = convert.pcm_spec(chunk.format)
            if writer is None:
                writer = writers.AudioWriter(path, spec.sample_rate, spec.channel_count, overwrite=overwrite)
            writer.write(media.decode_pcm(chunk.data, spec).samples)
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    if writer is not None:
        writer.commit()
    return writer

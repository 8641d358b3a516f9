"""`sidecar subtitle`: caption any audio or video file into SRT, WebVTT, ASS, JSON or text (and
mux it); several files or folders through subtitle_batch, formats and cue rules in subtitle_formats."""

from __future__ import annotations

import argparse
import pathlib
import shutil
import sys

from sidecar.cli import translations
from sidecar.cli.connection import add_server_arguments, connect
from sidecar.cli.files import UsageError, check_output, require_input, write_output
from sidecar.cli.muxing import MUX_CODECS, MuxError, Track, mux, mux_path
from sidecar.cli.progress import ProgressBar
from sidecar.cli.subtitle_formats import (
    FORMATS,
    add_format_arguments,
    check_format,
    cue_rules,
    default_output,
    writer_for,
)
from sidecar_client.captions import cues_for
from sidecar_common.limits import BEAM_SIZE


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("subtitle", help="caption audio or video files to SRT/WebVTT/ASS/JSON/text")
    p.add_argument(
        "inputs",
        nargs="+",
        type=pathlib.Path,
        metavar="INPUT",
        help="audio or video files FFmpeg reads, or folders of them (several: a batch, resumable)",
    )
    p.add_argument(
        "-o",
        "--output",
        type=pathlib.Path,
        help="subtitle file: .srt, .vtt, .ass, .json, .txt (plain text) or .labels.txt (Audacity labels); "
        "default INPUT.srt; with several inputs, a folder for them",
    )
    add_format_arguments(p)
    p.add_argument("--language", help="spoken language (e.g. en, de); default: detect")
    p.add_argument("--translate", action="store_true", help="translate the speech into English")
    p.add_argument("--model", help="Whisper model name or directory (default: the server's)")
    p.add_argument("--beam-size", type=int, default=0, help=f"beam width (default {BEAM_SIZE})")
    p.add_argument("--initial-prompt", help="text that conditions the first window (names, spellings)")
    p.add_argument("--hotwords", help="comma-separated words to favour")
    p.add_argument("--no-vad", action="store_true", help="decode silence too (no VAD filter)")
    p.add_argument(
        "--batch-size",
        type=int,
        default=0,
        help="windows decoded at once, faster on long files; 1: one after another (default: 16 on a GPU, 4 on a CPU)",
    )
    p.add_argument(
        "--pieces",
        type=int,
        default=0,
        help="cut a long file at pauses into this many pieces decoded side by side: 1.5 to 2 times as fast "
        "with 2 on a 2-core CPU, at some cost in accuracy (default: whole)",
    )
    p.add_argument(
        "--language-per-segment",
        action="store_true",
        help="detect the language of every window, for audio that changes language (multilingual models)",
    )
    p.add_argument("--mux", action="store_true", help="also write a copy of the video with the subtitles as a stream")
    p.add_argument("--force", action="store_true", help="overwrite existing output files")
    p.add_argument(
        "--jobs",
        type=int,
        default=1,
        metavar="N",
        help="with several inputs, caption N files at once (default 1): for a sidecar that runs several jobs "
        "at once, or a Ray Serve cluster, which spreads them over its replicas",
    )
    p.add_argument(
        "--ray",
        metavar="ADDRESS",
        help="caption each file as a Ray task on the cluster at ADDRESS (or auto), calling the cluster's "
        "--server from the node it runs on: inputs, outputs and this folder must be on storage every node "
        "sees; a task on a lost node runs again",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    from sidecar.cli import diarize  # imports this module: import it late

    p.add_argument(
        "--diarize", action="store_true", help='label who speaks (SRT "SPEAKER_1: " prefix, WebVTT <v> voice tags)'
    )
    diarize.add_speaker_arguments(p)
    translations.add_arguments(p)
    add_server_arguments(p)
    return p


def run(args: argparse.Namespace) -> int:
    from sidecar.cli import subtitle_batch

    return subtitle_batch.run(args, run_one, outputs_of)


def run_one(args: argparse.Namespace, bar=None) -> int:
    """Captions args.input; `bar` takes its progress (default: a bar of its own). Outputs in
    `args.keep` (a batch finishing an input it had begun) are left as they are."""
    keep = getattr(args, "keep", frozenset())
    output = plan_output(args, keep)
    targets = translations.plan(args, output, keep)
    mux_output = plan_mux_output(args, keep) if args.mux else None
    speakers, names = plan_speakers(args, output)
    from sidecar.v1 import transcription_pb2
    from sidecar_client import SidecarError

    options = transcription_pb2.TranscriptionOptions(
        model=args.model or "",
        language_code=args.language or "",
        translate=args.translate,
        beam_size=args.beam_size,
        initial_prompt=args.initial_prompt or "",
        hotwords=args.hotwords or "",
        vad_filter=not args.no_vad,
        word_timestamps=True,
        diarization=speakers,
        batch_size=args.batch_size,
        pieces=args.pieces,
        language_per_segment=args.language_per_segment,
    )
    bar = bar or ProgressBar(args.input.name, enabled=False if args.quiet else None)
    try:
        with connect(args) as client:
            translations.check(client, args, targets)
            transcript = client.transcribe(
                args.input, options=options, on_progress=lambda p: bar.update(p.fraction_done, p.stage)
            )
            cues = cues_for(transcript, cue_rules(args))
            tracks = translations.translate(client, args, targets, transcript, cues, cue_rules(args))
    except SidecarError as exc:
        bar.close()
        print(f"sidecar subtitle: {args.input}: {exc}", file=sys.stderr)
        return 1
    bar.close()
    format_cues = writer_for(output, args)
    if output not in keep:
        write_output(output, format_cues(cues, names), force=args.force)
    translations.write(targets, tracks, lambda cues: format_cues(cues, names), force=args.force, keep=keep)
    if not args.quiet:
        info = transcript.info
        print(
            f"{output}: {len(cues)} cues, language {info.language_code}, "
            f"{transcript.summary.speed_factor:.1f}x real time",
            file=sys.stderr,
        )
    if mux_output is not None and mux_output not in keep:
        srt = output if output.suffix.lower() == ".srt" else None
        try:
            spoken = "en" if args.translate else transcript.info.language_code or args.language or ""
            mux(args.input, [Track(cues, spoken, srt), *tracks], mux_output, force=args.force)
        except MuxError as exc:
            print(f"sidecar subtitle: {exc}", file=sys.stderr)
            return 1
        if not args.quiet:
            print(f"{mux_output}: video with subtitle stream", file=sys.stderr)
    return 0


def outputs_of(args: argparse.Namespace, output: pathlib.Path) -> list[pathlib.Path]:
    """Every file a run on args.input writes: the subtitles, their translations, the muxed copy."""
    paths = [output, *(target.output for target in translations.plan(args, output, keep=None))]
    return paths + [mux_path(args.input)] if args.mux else paths


def plan_output(args: argparse.Namespace, keep=frozenset()) -> pathlib.Path:
    require_input(args.input)
    output = args.output or default_output(args, args.input)
    check_output(output, inputs=[args.input], force=args.force or output in keep, suffixes=FORMATS)
    check_format(args, output)
    cue_rules(args)  # refuses nonsense before the transcription, not after
    return output


def plan_speakers(args: argparse.Namespace, output: pathlib.Path):
    """(DiarizationOptions or None, speaker display names) for the --diarize flags. WebVTT
    voices read "Speaker 1" unless named; SRT and labels keep "SPEAKER_1"."""
    from sidecar.cli import diarize

    if not args.diarize:
        given = [
            flag
            for flag, on in (
                ("--speakers", args.speakers),
                ("--min-speakers", args.min_speakers),
                ("--max-speakers", args.max_speakers),
                ("--speaker-names", args.speaker_names),
                ("--pipeline", args.pipeline),
                ("--speaker-ref", args.speaker_ref),
                ("--known-speakers", args.known_speakers),
                ("--name-threshold", args.name_threshold),
            )
            if on
        ]
        if given or args.backend != diarize.BACKENDS[0]:
            raise UsageError(f"{', '.join(given) or '--backend'} needs --diarize")
        return None, None
    prefix = "Speaker " if output.suffix.lower() == ".vtt" else None
    return diarize.diarization_options(args), diarize.speaker_names(args.speaker_names, prefix)


def plan_mux_output(args: argparse.Namespace, keep=frozenset()) -> pathlib.Path:
    suffix = args.input.suffix.lower()
    if suffix not in MUX_CODECS:
        raise UsageError(f"--mux needs a video container ({', '.join(MUX_CODECS)}), not {suffix or 'no extension'}")
    if shutil.which("ffmpeg") is None:
        raise UsageError("--mux needs the ffmpeg program on PATH")
    output = mux_path(args.input)
    check_output(output, inputs=[args.input], force=args.force or output in keep)
    return output

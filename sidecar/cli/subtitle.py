"""`sidecar subtitle`: caption any audio or video file into SRT or WebVTT (and mux it)."""

from __future__ import annotations

import argparse
import pathlib
import shutil
import subprocess
import sys
import tempfile

from sidecar.cli.connection import add_server_arguments, connect
from sidecar.cli.files import UsageError, check_output, committed, require_input, write_output
from sidecar.cli.progress import ProgressBar
from sidecar_client.captions import cues_for
from sidecar_common import outputs, subtitles
from sidecar_common.limits import BEAM_SIZE

FORMATS = {**subtitles.WRITERS, ".txt": subtitles.format_audacity_labels}
# Subtitle codec each container takes when muxing.
MUX_CODECS = {".mp4": "mov_text", ".m4v": "mov_text", ".mov": "mov_text", ".mkv": "srt", ".webm": "webvtt"}


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("subtitle", help="caption an audio or video file to SRT/WebVTT")
    p.add_argument("input", type=pathlib.Path, help="any audio or video file FFmpeg reads")
    p.add_argument(
        "-o",
        "--output",
        type=pathlib.Path,
        help="subtitle file: .srt, .vtt, or .txt (Audacity labels); default INPUT.srt",
    )
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
        help="windows decoded at once, faster on long files (default: 16 on a GPU, 1 on a CPU)",
    )
    p.add_argument(
        "--language-per-segment",
        action="store_true",
        help="detect the language of every window, for audio that changes language (multilingual models)",
    )
    p.add_argument("--mux", action="store_true", help="also write a copy of the video with the subtitles as a stream")
    p.add_argument("--force", action="store_true", help="overwrite existing output files")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    from sidecar.cli import diarize  # imports this module: import it late

    p.add_argument(
        "--diarize", action="store_true", help='label who speaks (SRT "SPEAKER_1: " prefix, WebVTT <v> voice tags)'
    )
    diarize.add_speaker_arguments(p)
    add_server_arguments(p)
    return p


def run(args: argparse.Namespace) -> int:
    output = plan_output(args)
    mux_output = plan_mux_output(args) if args.mux else None
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
        language_per_segment=args.language_per_segment,
    )
    bar = ProgressBar(args.input.name, enabled=False if args.quiet else None)
    try:
        with connect(args) as client:
            transcript = client.transcribe(
                args.input, options=options, on_progress=lambda p: bar.update(p.fraction_done, p.stage)
            )
    except SidecarError as exc:
        bar.close()
        print(f"sidecar subtitle: {args.input}: {exc}", file=sys.stderr)
        return 1
    bar.close()
    cues = cues_for(transcript)
    write_output(output, FORMATS[output.suffix.lower()](cues, names), force=args.force)
    if not args.quiet:
        info = transcript.info
        print(
            f"{output}: {len(cues)} cues, language {info.language_code}, "
            f"{transcript.summary.speed_factor:.1f}x real time",
            file=sys.stderr,
        )
    if mux_output is not None:
        srt = output if output.suffix.lower() == ".srt" else None
        try:
            mux(args.input, cues, mux_output, srt, force=args.force)
        except MuxError as exc:
            print(f"sidecar subtitle: {exc}", file=sys.stderr)
            return 1
        if not args.quiet:
            print(f"{mux_output}: video with subtitle stream", file=sys.stderr)
    return 0


def plan_output(args: argparse.Namespace) -> pathlib.Path:
    require_input(args.input)
    output = args.output or args.input.with_suffix(".srt")
    check_output(output, inputs=[args.input], force=args.force, suffixes=FORMATS)
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


def plan_mux_output(args: argparse.Namespace) -> pathlib.Path:
    suffix = args.input.suffix.lower()
    if suffix not in MUX_CODECS:
        raise UsageError(f"--mux needs a video container ({', '.join(MUX_CODECS)}), not {suffix or 'no extension'}")
    if shutil.which("ffmpeg") is None:
        raise UsageError("--mux needs the ffmpeg program on PATH")
    output = args.input.with_name(f"{args.input.stem}.subtitled{args.input.suffix}")
    check_output(output, inputs=[args.input], force=args.force)
    return output


class MuxError(Exception):
    """ffmpeg refused to mux: the subtitles are written, the video copy is not."""


def mux(video: pathlib.Path, cues, output: pathlib.Path, srt: pathlib.Path | None, *, force: bool) -> None:
    """Copies every stream of the video and adds the subtitles; the original is only read."""
    codec = MUX_CODECS[video.suffix.lower()]
    with tempfile.TemporaryDirectory(prefix="sidecar-mux-") as tmp:
        if srt is None:
            srt = pathlib.Path(tmp) / "subtitles.srt"
            srt.write_text(subtitles.format_srt(cues), encoding="utf-8")
        staging = outputs.staging_path(output)  # beside the output: the commit is a rename
        command = [
            "ffmpeg",
            "-nostdin",
            "-loglevel",
            "error",
            "-y",
            "-i",
            str(video),
            "-i",
            str(srt),
            "-map",
            "0",
            "-map",
            "1",
            "-c",
            "copy",
            "-c:s",
            codec,
            str(staging),
        ]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            staging.unlink(missing_ok=True)
            raise MuxError(f"ffmpeg could not mux {video}: {done.stderr.strip()[-500:]}")
        with committed(output):
            outputs.commit(staging, output, overwrite=force)

"""`sidecar cue`: generate a music or sound cue from a prompt (MusicGen) into a WAV file.

The complete settings (model, seed and every default) are saved next to the audio as JSON
(OUT.json for OUT.wav): `sidecar cue --settings OUT.json -o again.wav` generates the same cue.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys

import numpy as np

from sidecar.cli.connection import add_server_arguments, connect
from sidecar.cli.files import UsageError, check_output, require_input, write_output
from sidecar.cli.progress import ProgressBar

EXAMPLES = """examples:
  sidecar cue "calm piano bed with soft strings" --duration 10 -o bed.wav
  sidecar cue "upbeat drums" --duration 5 --seed 42 --model musicgen-medium -o sting.wav
  sidecar cue "jazz trio" --continue intro.wav --duration 8 -o more.wav
  sidecar cue "orchestral" --model musicgen-melody --melody hum.wav -o theme.wav
  sidecar cue --settings bed.json -o bed-again.wav
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "cue",
        help="generate a music or sound cue from a prompt (MusicGen) into a WAV file",
        description=__doc__,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("prompt", nargs="?", help="what to generate (or --settings)")
    p.add_argument(
        "-o",
        "--output",
        type=pathlib.Path,
        default=pathlib.Path("cue.wav"),
        help="the WAV file to write (default cue.wav); the settings go to the same name with .json",
    )
    p.add_argument(
        "--settings",
        type=pathlib.Path,
        help="settings saved by an earlier run (JSON): regenerate that cue; other options given override them",
    )
    p.add_argument("-d", "--duration", type=float, help="seconds of audio (default 8, at most 30)")
    p.add_argument("--seed", type=int, help="seed for repeatable sampling (default: random, saved)")
    p.add_argument(
        "--model", help="musicgen-small (default), -medium, -large, -melody, or a model directory on the server"
    )
    p.add_argument("--guidance", type=float, help="classifier-free guidance scale (default 3)")
    p.add_argument("--top-k", type=int, help="sample among the k likeliest codes, 0 off (default 250)")
    p.add_argument("--top-p", type=float, help="nucleus sampling mass, 0 off (default 0)")
    p.add_argument("--temperature", type=float, help="sampling temperature (default 1)")
    reference = p.add_mutually_exclusive_group()
    reference.add_argument("--melody", type=pathlib.Path, help="follow this audio's melody (needs a melody model)")
    reference.add_argument(
        "--continue",
        dest="continuation",
        type=pathlib.Path,
        metavar="FILE",
        help="continue this audio (its last 10 s prompt the model)",
    )
    p.add_argument("--force", action="store_true", help="overwrite existing output files")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress or summary")
    add_server_arguments(p)
    return p


def run(args: argparse.Namespace) -> int:
    settings = settings_for(args)
    settings_path = plan(args, settings)
    from sidecar_client import SidecarError

    try:
        with connect(args) as client:
            summary = generate(client, args, settings)
    except SidecarError as exc:
        print(f"sidecar cue: {exc}", file=sys.stderr)
        return 1
    write_output(settings_path, settings_json(summary.settings), force=args.force)
    if not args.quiet:
        seconds = summary.audio_duration.seconds + summary.audio_duration.nanos / 1e9
        first = summary.first_audio_duration.seconds + summary.first_audio_duration.nanos / 1e9
        print(
            f"{args.output}: {seconds:.1f} s cue (model {summary.settings.model}, seed "
            f"{summary.settings.seed}); first audio after {first:.2f} s, "
            f"{summary.speed_factor:.2f}x real time; settings in {settings_path}",
            file=sys.stderr,
        )
    return 0


def settings_for(args: argparse.Namespace):
    """The request's CueSettings: a saved file's, overridden by the options given."""
    from google.protobuf import json_format

    from sidecar.v1 import cues_pb2

    settings = cues_pb2.CueSettings()
    if args.settings is not None:
        try:
            json_format.Parse(args.settings.read_text(encoding="utf-8"), settings)
        except (OSError, UnicodeDecodeError, json_format.ParseError) as exc:
            raise UsageError(f"{args.settings}: {exc}") from None
        settings.ClearField("reference_sha256")  # output only
    if args.prompt is not None:
        settings.prompt = args.prompt
    if not settings.prompt.strip():
        raise UsageError("the prompt is empty: say what to generate, or pass --settings")
    if args.model is not None:
        settings.model = args.model
    if args.duration is not None:
        settings.audio_duration.FromNanoseconds(round(args.duration * 1e9))
    for flag, field in (
        ("seed", "seed"),
        ("guidance", "guidance_scale"),
        ("top_k", "top_k"),
        ("top_p", "top_p"),
        ("temperature", "temperature"),
    ):
        if getattr(args, flag) is not None:
            setattr(settings, field, getattr(args, flag))
    if args.melody is not None:
        settings.reference_mode = cues_pb2.REFERENCE_MODE_MELODY
    elif args.continuation is not None:
        settings.reference_mode = cues_pb2.REFERENCE_MODE_CONTINUATION
    return settings


def plan(args: argparse.Namespace, settings) -> pathlib.Path:
    """Checks files before any server starts; returns where the settings go."""
    from sidecar.v1 import cues_pb2

    reference = reference_of(args)
    if settings.reference_mode != cues_pb2.REFERENCE_MODE_UNSPECIFIED and reference is None:
        raise UsageError(
            "these settings follow or continue reference audio: give it with --melody FILE or --continue FILE"
        )
    if reference is not None:
        require_input(reference)
    check_output(args.output, inputs=[reference, args.settings], force=args.force, suffixes=[".wav"])
    settings_path = args.output.with_suffix(".json")
    check_output(settings_path, inputs=[reference, args.settings], force=args.force)
    return settings_path


def reference_of(args: argparse.Namespace) -> pathlib.Path | None:
    return args.melody if args.melody is not None else args.continuation


def settings_json(settings) -> str:
    from google.protobuf import json_format

    return json.dumps(json_format.MessageToDict(settings), indent=2) + "\n"


def generate(client, args: argparse.Namespace, settings):
    """Writes the chunks to the WAV as they arrive (committed only when complete); returns
    the summary."""
    from sidecar.media.writers import AudioWriter

    call = client.generate_cue(settings, reference=reference_of(args))
    bar = ProgressBar(args.output.name, enabled=False if args.quiet else None)
    writer = summary = None
    channels = 1
    try:
        for response in call:
            kind = response.WhichOneof("event")
            if kind == "info":
                channels = response.info.audio_format.channel_count
                args.output.parent.mkdir(parents=True, exist_ok=True)
                writer = AudioWriter(
                    args.output, response.info.audio_format.sample_rate_hertz, channels, overwrite=args.force
                )
            elif kind == "audio":
                samples = np.frombuffer(response.audio.data, dtype="<f4").reshape(-1, channels).T
                writer.write(samples)
            elif kind == "progress":
                bar.update(response.progress.fraction_done, response.progress.stage)
            elif kind == "summary":
                summary = response.summary
        writer.commit()
    except BaseException:
        call.cancel()
        if writer is not None:
            writer.abort()
        raise
    finally:
        bar.close()
    return summary

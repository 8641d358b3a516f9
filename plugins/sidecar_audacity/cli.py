"""`sidecar-audacity`: the panel's actions as commands, for scripts.

    sidecar-audacity caption [--language en] [--model tiny.en] [--translate]
    sidecar-audacity caption-speakers [--speakers 2]
    sidecar-audacity denoise [--attenuation-limit 12]
    sidecar-audacity stems [--model htdemucs] [--stem vocals ...]
    sidecar-audacity say TEXT [--language en] [--voice ID] [--seed N]
    sidecar-audacity fix-phrase CORRECTION [--language en] [--speakers 2]
    sidecar-audacity cue PROMPT [--duration 8] [--seed N] [--guidance 3] [--melody | --continue]
    sidecar-audacity events [--model clap --labels laughter,applause] [--threshold 0.3]
    sidecar-audacity export-subtitles OUTPUT.srt|.vtt [--track NAME ...] [--force]
    sidecar-audacity panel

Each works on Audacity's current selection (the whole project when nothing is selected)
through mod-script-pipe, and on a running sidecar (--server, default 127.0.0.1:50051).
Exit status: 0 done, 1 the action failed, 2 Audacity or the sidecar could not be reached (or
a dialog open in Audacity stopped the action).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys

from sidecar_audacity import actions, creative, session
from sidecar_audacity.errors import (
    AudacityDialogError,
    AudacityStalledError,
    AudacityUnreachableError,
    PluginError,
    SidecarUnavailableError,
)
from sidecar_audacity.pipe import PIPE_DIR
from sidecar_client import DEFAULT_ADDRESS, Connection

# A dialog open in Audacity blocks it as a stalled pipe does.
UNREACHABLE = (AudacityUnreachableError, AudacityStalledError, AudacityDialogError, SidecarUnavailableError)


def add_common_arguments(parser: argparse.ArgumentParser, *, defaults: bool) -> None:
    """The sidecar's address and the like. Every subcommand takes them too, so they may come
    before or after it; there they default to unset, leaving the value given before."""

    def default(value):
        return value if defaults else argparse.SUPPRESS

    parser.add_argument(
        "--server",
        default=default(os.environ.get("SIDECAR_ADDRESS", DEFAULT_ADDRESS)),
        metavar="HOST:PORT",
        help=f"the sidecar (default $SIDECAR_ADDRESS or {DEFAULT_ADDRESS})",
    )
    parser.add_argument("--token", default=default(None), help="the sidecar's token (default: $SIDECAR_TOKEN)")
    parser.add_argument("--token-file", default=default(None), metavar="FILE", help="read the token from this file")
    parser.add_argument(
        "--tls-ca", default=default(None), metavar="PEM", help="reach the sidecar over TLS, verified by these roots"
    )
    parser.add_argument("--pipe-dir", default=default(PIPE_DIR), help=argparse.SUPPRESS)  # tests
    parser.add_argument("-q", "--quiet", action="store_true", default=default(False), help="no progress lines")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sidecar-audacity", description=__doc__.split("\n\n")[0])
    add_common_arguments(parser, defaults=True)
    common = argparse.ArgumentParser(add_help=False)
    add_common_arguments(common, defaults=False)
    subparsers = parser.add_subparsers(dest="command", required=True)

    def command(name: str, **kwargs) -> argparse.ArgumentParser:
        return subparsers.add_parser(name, parents=[common], **kwargs)

    for name, help_text in (
        ("caption", "a label track of captions"),
        ("caption-speakers", "one label track of captions per speaker"),
    ):
        p = command(name, help=help_text)
        p.add_argument("--model", default="", help="Whisper model (default: the sidecar's)")
        p.add_argument("--language", default="", help="spoken language, e.g. en (default: detect)")
        p.add_argument("--translate", action="store_true", help="translate the speech into English")
        if name == "caption":
            p.add_argument("--track-name", default=actions.CAPTION_TRACK, help="name of the new label track")
        else:
            p.add_argument("--speakers", type=int, default=0, help="number of speakers (default: detect)")

    p = command("denoise", help='a "<name> (denoised)" track per selected track')
    p.add_argument(
        "--attenuation-limit",
        type=float,
        default=0.0,
        metavar="DB",
        help="lower the noise by at most this many dB, e.g. 12 (default: no limit)",
    )
    p.add_argument("--post-filter", action="store_true", help="remove more residual noise")

    p = command("stems", help='"<name> - <stem>" tracks per selected track')
    p.add_argument("--model", default="", help="Demucs model (default: the sidecar's)")
    p.add_argument("--model-repository", default="", help="directory of Demucs models on the server")
    p.add_argument("--stem", action="append", default=[], dest="stems", help="a stem to keep (repeatable)")

    for name, help_text in (
        ("say", "speech on a new track at the cursor, in a cloned voice"),
        ("fix-phrase", 'the selected phrase, corrected, on "<name> (fixed)"'),
    ):
        p = command(name, help=help_text)
        p.add_argument("text", help="what to say" if name == "say" else "what the selected phrase should say")
        p.add_argument(
            "--language",
            default="en" if name == "say" else "",
            help="language of the text (default: en)"
            if name == "say"
            else "language of the text (default: the one detected)",
        )
        p.add_argument("--model", default="", help="XTTS model (default: the sidecar's)")
        p.add_argument("--seed", type=int, default=None, help="seed for repeatable speech")
        p.add_argument("--max-sentence-seconds", type=float, default=0.0, help=argparse.SUPPRESS)  # tiny models
        if name == "say":
            p.add_argument("--voice", default="", help="a saved voice id (default: clone the selection)")
        else:
            p.add_argument("--whisper-model", default="", help="Whisper model (default: the sidecar's)")
            p.add_argument("--speakers", type=int, default=0, help="number of speakers (default: detect)")

    p = command("cue", help="a generated cue at the cursor or over the selection, labelled with its settings")
    p.add_argument("prompt", help='what to generate, e.g. "calm piano bed"')
    p.add_argument(
        "-d",
        "--duration",
        type=float,
        default=creative.DEFAULT_CUE_SECONDS,
        help="seconds at the cursor or after a continued selection (default 8; a selection sets it otherwise)",
    )
    p.add_argument("--model", default="", help="MusicGen model (default: the sidecar's)")
    p.add_argument("--seed", type=int, default=None, help="seed (default: random, kept in the label)")
    p.add_argument("--guidance", type=float, default=None, help="guidance scale (default 3)")
    p.add_argument("--top-k", type=int, default=None, help="sample among the k likeliest codes (default 250)")
    p.add_argument("--top-p", type=float, default=None, help="nucleus sampling mass, 0 off (default 0)")
    p.add_argument("--temperature", type=float, default=None, help="sampling temperature (default 1)")
    reference = p.add_mutually_exclusive_group()
    reference.add_argument(
        "--melody",
        dest="reference",
        action="store_const",
        const="melody",
        default="",
        help="follow the selection's melody (needs a melody model)",
    )
    reference.add_argument(
        "--continue",
        dest="reference",
        action="store_const",
        const="continuation",
        default="",
        help="continue the selection: the cue goes after it",
    )

    p = command("events", help='a label track "Events" of sound events over the selection')
    p.add_argument("--model", default="", help="ast-audioset (default), clap, or a model directory")
    p.add_argument("--labels", default="", help="comma-separated labels: AudioSet classes, or anything with clap")
    p.add_argument("--threshold", type=float, default=None, help="smallest score that marks an event")
    p.add_argument("--track-name", default=creative.EVENTS_TRACK, help="name of the new label track")

    p = command("export-subtitles", help="write label tracks as SRT or WebVTT")
    p.add_argument("output", help="subtitle file to write: .srt or .vtt")
    p.add_argument("--track", action="append", default=[], dest="tracks", help="label track name (repeatable)")
    p.add_argument("--force", action="store_true", help="replace an existing file")

    command("panel", help="the always-on-top panel with every action")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "panel":
        from sidecar_audacity.panel import run_panel

        return run_panel(connection_of(args), pipe_dir=args.pipe_dir)
    job = actions.Job(None if args.quiet else ProgressLines())
    previous = signal.signal(signal.SIGINT, lambda *_: job.cancel())  # Ctrl-C stops the sidecar's job too
    try:
        outcome = run_action(args, job)
    except UNREACHABLE as exc:
        print(f"sidecar-audacity {args.command}: {exc}", file=sys.stderr)
        return 2
    except PluginError as exc:
        print(f"sidecar-audacity {args.command}: {exc}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGINT, previous)
    print(outcome.summary)
    return 0


def run_action(args: argparse.Namespace, job: actions.Job) -> actions.Outcome:
    if args.command == "export-subtitles":
        return session.export_subtitles(
            args.output, track_names=tuple(args.tracks), force=args.force, pipe_dir=args.pipe_dir
        )
    if args.command == "denoise":
        options = actions.DenoiseOptions(args.attenuation_limit, args.post_filter)
    elif args.command == "stems":
        options = actions.StemsOptions(args.model, args.model_repository, tuple(args.stems))
    elif args.command == "say":
        options = creative.SayOptions(
            args.text, args.language, args.voice, args.model, args.seed, args.max_sentence_seconds
        )
    elif args.command == "fix-phrase":
        options = creative.FixPhraseOptions(
            args.text,
            args.language,
            args.model,
            args.whisper_model,
            args.speakers,
            args.seed,
            args.max_sentence_seconds,
        )
    elif args.command == "cue":
        options = creative.CueOptions(
            args.prompt,
            args.duration,
            args.model,
            args.seed,
            args.guidance,
            args.top_k,
            args.top_p,
            args.temperature,
            args.reference,
        )
    elif args.command == "events":
        options = creative.EventOptions(
            args.model, tuple(filter(None, map(str.strip, args.labels.split(",")))), args.threshold, args.track_name
        )
    else:
        options = actions.CaptionOptions(
            model=args.model,
            language=args.language,
            translate=args.translate,
            track_name=getattr(args, "track_name", actions.CAPTION_TRACK),
            speaker_count=getattr(args, "speakers", 0),
        )
    return session.perform(args.command, options, job, address=connection_of(args), pipe_dir=args.pipe_dir)


def connection_of(args: argparse.Namespace) -> Connection:
    return Connection(args.server, args.token, args.token_file, tls_ca=args.tls_ca)


class ProgressLines:
    """A line on stderr when the stage changes or another tenth of the job is done."""

    def __init__(self) -> None:
        self._last = ("", -1)

    def __call__(self, fraction: float, stage: str) -> None:
        tenth = int(fraction * 10)
        if (stage, tenth) != self._last:
            self._last = (stage, tenth)
            print(f"{fraction:4.0%} {stage}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())

"""`sidecar-audacity`: the panel's actions as commands, for scripts.

    sidecar-audacity caption [--language en] [--model tiny.en] [--translate]
    sidecar-audacity caption-speakers [--speakers 2]
    sidecar-audacity denoise [--attenuation-limit 12]
    sidecar-audacity stems [--model htdemucs] [--stem vocals ...]
    sidecar-audacity export-subtitles OUTPUT.srt|.vtt [--track NAME ...] [--force]
    sidecar-audacity panel

Each works on Audacity's current selection (the whole project when nothing is selected)
through mod-script-pipe, and on a running sidecar (--server, default 127.0.0.1:50051).
Exit status: 0 done, 1 the action failed, 2 Audacity or the sidecar could not be reached.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys

from sidecar_client import DEFAULT_ADDRESS

from sidecar_audacity import actions, session
from sidecar_audacity.errors import AudacityStalledError, AudacityUnreachableError, PluginError, SidecarUnavailableError
from sidecar_audacity.pipe import PIPE_DIR

UNREACHABLE = (AudacityUnreachableError, AudacityStalledError, SidecarUnavailableError)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sidecar-audacity", description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", default=os.environ.get("SIDECAR_ADDRESS", DEFAULT_ADDRESS),
                        metavar="HOST:PORT", help=f"the sidecar (default $SIDECAR_ADDRESS or {DEFAULT_ADDRESS})")
    parser.add_argument("--token", default=None, help="the sidecar's token (default: $SIDECAR_TOKEN)")
    parser.add_argument("--pipe-dir", default=PIPE_DIR, help=argparse.SUPPRESS)  # tests
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    commands = parser.add_subparsers(dest="command", required=True)

    for name, help_text in (("caption", "a label track of captions"),
                            ("caption-speakers", "one label track of captions per speaker")):
        p = commands.add_parser(name, help=help_text)
        p.add_argument("--model", default="", help="Whisper model (default: the sidecar's)")
        p.add_argument("--language", default="", help="spoken language, e.g. en (default: detect)")
        p.add_argument("--translate", action="store_true", help="translate the speech into English")
        if name == "caption":
            p.add_argument("--track-name", default=actions.CAPTION_TRACK, help="name of the new label track")
        else:
            p.add_argument("--speakers", type=int, default=0, help="number of speakers (default: detect)")

    p = commands.add_parser("denoise", help='a "<name> (denoised)" track per selected track')
    p.add_argument("--attenuation-limit", type=float, default=0.0, metavar="DB",
                   help="lower the noise by at most this many dB, e.g. 12 (default: no limit)")
    p.add_argument("--post-filter", action="store_true", help="remove more residual noise")

    p = commands.add_parser("stems", help='"<name> - <stem>" tracks per selected track')
    p.add_argument("--model", default="", help="Demucs model (default: the sidecar's)")
    p.add_argument("--model-repository", default="", help="directory of Demucs models on the server")
    p.add_argument("--stem", action="append", default=[], dest="stems", help="a stem to keep (repeatable)")

    p = commands.add_parser("export-subtitles", help="write label tracks as SRT or WebVTT")
    p.add_argument("output", help="subtitle file to write: .srt or .vtt")
    p.add_argument("--track", action="append", default=[], dest="tracks", help="label track name (repeatable)")
    p.add_argument("--force", action="store_true", help="replace an existing file")

    commands.add_parser("panel", help="the always-on-top panel with every action")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "panel":
        from sidecar_audacity.panel import run_panel

        return run_panel(args.server, token=args.token or os.environ.get("SIDECAR_TOKEN"), pipe_dir=args.pipe_dir)
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
        return session.export_subtitles(args.output, track_names=tuple(args.tracks), force=args.force,
                                        pipe_dir=args.pipe_dir)
    if args.command == "denoise":
        options = actions.DenoiseOptions(args.attenuation_limit, args.post_filter)
    elif args.command == "stems":
        options = actions.StemsOptions(args.model, args.model_repository, tuple(args.stems))
    else:
        options = actions.CaptionOptions(
            model=args.model, language=args.language, translate=args.translate,
            track_name=getattr(args, "track_name", actions.CAPTION_TRACK),
            speaker_count=getattr(args, "speakers", 0))
    return session.perform(args.command, options, job, address=args.server, token=args.token,
                           pipe_dir=args.pipe_dir)


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

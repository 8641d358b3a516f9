"""What `sidecar subtitle` writes: the format each output name asks for, and the cue rules.

The format goes by the output's name (`-o talk.ass`), or by --format where there is no output
name to go by (the default INPUT.srt, and several inputs). `.txt` is plain text;
Audacity labels, which `.txt` meant before, are `.labels.txt` (or --format labels).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import pathlib
from collections.abc import Callable

from sidecar.cli.files import UsageError
from sidecar_common import caption_formats, subtitles

Writer = Callable[..., str]

# Output name endings and their writers; the longest ending that matches wins.
FORMATS: dict[str, Writer] = {
    ".srt": subtitles.format_srt,
    ".vtt": subtitles.format_vtt,
    ".ass": caption_formats.format_ass,
    ".json": caption_formats.format_json,
    ".txt": caption_formats.format_text,
    ".labels.txt": subtitles.format_audacity_labels,
}
# --format names and the ending each gives.
FORMAT_SUFFIXES = {
    "srt": ".srt",
    "vtt": ".vtt",
    "ass": ".ass",
    "json": ".json",
    "txt": ".txt",
    "labels": ".labels.txt",
}
DEFAULT_FORMAT = "srt"

# Flag -> CueRules field; the defaults are CueRules' own.
RULE_FLAGS = {
    "--max-chars": "max_line_chars",
    "--max-lines": "max_lines",
    "--max-cps": "max_chars_per_second",
    "--min-duration": "min_duration",
}


def add_format_arguments(p: argparse.ArgumentParser) -> None:
    rules = subtitles.CueRules()
    p.add_argument(
        "--format",
        choices=FORMAT_SUFFIXES,
        help="output format where no -o FILE names one: "
        + ", ".join(f"{name} ({suffix})" for name, suffix in FORMAT_SUFFIXES.items())
        + f"; default {DEFAULT_FORMAT}",
    )
    p.add_argument(
        "--vtt-words",
        action="store_true",
        help="WebVTT: a timestamp tag before each word, for players that highlight words as they are said",
    )
    p.add_argument(
        "--max-chars",
        type=_positive_int,
        default=rules.max_line_chars,
        metavar="N",
        help=f"characters a line (default {rules.max_line_chars})",
    )
    p.add_argument(
        "--max-lines",
        type=_positive_int,
        default=rules.max_lines,
        metavar="N",
        help=f"lines a cue (default {rules.max_lines})",
    )
    p.add_argument(
        "--max-cps",
        type=_positive_float,
        default=rules.max_chars_per_second,
        metavar="CPS",
        help=f"reading speed, characters a second (default {rules.max_chars_per_second:g})",
    )
    p.add_argument(
        "--min-duration",
        type=_seconds,
        default=rules.min_duration,
        metavar="S",
        help=f"seconds a cue stays up at least, where the next one allows (default {rules.min_duration:g}; "
        f"at most {rules.max_duration:g})",
    )


def cue_rules(args: argparse.Namespace) -> subtitles.CueRules:
    rules = dataclasses.replace(
        subtitles.CueRules(), **{field: getattr(args, _dest(flag)) for flag, field in RULE_FLAGS.items()}
    )
    try:
        rules.validate()
    except ValueError as exc:  # only what the flag types cannot see alone: min_duration > max_duration
        message = str(exc)
        for flag, field in RULE_FLAGS.items():
            message = message.replace(field, flag)
        raise UsageError(message) from None
    return rules


def default_output(args: argparse.Namespace, source: pathlib.Path, folder: pathlib.Path | None = None) -> pathlib.Path:
    """INPUT with the --format's ending, beside it or in `folder`."""
    name = source.with_suffix(FORMAT_SUFFIXES[args.format or DEFAULT_FORMAT]).name
    return (folder or source.parent) / name


def suffix_of(path: pathlib.Path) -> str | None:
    """The FORMATS ending `path` has (".labels.txt" before ".txt"), or None."""
    name = path.name.lower()
    return max((s for s in FORMATS if name.endswith(s) and len(name) > len(s)), key=len, default=None)


def check_format(args: argparse.Namespace, output: pathlib.Path) -> None:
    """Refuses --format that contradicts the output's name, and --vtt-words for another format."""
    suffix = suffix_of(output)
    if args.format and suffix is not None and suffix != FORMAT_SUFFIXES[args.format]:
        raise UsageError(f"--format {args.format} writes {FORMAT_SUFFIXES[args.format]}, not {output.name}")
    if args.vtt_words and suffix != ".vtt":
        raise UsageError(f"--vtt-words is for WebVTT (.vtt), not {output.name}")


def writer_for(output: pathlib.Path, args: argparse.Namespace) -> Writer:
    suffix = suffix_of(output)
    if suffix == ".vtt" and args.vtt_words:
        return caption_formats.format_vtt_words
    return FORMATS[suffix]


def _dest(flag: str) -> str:
    return flag.removeprefix("--").replace("-", "_")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of 1 or more, not {text!r}")
    return value


def _positive_float(text: str) -> float:
    value = _float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a number above 0, not {text!r}")
    return value


def _seconds(text: str) -> float:
    value = _float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 seconds or more, not {text!r}")
    return value


def _float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, not {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, not {text!r}")
    return value

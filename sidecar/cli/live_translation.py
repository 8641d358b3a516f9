"""`sidecar live --to es`: each final caption translated as it becomes final, shown under it and
written to OUTPUT.es.srt.

The flags and the output's checks are here; the translating is `sidecar_client.translating`,
which the OBS script runs too: a thread of its own through the TranslationService, so a slow
model never holds up the captions, and a final's translated words spread over its time, so the
translated file keeps the cue rules and the original's timing.
"""

from __future__ import annotations

import argparse
import pathlib

from sidecar.cli import translations
from sidecar.cli.files import UsageError, check_output
from sidecar_client import Connection, live, translating
from sidecar_client.translating import LANGUAGE_CODE, translated_path
from sidecar_common import subtitles


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--to",
        metavar="LANG",
        help="also translate each final caption into this language (e.g. es): shown below it, "
        "and written to OUTPUT.LANG.srt with -o",
    )
    translations.add_model_argument(p)


def plan(args: argparse.Namespace, output: pathlib.Path | None) -> pathlib.Path | None:
    """The translated caption file (None without --to or -o), checked like every output."""
    if args.to is None:
        if args.translation_model:
            raise UsageError("--translation-model needs --to")
        return None
    if not LANGUAGE_CODE.match(args.to):
        raise UsageError(f"--to {args.to!r}: give one language code, such as es or pt-BR")
    if output is None:
        return None
    translated = translated_path(output, args.to)
    source = pathlib.Path(args.input) if pathlib.Path(args.input).exists() else None
    check_output(translated, inputs=[source, output], force=args.force, suffixes=subtitles.WRITERS)
    return translated


def start(
    client, connection: Connection, args: argparse.Namespace, output: pathlib.Path | None
) -> translating.LiveTranslation:
    """The translating thread for --to, started once the server said it can translate into the
    language with the model (SidecarError when it refuses: no file is written then)."""
    translation = translating.LiveTranslation(
        connection, args.to, source_language=args.language or "", model=args.translation_model or ""
    )
    translation.check(client)
    if output is not None:
        translation.writer = live.CaptionFile(output, overwrite=args.force)
    return translation.start()

"""`sidecar subtitle --to es,fr`: the subtitles in other languages, beside the original and muxed.

talk.srt is written as always; each language adds talk.es.srt, talk.fr.srt... on the same cue
times (sidecar_common.subtitle_translation), translated sentence by sentence through the
TranslationService. The languages and the model are checked with the server before the audio
is transcribed, so a typo costs nothing. `--mux` adds every subtitle file to the video copy as a
stream tagged with its language.
"""

from __future__ import annotations

import argparse
import dataclasses
import pathlib
from collections.abc import Callable, Sequence

from sidecar.cli.files import UsageError, check_output, write_output
from sidecar.cli.muxing import Track
from sidecar_client.translating import LANGUAGE_CODE, translated_path
from sidecar_common import subtitle_translation, subtitles
from sidecar_common.durations import seconds

PER_PAIR = "opus-mt"  # the server picks the OPUS-MT model per language pair: needs the source language


@dataclasses.dataclass(frozen=True)
class Target:
    language: str  # as given on the command line
    output: pathlib.Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--to",
        metavar="LANGS",
        help="also translate the subtitles into these languages (comma-separated, e.g. es,fr,pt-BR): "
        "INPUT.es.srt, INPUT.fr.srt ... on the same cue times",
    )
    add_model_argument(p, "opus-mt (per language pair), ")
    p.add_argument(
        "--translation-beam-size", type=int, default=0, metavar="N", help="beam width of the translation (default 4)"
    )


def add_model_argument(p: argparse.ArgumentParser, per_pair: str = "") -> None:
    """--translation-model, for `subtitle --to` and `live --to` (`per_pair`: the alias only a
    whole file can use, since it needs the spoken language first)."""
    p.add_argument(
        "--translation-model",
        metavar="NAME",
        help=f"nllb-200-distilled-600M (default), m2m100_418M, {per_pair}opus-mt-SRC-TGT, or a model directory",
    )


def plan(args: argparse.Namespace, output: pathlib.Path, keep=frozenset()) -> list[Target]:
    """The translated outputs (none without --to), checked like every output except those in
    `keep` (keep=None: named, not checked)."""
    if args.to is None:
        if args.translation_model or args.translation_beam_size:
            raise UsageError("--translation-model and --translation-beam-size need --to")
        return []
    languages = [code.strip() for code in args.to.split(",")]
    if not all(map(LANGUAGE_CODE.match, languages)):
        raise UsageError(f"--to {args.to!r}: give language codes separated by commas, such as es,fr")
    if len({code.lower() for code in languages}) != len(languages):
        raise UsageError(f"--to {args.to!r} names a language twice")
    targets = [Target(code, translated_path(output, code)) for code in languages]
    for target in targets if keep is not None else ():
        check_output(target.output, inputs=[args.input, output], force=args.force or target.output in keep)
    return targets


def options(args: argparse.Namespace):
    from sidecar.v1 import translation_pb2

    return translation_pb2.TranslationOptions(model=args.translation_model or "", beam_size=args.translation_beam_size)


def source_language(args: argparse.Namespace, detected: str = "") -> str:
    """The language the subtitles are in: English after --translate, else as given or detected."""
    return "en" if args.translate else (args.language or detected)


def check(client, args: argparse.Namespace, targets: Sequence[Target]) -> None:
    """Asks the server whether it can translate into each language (SidecarError if not),
    before any audio is sent. A per-pair model needs the spoken language: without --language
    it is checked once Whisper has told it."""
    source = source_language(args)
    if (args.translation_model or "").strip() == PER_PAIR and not source:
        return
    for target in targets:
        client.translate([], target.language, source_language_code=source, options=options(args), validate_only=True)


def translate(
    client, args: argparse.Namespace, targets: Sequence[Target], transcript, cues, rules: subtitles.CueRules
) -> list[Track]:
    """The cues translated into each target's language with the cue rules they were built with
    (SidecarError when the server refuses)."""
    source = source_language(args, transcript.info.language_code if transcript.info else "")
    duration = seconds(transcript.info.audio_duration) if transcript.info else None
    tracks = []
    for target in targets:

        def into(texts: list[str], language: str = target.language) -> list[str]:
            reply = client.translate(texts, language, source_language_code=source, options=options(args))
            return [t.translated_text for t in reply.translations]

        translated = subtitle_translation.translate_cues(cues, into, media_duration=duration, rules=rules)
        tracks.append(Track(translated, target.language))
    return tracks


def write(
    targets: Sequence[Target], tracks: Sequence[Track], format_cues: Callable, *, force: bool, keep=frozenset()
) -> None:
    """Writes each translation in the original output's format, but those in `keep`."""
    for target, track in zip(targets, tracks, strict=True):
        if target.output not in keep:
            write_output(target.output, format_cues(track.cues), force=force)

"""`sidecar live --to es`: each final caption translated as it becomes final, shown under it and
written to OUTPUT.es.srt.

Translation runs in a thread of its own through the TranslationService, so a slow model never
holds up the captions; a final's translated words are spread over its time, so the translated
file keeps the cue rules and the original's timing.
"""

from __future__ import annotations

import argparse
import dataclasses
import pathlib
import queue
import threading

from sidecar.cli.files import UsageError, check_output
from sidecar.cli.translations import LANGUAGE_CODE, translated_path
from sidecar_client import SidecarError, live
from sidecar_common import subtitles

FINISH_SECONDS = 60.0  # longest wait, once the captions end, for the translations still queued


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--to",
        metavar="LANG",
        help="also translate each final caption into this language (e.g. es): shown below it, "
        "and written to OUTPUT.LANG.srt with -o",
    )
    p.add_argument(
        "--translation-model",
        metavar="NAME",
        help="nllb-200-distilled-600M (default), m2m100_418M, opus-mt-SRC-TGT, or a model directory",
    )


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


class LiveTranslation:
    """Translates finals in order in a background thread; `take()` returns those done."""

    def __init__(self, client, args: argparse.Namespace, output: pathlib.Path | None) -> None:
        from sidecar.v1 import translation_pb2

        self.language = args.to
        self._client = client
        self._source = args.language or ""
        self._options = translation_pb2.TranslationOptions(model=args.translation_model or "")
        # Refused here (SidecarError) when the server cannot translate into the language.
        client.translate(
            [], self.language, source_language_code=self._source, options=self._options, validate_only=True
        )
        self.writer = live.CaptionFile(output, overwrite=args.force) if output else None
        self._pending: queue.Queue[live.Final | None] = queue.Queue()
        self._done: queue.Queue[live.Final | str] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="live-translation", daemon=True)
        self._thread.start()

    def add(self, final: live.Final) -> None:
        if final.text.strip():
            self._pending.put(final)

    def take(self) -> list[live.Final | str]:
        """Translated finals, and notices (str) of translations that failed."""
        taken = []
        while not self._done.empty():
            taken.append(self._done.get_nowait())
        return taken

    def finish(self) -> list[live.Final | str]:
        """Waits for the queued translations (at most FINISH_SECONDS); what take() would give."""
        self._pending.put(None)
        self._thread.join(FINISH_SECONDS)
        return self.take()

    def _run(self) -> None:
        while (final := self._pending.get()) is not None:
            try:
                reply = self._client.translate(
                    [final.text], self.language, source_language_code=self._source, options=self._options
                )
            except SidecarError as exc:
                self._done.put(f"could not translate {final.text!r}: {exc}")
                continue
            translated = live.Final(
                reply.translations[0].translated_text, spread(reply.translations[0].translated_text, final.words)
            )
            if self.writer is not None:
                try:
                    self.writer.add(translated)
                except OSError as exc:
                    self._done.put(f"cannot write {self.writer.path}: {exc}; translations go on here only")
                    self.writer = None
            self._done.put(translated)


def spread(text: str, words: tuple[subtitles.TimedWord, ...]) -> tuple[subtitles.TimedWord, ...]:
    """The words of `text` over the time the original words took, each in proportion to its
    length: a translation has no word times of its own."""
    pieces = text.split()
    if not pieces or not words:
        return ()
    start, end = words[0].start, max(w.end for w in words)
    total = sum(len(p) + 1 for p in pieces)
    timed, at = [], start
    for piece in pieces:
        until = at + (end - start) * (len(piece) + 1) / total
        timed.append(dataclasses.replace(words[0], text=" " + piece, start=at, end=until, probability=None))
        at = until
    return tuple(timed)

"""Live captions in another language: each final translated as it becomes final, off the host's
thread. `sidecar live --to es` and the OBS script use it.

`LiveTranslation` translates finals in order in a thread of its own, through the sidecar's
TranslationService, so a slow model never holds up the captions; the host hands it finals with
`add()` and takes the translated ones with `take()`, as it polls LiveCaptions. A translation has
no word times of its own: `spread` places its words over the time the original's took, so a
caption file of translations keeps the cue rules and the original's timing.

Without a source language the sidecar guesses it from the words, and a final is often a few
words ("He could wait"): too few to tell. Such finals wait and go again with the next one, in
one request, until the sidecar can tell; its guess is then kept for the rest of the captions.

Needs what the rest of this package needs (grpcio, protobuf, the stubs): the host may be OBS's Python.
"""

from __future__ import annotations

import dataclasses
import pathlib
import queue
import re
import threading

import grpc

from sidecar.v1 import translation_pb2
from sidecar_client.client import Connection, SidecarClient, SidecarError
from sidecar_client.live import RETRY_CODES, CaptionFile, Final
from sidecar_common import subtitles

FINISH_SECONDS = 60.0  # longest wait, once the captions end, for the translations still queued
LANGUAGE_CODE = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")  # what may go into a file name
LABELS_SUFFIX = ".labels.txt"  # Audacity labels: the language goes before the double suffix
UNSURE_FINALS = 8  # finals held while their language cannot be told; then they are given up


def translated_path(output: pathlib.Path, language: str) -> pathlib.Path:
    """talk.srt -> talk.es.srt, talk.labels.txt -> talk.es.labels.txt."""
    name = output.name
    suffix = name[-len(LABELS_SUFFIX) :] if name.lower().endswith(LABELS_SUFFIX) else output.suffix
    return output.with_name(f"{name[: len(name) - len(suffix)]}.{language}{suffix}")


class LiveTranslation:
    """Translates finals in order in a background thread through its own channel to the sidecar;
    `take()` returns those done. With a `writer`, the thread also adds them to that file."""

    def __init__(
        self,
        connection: Connection,
        language: str,
        *,
        source_language: str = "",
        model: str = "",
        writer: CaptionFile | None = None,
    ) -> None:
        self.language = language
        self.writer = writer
        self._connection = connection
        self._source = source_language
        self._options = translation_pb2.TranslationOptions(model=model)
        self._checked = False  # the server said it can translate into the language with the model
        self._unsure: list[Final] = []  # finals too short for the sidecar to tell their language
        self._error = ""  # why translation stopped for good
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._backlog = 0  # finals added and not translated yet
        self._pending: queue.Queue[Final | None] = queue.Queue()
        self._done: queue.Queue[Final | str] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="live-translation", daemon=True)

    @property
    def error(self) -> str:
        """Why no more finals are translated ("" while they are): the server refused the language
        or the model, or the connection's token or TLS file could not be read."""
        return self._error

    @property
    def backlog(self) -> int:
        """Finals queued and not translated (or failed) yet; those held until the sidecar can tell
        their language are not counted."""
        with self._lock:
            return self._backlog

    def check(self, client: SidecarClient) -> None:
        """Asks the sidecar whether it translates into the language with the model, without
        translating; raises SidecarError when it does not. The thread checks by itself too."""
        client.translate(
            [], self.language, source_language_code=self._source, options=self._options, validate_only=True
        )
        self._checked = True

    def start(self) -> LiveTranslation:
        self._thread.start()
        return self

    def add(self, final: Final) -> None:
        """Queues a final; punctuation alone (the mark of a word already sent) is left out."""
        if any(c.isalnum() for c in final.text) and not self._error and not self._stop.is_set():
            with self._lock:
                self._backlog += 1
            self._pending.put(final)

    def take(self) -> list[Final | str]:
        """Translated finals, and notices (str) of translations that failed."""
        taken = []
        while not self._done.empty():
            taken.append(self._done.get_nowait())
        return taken

    def finish(self, timeout: float = FINISH_SECONDS) -> list[Final | str]:
        """Waits for the queued translations (at most `timeout` seconds); what take() would give."""
        self._pending.put(None)
        self._thread.join(timeout)
        return self.take()

    def stop(self) -> None:
        """Drops the queued finals; the thread ends after the translation under way, unwaited."""
        self._stop.set()
        self._pending.put(None)

    def _run(self) -> None:
        try:
            with self._connection.open() as client:
                self._check_early(client)
                while not self._error and (final := self._pending.get()) is not None and not self._stop.is_set():
                    try:
                        self._translate(client, final)
                    finally:
                        with self._lock:
                            self._backlog -= 1
        except SidecarError as exc:  # the token or TLS roots file could not be read
            self._fail(exc)
        for final in [] if self._stop.is_set() else self._unsure:
            self._done.put(f"could not translate {final.text!r}: the sidecar could not tell its language")

    def _check_early(self, client: SidecarClient) -> None:
        """Says at once when the language or model is refused; a sidecar that is not up yet is
        asked again with the first final."""
        if self._checked:
            return
        try:
            self.check(client)
        except SidecarError as exc:
            if exc.code not in RETRY_CODES:
                self._fail(exc)

    def _translate(self, client: SidecarClient, final: Final) -> None:
        finals, self._unsure = [*self._unsure, final], []
        try:
            if not self._checked:
                self.check(client)
            reply = client.translate(
                [f.text for f in finals], self.language, source_language_code=self._source, options=self._options
            )
        except SidecarError as exc:
            if not self._checked and exc.code not in RETRY_CODES:
                self._fail(exc)
            elif not self._source and exc.code == grpc.StatusCode.INVALID_ARGUMENT and len(finals) < UNSURE_FINALS:
                self._unsure = finals  # too few words to tell their language: again with the next final's
            else:
                self._done.put(f"could not translate {' '.join(f.text for f in finals)!r}: {exc}")
            return
        self._source = self._source or reply.detected_language_code
        for original, translation in zip(finals, reply.translations):
            self._deliver(Final(translation.translated_text, spread(translation.translated_text, original.words)))

    def _deliver(self, translated: Final) -> None:
        if self.writer is not None:
            try:
                self.writer.add(translated)
            except OSError as exc:
                self._done.put(f"cannot write {self.writer.path}: {exc}; translations go on here only")
                self.writer = None
        self._done.put(translated)

    def _fail(self, exc: SidecarError) -> None:
        self._error = str(exc)
        self._done.put(f"no translations into {self.language}: {exc}")


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

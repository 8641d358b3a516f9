"""Recognized speech translated a sentence at a time into other languages, live and from files.

Translation models were trained on sentences, and a live final or a Whisper segment is often a
few words of one ("He could wait"), so words are gathered into sentences first. A sentence
ends at its closing mark, at the end of the audio, at an endpoint of a stream (the speaker
paused), or once it is MAX_SENTENCE_CHARS long, so that a speaker who never pauses still gets
translations.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from sidecar.engines import languages, translation, whisper
from sidecar.engines.streaming import SENTENCE_END
from sidecar.errors import InvalidOptionsError
from sidecar.pipelines.translate import load_translator

MAX_TARGETS = 4  # each target translates every sentence again
MAX_SENTENCE_CHARS = 200


@dataclasses.dataclass(frozen=True)
class SpeechTranslation:
    """What a recognition request asks to translate into: SpeechTranslationConfig."""

    target_codes: tuple[str, ...]
    model: str  # "" for the default
    options: translation.TranslationOptions


@dataclasses.dataclass(frozen=True)
class Sentence:
    text: str
    start: float
    end: float


@dataclasses.dataclass(frozen=True)
class TranslatedSentence:
    sentence: Sentence
    language: languages.Language
    text: str


class Sentences:
    """Final words gathered into sentences, in order."""

    def __init__(self) -> None:
        self._words: list[whisper.Word] = []

    def add(self, words: Iterable[whisper.Word]) -> list[Sentence]:
        """The sentences these final words complete."""
        done = []
        for word in words:
            if not word.text.strip():
                continue
            if not self._words and not word.text.startswith(" ") and not _has_letters(word.text):
                continue  # the closing mark of a sentence already sent (settled after an endpoint)
            self._words.append(word)
            text = _joined(self._words)
            if text.endswith(SENTENCE_END) or len(text) >= MAX_SENTENCE_CHARS:
                done += self.flush()
        return done

    def flush(self) -> list[Sentence]:
        """What is gathered, as a sentence of its own (at an endpoint, at the end)."""
        words, self._words = self._words, []
        text = _joined(words)
        if not _has_letters(text):
            return []
        return [Sentence(text, words[0].start, words[-1].end)]


class SentenceTranslator:
    """The models that translate speech from `source` into each target, loaded and checked
    when made, so that a bad language or model fails the request before any result."""

    def __init__(self, runtime, source: languages.Language, request: SpeechTranslation) -> None:
        targets = [languages.parse(code, "target") for code in request.target_codes]
        if not targets or len(targets) > MAX_TARGETS:
            raise InvalidOptionsError(f"translation takes 1 to {MAX_TARGETS} target languages, got {len(targets)}")
        codes = [t.code for t in targets]
        if len(set(codes)) < len(codes):
            raise InvalidOptionsError(f"a target language is given twice: {', '.join(codes)}")
        for target in targets:
            if target.base == source.base:
                raise InvalidOptionsError(f"the speech is already in {target.code}: translate into another language")
        self.source = source
        self.options = request.options
        self.translators = [(target, *load_translator(runtime, request.model, source, target)) for target in targets]

    def translate(self, sentence: Sentence) -> list[TranslatedSentence]:
        """The sentence in every target language, in the order the targets were given."""
        return [
            TranslatedSentence(
                sentence, target, translator.translate([sentence.text], self.source, target, self.options)[0]
            )
            for target, translator, _ in self.translators
        ]


def sentence_translator(
    runtime, request: SpeechTranslation, language: str | None, engine: whisper.WhisperEngine
) -> SentenceTranslator:
    """The translator of a recognition request: the speech's language is the request's, or
    English for an English-only model."""
    if language:
        source = languages.parse(language, "source")
    elif not engine.multilingual:
        source = languages.parse("en", "source")
    else:
        raise InvalidOptionsError(
            f"translation needs the speech's language: set `language_code` (model {engine.name!r} "
            "detects it, and may tell different languages apart within a sentence)"
        )
    return SentenceTranslator(runtime, source, request)


def _joined(words: list[whisper.Word]) -> str:
    return "".join(w.text for w in words).strip()


def _has_letters(text: str) -> bool:
    return any(c.isalnum() for c in text)

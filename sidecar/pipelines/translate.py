"""Texts translated into one language: languages checked, the model picked and loaded, texts decoded."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

from sidecar.engines import languages, translation, translation_models
from sidecar.errors import InvalidOptionsError
from sidecar.runtime.events import Finished, JobEvent, Progress
from sidecar.runtime.threads import CancelToken


@dataclasses.dataclass(frozen=True)
class TranslationRequest:
    """A Translate call in domain terms, checked when made: nothing loads for a bad one."""

    texts: tuple[str, ...]
    target: languages.Language
    source: languages.Language | None  # None: guessed from the texts
    model: str  # "" for the server's default
    options: translation.TranslationOptions
    validate_only: bool = False  # check and load, translate nothing

    @staticmethod
    def make(
        texts, target_code: str, source_code: str, model: str, options, validate_only: bool = False
    ) -> TranslationRequest:
        if not target_code.strip():
            raise InvalidOptionsError("the target language is required (an ISO 639-1 code such as es)")
        return TranslationRequest(
            texts=translation.check_texts(list(texts), allow_none=validate_only),
            target=languages.parse(target_code, "target"),
            source=languages.parse(source_code, "source") if source_code.strip() else None,
            model=model.strip(),
            options=options,
            validate_only=validate_only,
        )


@dataclasses.dataclass(frozen=True)
class TranslationResult:
    translations: tuple[str, ...]
    source: languages.Language | None  # the language translated from; None only when validating
    source_detected: bool  # guessed from the texts rather than given
    target: languages.Language
    model: str
    device: str


def source_language(request: TranslationRequest) -> tuple[languages.Language | None, bool]:
    """The source language given, else guessed from the texts: (language, guessed)."""
    if request.source is not None or not request.texts:
        return request.source, False
    guessed = languages.guess(request.texts)
    if guessed is None:
        raise InvalidOptionsError(
            "cannot tell which language the texts are in: give the source language (an ISO 639-1 code such as en)"
        )
    return languages.parse(guessed, "source"), True


def load_translator(
    runtime, model: str, source: languages.Language | None, target: languages.Language
) -> tuple[translation.Translator, str]:
    """The loaded model a request's `model` means for the pair, with the pair checked: (model, name)."""
    name = translation_models.model_for_pair(
        model or translation_models.DEFAULT_MODEL, source.base if source else None, target.base
    )
    translator: translation.Translator = runtime.model(translation.MODEL_FAMILY, name)
    translator.check_languages(source, target)
    return translator, name


def translate(runtime, request: TranslationRequest):
    """The Translate job: Finished(TranslationResult)."""

    def pipeline(token: CancelToken) -> Iterator[JobEvent]:
        source, detected = source_language(request)
        yield Progress("loading model")
        translator, name = load_translator(runtime, request.model, source, request.target)
        token.raise_if_cancelled()
        texts: list[str] = []
        if not request.validate_only:
            yield Progress("translating")
            texts = translator.translate(
                request.texts, source, request.target, request.options, check_cancelled=token.raise_if_cancelled
            )
        yield Finished(0.0, TranslationResult(tuple(texts), source, detected, request.target, name, translator.device))

    return pipeline

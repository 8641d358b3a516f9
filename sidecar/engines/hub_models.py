"""Finds transformers models by short name (in the Hugging Face cache) or as a local directory.

Shared by the model families whose weights are plain transformers checkpoints (MusicGen, AST,
CLAP). A name with a path separator, or starting with "." or "~", is a directory on the
server; any other name must be one of the family's aliases, looked up in the Hugging Face
cache, and downloaded only when the hub is reachable (never with HF_HUB_OFFLINE=1).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import pathlib
from collections.abc import Mapping

from sidecar.engines.catalogue import ModelDescription, ModelKey, loaded_fields
from sidecar.errors import ModelNotFoundError, ModelUnavailableError

log = logging.getLogger(__name__)

CONFIG_FILE = "config.json"


@dataclasses.dataclass(frozen=True)
class ResolvedModel:
    name: str  # what requests call it: the alias, or the directory's absolute path
    path: pathlib.Path
    source: str  # "local", "hub-cache" or "downloaded"


def is_local_name(name: str) -> bool:
    return os.sep in name or name.startswith((".", "~")) or pathlib.Path(name).is_absolute()


def resolve(name: str, aliases: Mapping[str, str], *, family: str, extra: str) -> ResolvedModel:
    """The model directory for an alias or a path; ModelNotFoundError names the choices."""
    name = name.strip()
    if is_local_name(name):
        path = pathlib.Path(name).expanduser().resolve()
        if not (path / CONFIG_FILE).is_file():
            raise ModelNotFoundError(
                f"{name} is not a {family} model directory on the server (no {CONFIG_FILE})")
        return ResolvedModel(str(path), path, "local")
    if name not in aliases:
        raise ModelNotFoundError(
            f"no {family} model named {name!r}: use one of {', '.join(sorted(aliases))} or a "
            "model directory on the server")
    cached = cache_path(aliases[name])
    if cached is not None:
        return ResolvedModel(name, cached, "hub-cache")
    if hub_offline():
        raise ModelNotFoundError(
            f"{name} ({aliases[name]}) is not in the Hugging Face cache and downloads are off "
            "(HF_HUB_OFFLINE=1): download it once while online, or pass a model directory")
    return ResolvedModel(name, download(aliases[name], extra), "downloaded")


def read_config(resolved: ResolvedModel):
    """The transformers config of a resolved model (ModelUnavailableError when unreadable)."""
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(resolved.path)
    except (OSError, ValueError) as exc:
        raise ModelUnavailableError(f"cannot read the model in {resolved.path}: {exc}") from None


def hub_offline() -> bool:
    try:
        from huggingface_hub import constants
    except ImportError:
        return True
    return bool(constants.HF_HUB_OFFLINE)


def cache_path(repo_id: str) -> pathlib.Path | None:
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        return None
    try:
        path = pathlib.Path(snapshot_download(repo_id, local_files_only=True))
    except (OSError, ValueError):  # not cached (the hub raises subclasses of both)
        return None
    return path if (path / CONFIG_FILE).is_file() else None


def download(repo_id: str, extra: str) -> pathlib.Path:
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise ModelUnavailableError(
            f"downloading {repo_id} needs huggingface_hub: install the sidecar's `{extra}` extra") from None
    log.info("downloading %s from the Hugging Face hub", repo_id)
    try:
        return pathlib.Path(snapshot_download(repo_id))
    except (OSError, ValueError) as exc:
        raise ModelUnavailableError(f"could not download {repo_id}: {exc}") from None


def describe(runtime, *, family: str, kind: str, aliases: Mapping[str, str], default: str,
             capabilities: tuple[str, ...]) -> list:
    """ListModels entries: the aliases found in the cache, then every other loaded directory.
    Loaded models are keyed ModelKey.for_path(kind, path) in the runtime's registry."""

    loaded = {entry.key.location: entry for entry in runtime.models.loaded() if entry.key.family == kind}
    described = []
    for alias, repo_id in sorted(aliases.items()):
        cached = cache_path(repo_id)
        if cached is None:
            continue
        entry = loaded.pop(ModelKey.for_path(kind, cached).location, None)
        described.append(ModelDescription(
            name=alias, family=family, capabilities=capabilities, source="hub-cache",
            path=str(cached), **loaded_fields(entry),
            is_default=alias == default))
    for path, entry in sorted(loaded.items()):
        described.append(ModelDescription(
            name=path, family=family, capabilities=capabilities, source="local", path=path,
            **loaded_fields(entry)))
    return described

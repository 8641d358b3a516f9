"""Finds transformers models by short name (in the Hugging Face cache) or as a local directory.

Shared by the model families whose weights are plain transformers checkpoints (MusicGen, AST,
CLAP). A name with a path separator, or starting with "." or "~", is a directory on the
server; any other name must be one of the family's aliases, looked up in the Hugging Face
cache, and downloaded only when the hub is reachable (never with HF_HUB_OFFLINE=1).
"""

from __future__ import annotations

import logging
import os
import pathlib
from collections.abc import Mapping

from sidecar.engines.catalogue import ResolvedModel
from sidecar.errors import ModelNotFoundError, ModelUnavailableError

log = logging.getLogger(__name__)

CONFIG_FILE = "config.json"


def is_local_name(name: str) -> bool:
    return os.sep in name or name.startswith((".", "~")) or pathlib.Path(name).is_absolute()


def resolve(
    name: str,
    aliases: Mapping[str, str],
    *,
    family: str,
    what: str,
    extra: str,
    capabilities: tuple[str, ...],
    downloads: bool = True,
) -> ResolvedModel:
    """The model directory for an alias or a path; ModelNotFoundError names the choices.
    `family` is the catalogue's name, `what` the one messages use."""
    name = name.strip()

    def found(name: str, path: pathlib.Path, source: str) -> ResolvedModel:
        return _found(family, name, path, source, capabilities)

    if is_local_name(name):
        path = pathlib.Path(name).expanduser().resolve()
        if not (path / CONFIG_FILE).is_file():
            raise ModelNotFoundError(f"{name} is not a {what} model directory on the server (no {CONFIG_FILE})")
        return found(str(path), path, "local")
    if name not in aliases:
        raise ModelNotFoundError(
            f"no {what} model named {name!r}: use one of {', '.join(sorted(aliases))} or a "
            "model directory on the server"
        )
    cached = cache_path(aliases[name])
    if cached is not None:
        return found(name, cached, "hub-cache")
    if hub_offline():
        raise ModelNotFoundError(
            f"{name} ({aliases[name]}) is not in the Hugging Face cache and downloads are off "
            "(HF_HUB_OFFLINE=1): download it once while online, or pass a model directory"
        )
    if not downloads:
        raise not_downloaded(name, aliases[name])
    return found(name, download(aliases[name], extra), "downloaded")


def not_downloaded(name: str, repo_id: str) -> ModelNotFoundError:
    """For a check that may not download: why the model is not there, and how it gets there."""
    return ModelNotFoundError(
        f"{name} ({repo_id}) is not downloaded yet: `sidecar models pull {name}`, or the first request for it "
        "downloads it"
    )


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
            f"downloading {repo_id} needs huggingface_hub: install the sidecar's `{extra}` extra"
        ) from None
    log.info("downloading %s from the Hugging Face hub", repo_id)
    try:
        return pathlib.Path(snapshot_download(repo_id))
    except (OSError, ValueError) as exc:
        raise ModelUnavailableError(f"could not download {repo_id}: {exc}") from None


def installed(aliases: Mapping[str, str], *, family: str, capabilities: tuple[str, ...]) -> list[ResolvedModel]:
    """The aliases whose models the Hugging Face cache holds."""
    found = []
    for alias, repo_id in sorted(aliases.items()):
        cached = cache_path(repo_id)
        if cached is not None:
            found.append(_found(family, alias, cached, "hub-cache", capabilities))
    return found


def _found(family: str, name: str, path: pathlib.Path, source: str, capabilities: tuple[str, ...]) -> ResolvedModel:
    return ResolvedModel(family, ResolvedModel.real_path(path), name, source, str(path), capabilities)

"""The model catalogue's contract: how a family finds, loads and lists its models.

Every model family (Whisper, DeepFilterNet, XTTS, Demucs, the two diarizers, MusicGen, the
event classifiers) is a ModelFamily. The runtime resolves a request's model name through it,
keeps one loaded copy per ResolvedModel in its registry, and lists every family's models for
ListModels from `installed` plus whatever the registry holds.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from typing import Any

from sidecar.errors import PermissionDeniedError


@dataclasses.dataclass(frozen=True)
class ModelSettings:
    """The server settings that decide which model a name means and where it runs (the
    ServerConfig fields of the same names)."""

    device: str
    cpu_threads: int
    default_whisper_model: str
    agree_coqui_license: bool
    demucs_repositories: tuple[str, ...]
    models_dirs: tuple[str, ...]  # where requests may name model directories (--models-dir)
    allow_client_model_paths: bool  # any path or hub id a request names (unsafe beyond loopback)
    # Whether resolving a hub model missing from the cache may download it: not for the
    # server's health checks, which would otherwise fetch every family's default at start.
    downloads: bool = True


@dataclasses.dataclass(frozen=True)
class ResolvedModel:
    """A model a name resolved to. It is equal to another, and hashes, by family and location
    only: one set of weights is one registry entry however a request spelled it."""

    family: str
    location: str  # the weights' real path, or a name for what has none (a hub id, a built-in)
    name: str = dataclasses.field(compare=False)  # what requests and ListModels call it
    source: str = dataclasses.field(compare=False)  # "embedded", "local", "hub-cache", "downloaded"...
    path: str = dataclasses.field(compare=False, default="")  # shown by ListModels
    capabilities: tuple[str, ...] = dataclasses.field(compare=False, default=())  # sidecar.v1.Capability names

    @staticmethod
    def real_path(path: str | os.PathLike) -> str:
        """The location of weights on disk: "/models/x/../x" and a symlink to it are one model."""
        return os.path.realpath(os.path.expanduser(os.fspath(path)))


@dataclasses.dataclass(frozen=True)
class ModelFamily:
    """One family's catalogue entry points. `load` returns (model, device) and runs once per
    ResolvedModel while the registry keeps it."""

    name: str
    resolve: Callable[[str | None, ModelSettings], ResolvedModel]
    load: Callable[[ResolvedModel, ModelSettings], tuple[Any, str]]
    installed: Callable[[ModelSettings], list[ResolvedModel]]  # what ListModels shows unloaded
    default: Callable[[ModelSettings], str]  # the name a request that names none gets

    def load_alone(self, name: str | None, settings: ModelSettings) -> tuple[Any, str, ResolvedModel]:
        """(model, device, resolved) outside any registry, for benchmarks and tests of one engine;
        the server loads through Runtime.model."""
        resolved = self.resolve(name, settings)
        return (*self.load(resolved, settings), resolved)


@dataclasses.dataclass(frozen=True)
class ModelDescription:
    """A model as ListModels reports it."""

    name: str
    family: str
    capabilities: tuple[str, ...]  # names of sidecar.v1.Capability without the prefix
    source: str
    path: str
    loaded: bool = False
    device: str = ""
    is_default: bool = False
    memory_bytes: int = 0  # what loading it took, RAM and GPU; 0 when not loaded
    last_used: float | None = None  # time.time() of its last use; None when not loaded


def check_requested_name(name: str, family: ModelFamily, settings: ModelSettings) -> None:
    """Refuses a model name from a request that points outside what the operator allows.

    Model files are code as much as data (pickled checkpoints, pipeline configs that name
    classes), so a request may name an alias, the family's default, or a directory under one of
    the operator's model roots, resolved through symlinks and "..". Any other path or hub id
    needs allow_client_model_paths. The refusal reads the same whether the path exists or not.
    """
    if settings.allow_client_model_paths or name == family.default(settings):
        return
    looks_like_location = name.startswith((".", "~")) or any(sep and sep in name for sep in (os.sep, os.altsep))
    if not looks_like_location:
        return  # an alias: each family resolves only the names it knows
    real = ResolvedModel.real_path(name)
    roots = [ResolvedModel.real_path(root) for root in (*settings.models_dirs, *family_roots(family, settings))]
    if any(os.path.commonpath([real, root]) == root for root in roots):
        return
    raise PermissionDeniedError(
        f"the {family.name} model {name!r} is not under the server's model directories: a request may name "
        "an installed model, or a directory under a --models-dir of the server (its operator can allow any "
        "path or hub id with --allow-client-model-paths)"
    )


def family_roots(family: ModelFamily, settings: ModelSettings) -> tuple[str, ...]:
    """Roots the operator configured for one family alone (Demucs repositories)."""
    return settings.demucs_repositories if family.name == "demucs" else ()


def describe(family: ModelFamily, resolved: ResolvedModel, settings: ModelSettings, entry) -> ModelDescription:
    """A ListModels entry for a resolved model and its registry entry (None: not loaded)."""
    loaded = (
        {}
        if entry is None
        else {"loaded": True, "device": entry.device, "memory_bytes": entry.memory_bytes, "last_used": entry.last_used}
    )
    return ModelDescription(
        name=resolved.name,
        family=resolved.family,
        capabilities=resolved.capabilities,
        source=resolved.source,
        path=resolved.path,
        is_default=resolved.name == family.default(settings),
        **loaded,
    )

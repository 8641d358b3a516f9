"""What each model family reports to ListModels. Engines build these; the runtime collects them."""

from __future__ import annotations

import dataclasses
import os


@dataclasses.dataclass(frozen=True)
class ModelKey:
    """How the registry knows a loaded model: its family and where it comes from, one key per
    set of weights however a request spelled it."""

    family: str
    location: str  # the weights' real path, or a name for what has none (a hub id, a built-in)

    @classmethod
    def for_path(cls, family: str, path: str | os.PathLike) -> ModelKey:
        """The key of weights on disk: "/models/x/../x" and a symlink to it are the same key."""
        return cls(family, os.path.realpath(os.path.expanduser(os.fspath(path))))


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


def loaded_fields(entry) -> dict:
    """The ModelDescription fields a registry entry fills (None: the model is not loaded)."""
    if entry is None:
        return {"loaded": False}
    return {"loaded": True, "device": entry.device, "memory_bytes": entry.memory_bytes,
            "last_used": entry.last_used}

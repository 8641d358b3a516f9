"""What each model family reports to ListModels. Engines build these; the runtime collects them."""

from __future__ import annotations

import dataclasses


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

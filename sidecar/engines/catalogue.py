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

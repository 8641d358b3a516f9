"""Loads each model once and shares it across calls.

Loading is blocking and can take seconds; concurrent first requests for the same model wait
for one load instead of loading it twice.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Hashable
from typing import Any

log = logging.getLogger(__name__)


@dataclasses.dataclass
class LoadedModel:
    key: Hashable
    model: Any
    device: str
    source: str  # where the weights came from, for logs and ListModels
    load_seconds: float


class ModelRegistry:
    def __init__(self) -> None:
        self._models: dict[Hashable, LoadedModel] = {}
        self._locks: dict[Hashable, threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, key: Hashable, load: Callable[[], tuple[Any, str, str]]) -> LoadedModel:
        """Returns the model for key, calling load() -> (model, device, source) the first time."""
        with self._guard:
            if key in self._models:
                return self._models[key]
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key in self._models:
                return self._models[key]
            started = time.perf_counter()
            model, device, source = load()
            entry = LoadedModel(key, model, device, source, time.perf_counter() - started)
            log.info("loaded model %s from %s on %s in %.2f s", key, source, device, entry.load_seconds)
            with self._guard:
                self._models[key] = entry
            return entry

    def find(self, key: Hashable) -> LoadedModel | None:
        with self._guard:
            return self._models.get(key)

    def loaded(self) -> list[LoadedModel]:
        with self._guard:
            return list(self._models.values())

"""The shared state every servicer uses: the config, loaded models and the job queue."""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

from sidecar.config import ServerConfig
from sidecar.engines import (
    audio_events,
    deepfilter,
    demucs_engine,
    diarization,
    musicgen,
    pyannote_backend,
    translation,
    whisper,
    xtts,
)
from sidecar.engines.catalogue import ModelDescription, ModelFamily, check_requested_name, describe
from sidecar.errors import ModelNotFoundError, ModelUnavailableError
from sidecar.runtime.jobs import JobQueue
from sidecar.runtime.metrics import Metrics
from sidecar.runtime.priority import ComputeGate
from sidecar.runtime.registry import ModelRegistry

log = logging.getLogger(__name__)

# Every model family, in the order ListModels lists them.
MODEL_FAMILIES: tuple[ModelFamily, ...] = (
    whisper.MODEL_FAMILY,
    deepfilter.MODEL_FAMILY,
    xtts.MODEL_FAMILY,
    demucs_engine.MODEL_FAMILY,
    diarization.MODEL_FAMILY,
    pyannote_backend.MODEL_FAMILY,
    musicgen.MODEL_FAMILY,
    audio_events.MODEL_FAMILY,
    translation.MODEL_FAMILY,
)


class Runtime:
    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.model_settings = config.model_settings()
        self.metrics = Metrics(self._state)
        self.models = ModelRegistry(config.max_model_memory, on_load=self.metrics.model_loaded)
        # Live streams and file jobs take turns of their class at each step (see priority).
        self.gate = ComputeGate()
        self.jobs = JobQueue(
            config.max_running_jobs, config.max_waiting_jobs, scope=self.models.job_scope, gate=self.gate
        )
        # Set when the server begins to stop: live streams, which never end by themselves, end.
        self.stopping = threading.Event()
        self.live_streams: Counter[str] = Counter()  # open now, by service (on the event loop)
        # Why each family's default model cannot load (None: it can), as last found; a change
        # is reported to `on_family_health(family, problem)` (the health service's statuses).
        self.family_problems: dict[str, str | None] = {}
        self.on_family_health: Callable[[str, str | None], None] | None = None

    def _state(self) -> dict[str, Any]:
        return {
            "running": self.jobs.running,
            "waiting": self.jobs.waiting,
            "live": dict(self.live_streams),
            "models": [(e.key.family, e.key.name, e.device, e.memory_bytes) for e in self.models.loaded()],
        }

    def check_family(self, family: ModelFamily) -> str | None:
        """Whether the family's default model can be found and its library imported (without
        loading it): None, or why not. Blocking (a family's resolve may import its library)."""
        try:
            family.resolve(None, dataclasses.replace(self.model_settings, downloads=False))
            problem = None
        except (ModelUnavailableError, ModelNotFoundError, ImportError) as exc:
            problem = str(exc)
        self._family_health(family.name, problem)
        return problem

    def _family_health(self, family: str, problem: str | None) -> None:
        if self.family_problems.get(family, "") != problem:
            self.family_problems[family] = problem
            if self.on_family_health is not None:
                self.on_family_health(family, problem)

    def model(self, family: ModelFamily, name: str | None = None, *, requested: bool = True) -> Any:
        """The loaded model a name means in a family (the family's default when empty): the
        one path by which any model loads, once, kept by the registry within its budget.
        A name a request gave must be one the operator allows; `requested=False` is for names
        from the server's own settings."""
        if name and requested:
            check_requested_name(name, family, self.model_settings)
        try:
            resolved = family.resolve(name, self.model_settings)
            model = self.models.get(resolved, lambda: family.load(resolved, self.model_settings)).model
        except (ModelUnavailableError, ModelNotFoundError) as exc:
            if not name:  # the family's default cannot load: its services stop serving
                self._family_health(family.name, str(exc))
            raise
        if not name:
            self._family_health(family.name, None)
        return model

    def whisper(self, name: str | None, *, requested: bool = True) -> whisper.WhisperEngine:
        return self.model(whisper.MODEL_FAMILY, name, requested=requested)

    def describe_models(self) -> list[ModelDescription]:
        """Every family's installed models, then whatever else the registry holds."""
        described = []
        for family in MODEL_FAMILIES:
            installed = family.installed(self.model_settings)
            loaded = [e.key for e in self.models.loaded() if e.key.family == family.name and e.key not in installed]
            described += [
                describe(family, resolved, self.model_settings, self.models.find(resolved))
                for resolved in [*installed, *sorted(loaded, key=lambda r: r.name)]
            ]
        return described

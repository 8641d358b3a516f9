"""The shared state every servicer uses: the config, loaded models and the job queue."""

from __future__ import annotations

import logging
import threading
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
from sidecar.runtime.jobs import JobQueue
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
        self.models = ModelRegistry(config.max_model_memory)
        self.jobs = JobQueue(config.max_running_jobs, config.max_waiting_jobs, scope=self.models.job_scope)
        # Set when the server begins to stop: live streams, which never end by themselves, end.
        self.stopping = threading.Event()

    def model(self, family: ModelFamily, name: str | None = None, *, requested: bool = True) -> Any:
        """The loaded model a name means in a family (the family's default when empty): the
        one path by which any model loads, once, kept by the registry within its budget.
        A name a request gave must be one the operator allows; `requested=False` is for names
        from the server's own settings."""
        if name and requested:
            check_requested_name(name, family, self.model_settings)
        resolved = family.resolve(name, self.model_settings)
        return self.models.get(resolved, lambda: family.load(resolved, self.model_settings)).model

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

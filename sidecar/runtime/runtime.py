"""The shared state every servicer uses: the config, loaded models and the job queue."""

from __future__ import annotations

import logging

from sidecar.config import ServerConfig
from sidecar.engines import audio_events, deepfilter, demucs_models, diarization_models, musicgen, xtts_models
from sidecar.engines.catalogue import ModelDescription, ModelKey, loaded_fields
from sidecar.runtime.jobs import JobQueue
from sidecar.runtime.registry import ModelRegistry

log = logging.getLogger(__name__)


class Runtime:
    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.models = ModelRegistry(config.max_model_memory)
        self.jobs = JobQueue(config.max_running_jobs, config.max_waiting_jobs, scope=self.models.job_scope)

    def whisper(self, name: str | None):
        """The loaded Whisper engine for a model name (the server default when empty)."""
        from sidecar.engines import whisper, whisper_models

        resolved = whisper_models.resolve(name or self.config.default_whisper_model)
        entry = self.models.get(ModelKey.for_path("whisper", resolved.path),
                                lambda: whisper.load(resolved, self.config.device, self.config.cpu_threads))
        return entry.model

    def describe_models(self) -> list[ModelDescription]:
        """Every family's installed models (see MODEL_DESCRIBERS)."""
        return [m for describe in MODEL_DESCRIBERS for m in describe(self)]

    def describe_whisper_models(self) -> list[ModelDescription]:
        from sidecar.engines import whisper_models

        loaded = {e.key.location: e for e in self.models.loaded() if e.key.family == "whisper"}
        described = []
        for m in whisper_models.list_installed():
            entry = next((e for path, e in loaded.items()
                          if path == str(m.path) or path.endswith(f"whisper-{m.name}")), None)
            caps = ("TRANSCRIPTION", "STREAMING_RECOGNITION")
            if m.multilingual:
                caps += ("TRANSLATION", "LANGUAGE_DETECTION")
            described.append(ModelDescription(
                name=m.name, family="whisper", capabilities=caps, source=m.source,
                path=str(m.path), **loaded_fields(entry),
                is_default=m.name == self.config.default_whisper_model,
            ))
        return described


# One function per model family, Runtime -> [ModelDescription], for ListModels.
MODEL_DESCRIBERS = [Runtime.describe_whisper_models, deepfilter.describe_models, xtts_models.describe_models,
                    demucs_models.describe_models, diarization_models.describe_models,
                    musicgen.describe_models, audio_events.describe_models]

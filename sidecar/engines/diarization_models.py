"""Which diarization backends this server can run, for ListModels."""

from __future__ import annotations

import importlib.util
import os

from sidecar.engines.catalogue import ModelDescription, ModelKey, loaded_fields

FAMILY = "diarization"
PYANNOTE_FAMILY = "pyannote"
OFFLINE_KEY = ModelKey(FAMILY, "offline")  # registry key of the offline default
OFFLINE_NAME = "offline"
_OFFLINE_PACKAGES = ("resemblyzer", "faster_whisper", "sklearn")


def pyannote_key(name: str) -> ModelKey:
    """Registry key of a pyannote pipeline: its directory's real path, or its hub id."""
    if os.sep in name or name.startswith((".", "~")):
        return ModelKey.for_path(PYANNOTE_FAMILY, name)
    return ModelKey(PYANNOTE_FAMILY, name)


def describe_models(runtime) -> list:
    """ListModels entries (Runtime -> [ModelDescription]): the offline default when its
    packages are installed, and each pyannote pipeline this server has loaded or finds in
    the Hugging Face cache."""

    loaded = {e.key: e for e in runtime.models.loaded() if e.key.family in (FAMILY, PYANNOTE_FAMILY)}
    described = []
    if all(importlib.util.find_spec(p) for p in _OFFLINE_PACKAGES):
        entry = loaded.get(OFFLINE_KEY)
        encoder_dir = importlib.util.find_spec("resemblyzer").submodule_search_locations[0]
        described.append(ModelDescription(
            name=OFFLINE_NAME, family="silero-ge2e", capabilities=("DIARIZATION",),
            source="embedded", path=str(encoder_dir), **loaded_fields(entry), is_default=True))
    pipelines = {key.location: entry for key, entry in loaded.items() if key.family == PYANNOTE_FAMILY}
    cached = _cached_default_pipeline()
    for name in sorted({*pipelines, *([cached[0]] if cached else [])}):
        entry = pipelines.get(name)
        local = entry is not None and entry.source.startswith("local")
        described.append(ModelDescription(
            name=name, family="pyannote", capabilities=("DIARIZATION",),
            source="local" if local else "hub-cache",
            path=entry.source.split(" ", 1)[-1] if entry else cached[1],
            **loaded_fields(entry)))
    return described


def _cached_default_pipeline() -> tuple[str, str] | None:
    """(hub id, directory) of the default pyannote pipeline if the Hugging Face cache has it."""
    if importlib.util.find_spec("huggingface_hub") is None:
        return None
    from huggingface_hub import try_to_load_from_cache

    from sidecar.engines.pyannote_backend import DEFAULT_PIPELINE, PIPELINE_FILE

    found = try_to_load_from_cache(DEFAULT_PIPELINE, PIPELINE_FILE)
    return (DEFAULT_PIPELINE, found.rsplit("/", 1)[0]) if isinstance(found, str) else None

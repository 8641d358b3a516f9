"""The offline diarizer as a catalogue entry: installed when its packages are."""

from __future__ import annotations

import importlib.util

from sidecar.engines.catalogue import ModelSettings, ResolvedModel
from sidecar.errors import ModelUnavailableError

FAMILY = "silero-ge2e"
OFFLINE_NAME = "offline"
_OFFLINE_PACKAGES = ("resemblyzer", "faster_whisper", "sklearn")


def resolve(name: str | None, settings: ModelSettings) -> ResolvedModel:
    """The offline diarizer's one model (DiarizationOptions refuse a model name for it)."""
    found = installed(settings)
    if not found:
        raise ModelUnavailableError(
            "the offline diarizer needs resemblyzer, faster-whisper and scikit-learn: install "
            "the sidecar's `diarize` extra"
        )
    return found[0]


def installed(settings: ModelSettings) -> list[ResolvedModel]:
    if not all(importlib.util.find_spec(p) for p in _OFFLINE_PACKAGES):
        return []
    encoder_dir = importlib.util.find_spec("resemblyzer").submodule_search_locations[0]
    return [ResolvedModel(FAMILY, OFFLINE_NAME, OFFLINE_NAME, "embedded", str(encoder_dir), ("DIARIZATION",))]

"""ListModels for every replica of a Ray Serve deployment: Serve sends each call to one
replica, so each posts its own answer to a small named actor (ModelsBoard) every few seconds,
and the one that takes the call merges the others' into its own (merged_models)."""

from __future__ import annotations

import time

from sidecar.v1 import models_pb2

MODELS_BOARD = "sidecar-models"  # the named actor where the replicas post their models
POST_SECONDS = 2.0  # how often a replica posts them
FRESH_SECONDS = 10.0  # a post older than this is of a replica that went away
READ_BOARD_SECONDS = 2.0  # longest wait to read the board: one on a lost node must not hold ListModels up
POST_BOARD_SECONDS = 30.0  # longest wait to post to it, its first start included


class ModelsBoard:
    """A Ray actor holding each replica's latest ListModels answer, serialized, so that the
    replica a call reaches can answer for all of them."""

    def __init__(self) -> None:
        self._posts: dict[str, tuple[float, bytes]] = {}

    def post(self, replica: str, listed: bytes) -> None:
        self._posts[replica] = (time.monotonic(), listed)

    def others(self, replica: str) -> list[bytes]:
        now = time.monotonic()
        return [listed for r, (at, listed) in self._posts.items() if r != replica and now - at < FRESH_SECONDS]


def merged_models(
    own: models_pb2.ListModelsResponse, others: list[models_pb2.ListModelsResponse], capability: int
) -> models_pb2.ListModelsResponse:
    """One ListModels answer for every replica: each model any of them lists, loaded when one
    has it loaded (with that one's device), its memory summed over the replicas and its last
    use the latest. `own` is already filtered by capability; the others' answers are whole."""
    merged: dict[tuple[str, str], models_pb2.ModelInfo] = {}
    for answer in [own, *others]:
        for info in answer.models:
            if capability and capability not in info.capabilities:
                continue
            seen = merged.get((info.family, info.name))
            if seen is None:
                merged[info.family, info.name] = models_pb2.ModelInfo()
                merged[info.family, info.name].CopyFrom(info)
                continue
            if info.loaded and not seen.loaded:
                seen.loaded, seen.device = True, info.device
            seen.memory_bytes += info.memory_bytes
            if info.last_use_time.ToNanoseconds() > seen.last_use_time.ToNanoseconds():
                seen.last_use_time.CopyFrom(info.last_use_time)
    return models_pb2.ListModelsResponse(models=[merged[key] for key in sorted(merged)])

"""Loads each model once, shares it across calls, and keeps loaded models within a memory budget.

Loading is blocking and can take seconds; concurrent first requests for the same model wait
for one load instead of loading it twice.

Each load is measured: what it added to the memory in use on the GPUs, as the NVIDIA driver
counts it (CTranslate2's allocations included; torch's own count where no driver answers), plus
the more of what it added to the process's resident memory and to the bytes malloc has handed
out (the first model of a library also pays for importing it, and for its CUDA context).
Resident memory alone misses a model loaded into memory the process had freed and malloc kept,
as after an unload; malloc's count misses weights mapped from their files. A model counts as the
most any of its loads measured. With a budget (`max_model_memory`), the least recently used idle
models are unloaded before a model whose size is known from an earlier load would exceed it,
after any load that did, and when a job ends. A model is in use while a job that asked for it
runs (`job_scope`); those are never unloaded, so a budget smaller than the models one job needs
is exceeded rather than failing the job, until the job ends. Unloading drops the registry's
reference: a live stream still holding the model keeps it until the stream ends.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from sidecar.engines.catalogue import ResolvedModel
from sidecar.runtime import devices, memory

log = logging.getLogger(__name__)

_job = threading.local()  # .held: the entries the job on this thread asked for


@dataclasses.dataclass
class LoadedModel:
    key: ResolvedModel
    model: Any
    device: str
    load_seconds: float
    memory_bytes: int = 0  # what loading it added to RAM and GPU memory
    last_used: float = 0.0  # time.time() of the last call that asked for it
    users: int = 0  # jobs running that asked for it


@dataclasses.dataclass(frozen=True)
class MemoryInUse:
    resident: int  # the process's resident bytes
    allocated: int  # bytes malloc has handed out and not had back (0 where malloc does not say)
    gpu: int  # in use on the GPUs (by the driver's count, else torch's allocations)

    @staticmethod
    def now() -> MemoryInUse:
        try:
            with open("/proc/self/statm") as statm:
                resident = int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, IndexError):
            import resource  # not Linux: the peak is the best the platform says

            resident = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        gpu = devices.gpu_memory_used()
        if gpu is None:  # no NVIDIA driver to ask: what torch allocated, if anything
            cuda = _torch_cuda()
            initialized = cuda is not None and cuda.is_available() and cuda.is_initialized()
            gpu = sum(cuda.memory_allocated(i) for i in range(cuda.device_count())) if initialized else 0
        return MemoryInUse(resident, memory.malloc_in_use(), gpu)

    def added_since(self, before: MemoryInUse) -> int:
        host = max(self.resident - before.resident, self.allocated - before.allocated)
        return max(0, host) + max(0, self.gpu - before.gpu)


def _torch_cuda():
    """torch.cuda if torch is imported (completely: another thread may be importing it)."""
    return getattr(sys.modules.get("torch"), "cuda", None)


class ModelRegistry:
    def __init__(self, max_bytes: int = 0, on_load: Callable[[str, float], None] | None = None) -> None:
        self.max_bytes = max_bytes  # 0: no budget
        self._on_load = on_load  # (family, seconds) after each load
        self.load_count = 0
        self.unload_count = 0
        self._models: dict[ResolvedModel, LoadedModel] = {}
        self._locks: dict[ResolvedModel, threading.Lock] = {}
        self._sizes: dict[ResolvedModel, int] = {}  # measured at the last load, kept after unloading
        self._guard = threading.Lock()

    def get(self, key: ResolvedModel, load: Callable[[], tuple[Any, str]]) -> LoadedModel:
        """Returns the model for key, calling load() -> (model, device) when it is not
        loaded; inside a job_scope the model counts as in use until the job ends."""
        with self._guard:
            entry = self._models.get(key)
            if entry is None:
                lock = self._locks.setdefault(key, threading.Lock())
        if entry is None:
            with lock:
                entry = self.find(key) or self._load(key, load)
        with self._guard:
            entry.last_used = time.time()
            held = getattr(_job, "held", None)
            if held is not None and key not in held:
                held[key] = entry
                entry.users += 1
        return entry

    def _load(self, key: ResolvedModel, load: Callable[[], tuple[Any, str]]) -> LoadedModel:
        self._make_room(self._sizes.get(key, 0), keep=key)
        before = MemoryInUse.now()
        started = time.perf_counter()
        model, device = load()
        measured = max(MemoryInUse.now().added_since(before), self._sizes.get(key, 0))
        entry = LoadedModel(
            key, model, device, time.perf_counter() - started, memory_bytes=measured, last_used=time.time()
        )
        log.info(
            "loaded %s model %s (%s %s) on %s in %.2f s (%.0f MiB)",
            key.family,
            key.name,
            key.source,
            key.path or key.location,
            device,
            entry.load_seconds,
            entry.memory_bytes / (1 << 20),
        )
        with self._guard:
            self._models[key] = entry
            self._sizes[key] = entry.memory_bytes
            self.load_count += 1
        if self._on_load is not None:
            self._on_load(key.family, entry.load_seconds)
        self._make_room(0, keep=key)
        return entry

    def _make_room(self, needed: int, keep: ResolvedModel | None) -> None:
        """Unloads the least recently used idle models until `needed` more bytes fit the budget."""
        if not self.max_bytes:
            return
        unloaded, idle = [], []
        with self._guard:
            while self.total_bytes() + needed > self.max_bytes:
                idle = [e for e in self._models.values() if e.users == 0 and e.key != keep]
                if not idle:
                    break
                oldest = min(idle, key=lambda e: e.last_used)
                del self._models[oldest.key]
                self.unload_count += 1
                unloaded.append((oldest.key.family, oldest.key.name, oldest.memory_bytes))
            del idle  # the last references to the unloaded models, before collecting them
        for family, name, size in unloaded:
            log.info(
                "unloaded %s model %s (%.0f MiB, idle): the models in memory would exceed max_model_memory",
                family,
                name,
                size / (1 << 20),
            )
        if unloaded:
            gc.collect()
            cuda = _torch_cuda()
            if cuda is not None and cuda.is_available() and cuda.is_initialized():
                cuda.empty_cache()

    def total_bytes(self) -> int:
        return sum(e.memory_bytes for e in self._models.values())

    @contextlib.contextmanager
    def job_scope(self) -> Iterator[None]:
        """Models asked for on this thread until the scope ends are in use by one job."""
        held: dict[ResolvedModel, LoadedModel] = {}
        _job.held = held
        try:
            yield
        finally:
            _job.held = None
            with self._guard:
                for entry in held.values():
                    entry.users -= 1
            # A load while this job held its models may have gone over the budget; they are idle now.
            if held:
                self._make_room(0, keep=None)

    def find(self, key: ResolvedModel) -> LoadedModel | None:
        with self._guard:
            return self._models.get(key)

    def loaded(self) -> list[LoadedModel]:
        with self._guard:
            return list(self._models.values())

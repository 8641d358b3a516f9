"""Where models run: CUDA when a GPU is there and allowed, the CPU otherwise."""

from __future__ import annotations

import ctypes
import functools
import glob
import logging
import os
import sys

log = logging.getLogger(__name__)

AUTO, CPU, CUDA = "auto", "cpu", "cuda"
DEVICE_CHOICES = (AUTO, CPU, CUDA)

# ctranslate2 4.x is built against CUDA 12 (libcublas.so.12, cuDNN 9) while the torch pin
# brings CUDA 13 libraries. The `gpu` extra installs the CUDA 12 wheels; preloading them
# lets ctranslate2 find them without LD_LIBRARY_PATH.
_CT2_CUDA_LIBRARIES = (
    ("cublas", "libcublasLt.so.12"),
    ("cublas", "libcublas.so.12"),
    ("cudnn", "libcudnn.so.9"),
)


@functools.cache
def preload_ct2_cuda_libraries() -> list[str]:
    """Loads the CUDA 12 libraries ctranslate2 needs from the nvidia-*-cu12 wheels, if present."""
    loaded = []
    for site in sys.path:
        for package, name in _CT2_CUDA_LIBRARIES:
            for path in glob.glob(os.path.join(site, "nvidia", package, "lib", name)):
                try:
                    ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
                    loaded.append(path)
                except OSError as exc:
                    log.warning("could not preload %s: %s", path, exc)
    return loaded


@functools.cache
def ct2_cuda_device_count() -> int:
    try:
        import ctranslate2
    except ImportError:
        return 0
    try:
        return ctranslate2.get_cuda_device_count()
    except Exception as exc:  # a broken driver must not stop the CPU path
        log.warning("CUDA probe through ctranslate2 failed, using the CPU: %s", exc)
        return 0


@functools.cache
def torch_cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


class _NvmlMemory(ctypes.Structure):
    _fields_ = [("total", ctypes.c_ulonglong), ("free", ctypes.c_ulonglong), ("used", ctypes.c_ulonglong)]


@functools.cache
def _nvml():
    """The NVIDIA driver's management library, initialised; None without a driver."""
    try:
        nvml = ctypes.CDLL("libnvidia-ml.so.1")
        if nvml.nvmlInit_v2() != 0:
            return None
    except (OSError, AttributeError):
        return None
    return nvml


def gpu_memory_used() -> int | None:
    """Bytes in use on every NVIDIA GPU of the machine, by any process, as the driver counts
    them (NVML); None without a driver. Unlike torch's count, it includes what CTranslate2
    allocates, and it needs no CUDA context. Meant for differences: what a load added."""
    nvml = _nvml()
    if nvml is None:
        return None
    count = ctypes.c_uint()
    if nvml.nvmlDeviceGetCount_v2(ctypes.byref(count)) != 0:
        return None
    used = 0
    for index in range(count.value):
        handle, memory = ctypes.c_void_p(), _NvmlMemory()
        if nvml.nvmlDeviceGetHandleByIndex_v2(ctypes.c_uint(index), ctypes.byref(handle)) != 0:
            return None
        if nvml.nvmlDeviceGetMemoryInfo(handle, ctypes.byref(memory)) != 0:
            return None
        used += memory.used
    return used


def torch_device(preference: str) -> str:
    """CPU or CUDA for a torch model; asking for CUDA without a GPU makes the model unavailable."""
    from sidecar.errors import ModelUnavailableError

    try:
        return choose(preference, torch_cuda_available())
    except (ValueError, RuntimeError) as exc:
        raise ModelUnavailableError(str(exc)) from None


def ct2_device(preference: str) -> str:
    """CPU or CUDA for a CTranslate2 model (its own CUDA build, found through its own probe)."""
    from sidecar.errors import ModelUnavailableError

    if ct2_cuda_device_count() > 0:
        preload_ct2_cuda_libraries()
    try:
        return choose(preference, ct2_cuda_device_count() > 0)
    except (ValueError, RuntimeError) as exc:
        raise ModelUnavailableError(str(exc)) from None


def choose(preference: str, gpu_present: bool) -> str:
    """Returns CPU or CUDA for a user preference; asking for CUDA without a GPU is an error."""
    if preference not in DEVICE_CHOICES:
        raise ValueError(f"device must be one of {', '.join(DEVICE_CHOICES)}, not {preference!r}")
    if preference == CUDA and not gpu_present:
        raise RuntimeError("device 'cuda' was asked for, but no CUDA GPU is available")
    if preference == AUTO:
        return CUDA if gpu_present else CPU
    return preference

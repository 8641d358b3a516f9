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

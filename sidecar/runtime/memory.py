"""The process's allocator. glibc's malloc gives each thread that allocates an arena of its own,
up to 8 per core, and keeps the freed pages of each. In a server whose threads take turns with
large buffers (each stream's decoding thread, gRPC's, the job workers) every arena grows to its
own peak: a 30-minute soak (bench/soak.py) grew by 683 MiB an hour with glibc's default, and by
180 MiB an hour with two arenas; freed pages inside the arenas are handed back every minute."""

from __future__ import annotations

import asyncio
import ctypes
import os
import sys

ARENAS = 2
RELEASE_EVERY_SECONDS = 60.0
_M_ARENA_MAX = -8  # from glibc's malloc.h


def _glibc(function: str):
    """glibc's `function`, or None on other platforms and C libraries (or an older glibc)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return getattr(ctypes.CDLL("libc.so.6"), function)
    except (OSError, AttributeError):
        return None


def limit_malloc_arenas(arenas: int = ARENAS) -> bool:
    """Caps glibc's malloc arenas at `arenas` for threads that allocate from now on, unless
    $MALLOC_ARENA_MAX already chose; whether the cap was set (not on other C libraries)."""
    mallopt = _glibc("mallopt")
    if os.environ.get("MALLOC_ARENA_MAX") or mallopt is None:
        return False
    return mallopt(_M_ARENA_MAX, arenas) == 1


def release_free_memory() -> bool:
    """Hands the free pages inside every malloc arena back to the system (glibc's
    malloc_trim); whether any were. False on other C libraries."""
    trim = _glibc("malloc_trim")
    return trim is not None and trim(0) == 1


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


_mallinfo2 = _glibc("mallinfo2")  # glibc 2.33 and later
if _mallinfo2 is not None:
    _mallinfo2.restype = _MallInfo2
    _mallinfo2.argtypes = []


def malloc_in_use() -> int:
    """Bytes malloc has handed out and not had back, from its arenas and its mmapped blocks
    (glibc's mallinfo2); 0 on other C libraries. Unlike resident memory, it grows when new
    allocations reuse pages that earlier ones freed."""
    if _mallinfo2 is None:
        return 0
    info = _mallinfo2()
    return info.uordblks + info.hblkhd


async def keep_releasing(every: float = RELEASE_EVERY_SECONDS) -> None:
    """Calls release_free_memory() every `every` seconds, off the event loop, until cancelled."""
    while True:
        await asyncio.sleep(every)
        await asyncio.to_thread(release_free_memory)

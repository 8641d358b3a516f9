"""The process's allocator. glibc's malloc gives each thread that allocates an arena of its own,
up to 8 per core, and keeps the freed pages of each. In a server whose threads take turns with
large buffers (each stream's decoding thread, gRPC's, the job workers) every arena grows to its
own peak: a 30-minute soak (bench/soak.py) grew by 683 MiB an hour with glibc's default, and
stayed flat with two arenas."""

from __future__ import annotations

import ctypes
import os
import sys

ARENAS = 2
_M_ARENA_MAX = -8  # from glibc's malloc.h


def limit_malloc_arenas(arenas: int = ARENAS) -> bool:
    """Caps glibc's malloc arenas at `arenas` for threads that allocate from now on, unless
    $MALLOC_ARENA_MAX already chose; whether the cap was set (not on other C libraries)."""
    if os.environ.get("MALLOC_ARENA_MAX") or not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    return mallopt(_M_ARENA_MAX, arenas) == 1

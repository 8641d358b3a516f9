"""The sidecar caps glibc's malloc arenas (sidecar/runtime/memory.py): threads that allocate
share two arenas instead of one each, whose freed pages made a soak's memory grow; and the free
pages inside the arenas go back to the system."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")

# Eight threads allocate at once (blocks above pymalloc's 512 bytes and below the mmap
# threshold come from an arena); then glibc's malloc_stats() lists the arenas on stderr.
THREADS_ALLOCATE = """
import ctypes, sys, threading
from sidecar.runtime import memory
if sys.argv[1] == "capped":
    assert memory.limit_malloc_arenas()
together = threading.Barrier(8)
def allocate():
    together.wait()
    blocks = [bytearray(4096) for _ in range(256)]
    together.wait()
threads = [threading.Thread(target=allocate) for _ in range(8)]
for t in threads: t.start()
for t in threads: t.join()
ctypes.CDLL("libc.so.6").malloc_stats()
"""


def arenas(mode: str) -> int:
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    done = subprocess.run([sys.executable, "-c", THREADS_ALLOCATE, mode], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    return sum(line.startswith("Arena ") for line in done.stderr.splitlines())


def test_threads_that_allocate_share_two_arenas():
    assert arenas("glibc's default") > 4  # what the cap is for: an arena per thread
    assert arenas("capped") <= 2


# A thread allocates 160 MiB in small blocks and keeps one in 64: the arena's pages stay the
# process's, held in place by the blocks kept, until they are released.
FRAGMENTED = """
import os, threading
from sidecar.runtime import memory
def resident():
    return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE") >> 20
kept = []
def allocate():
    blocks = [bytearray(4096) for _ in range(40000)]
    kept.extend(blocks[::64])
thread = threading.Thread(target=allocate)
thread.start()
thread.join()
before = resident()
assert memory.release_free_memory()
print(before, resident())
"""


def test_free_pages_inside_the_arenas_go_back_to_the_system():
    done = subprocess.run([sys.executable, "-c", FRAGMENTED], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    before, after = map(int, done.stdout.split())
    assert before > 100 and after < before / 2, (before, after)

"""A headless X server for the tests that drive real desktop programs (Audacity, OBS)."""

from __future__ import annotations

import os
import subprocess


def start_xvfb(screen: str = "1280x800x24") -> tuple[subprocess.Popen, str]:
    """Starts Xvfb on a free display (it picks one and reports it); returns (process, ":N")."""
    read_fd, write_fd = os.pipe()
    xvfb = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_fd), "-screen", "0", screen, "-nolisten", "tcp"],
        pass_fds=(write_fd,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_fd)
    with os.fdopen(read_fd) as f:
        number = f.readline().strip()
    if not number:
        xvfb.kill()
        raise RuntimeError("Xvfb did not start")
    return xvfb, f":{number}"

"""A headless X server for the tests that drive real desktop programs (Audacity, OBS)."""

from __future__ import annotations

import os
import pathlib
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


def grab_gray(display: str, width: int, height: int) -> bytes:
    """The screen's top-left `width` x `height` pixels as grey levels, one byte each."""
    done = subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-f", "x11grab", "-video_size", f"{width}x{height}"]
        + ["-i", f"{display}+0,0", "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "gray", "-"],
        capture_output=True,
        check=True,
        timeout=30,
    )
    return done.stdout


def artifacts_dir(fallback: pathlib.Path) -> pathlib.Path:
    """Where screenshots of real windows go: $SIDECAR_TEST_ARTIFACTS (kept after the run, to
    look at), else `fallback` (a test's tmp_path)."""
    root = os.environ.get("SIDECAR_TEST_ARTIFACTS")
    path = pathlib.Path(root) if root else fallback
    path.mkdir(parents=True, exist_ok=True)
    return path


def screenshot(display: str, path: pathlib.Path, size: str) -> pathlib.Path:
    """A PNG of the whole X screen (`size` "WxH"), as a person would see it."""
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "x11grab", "-video_size", size, "-i", display]
        + ["-frames:v", "1", str(path)],
        check=True,
        timeout=30,
    )
    return path

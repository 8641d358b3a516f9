"""A real Audacity (Debian's 3.2) under Xvfb, with mod-script-pipe enabled in a throw-away home.

Recipe (issue 5): the module needs all three of [Module], [ModulePath] and [ModuleDateTime]
(the .so's mtime, local time) or Audacity silently resets it; the first start in a fresh
home runs a plugin-registration child that re-creates the pipes and leaves the main process
on a deleted pipe, so a warm-up start writes pluginregistry.cfg and is killed, and the
[ActiveProjects] it leaves is removed so no crash-recovery dialog blocks the real start.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import functools
import os
import pathlib
import re
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

from tests.xvfb import start_xvfb

MODULE = pathlib.Path("/usr/lib/audacity/modules/mod-script-pipe.so")
WARM_UP_SECONDS = 30.0  # the first start registers plugins: slow on a loaded machine
START_SECONDS = 30.0
TESTS_LOCK = f"/tmp/sidecar-audacity-tests.lock.{os.getuid()}"


def missing() -> str | None:
    """Why a real Audacity cannot run here, or None."""
    for program in ("audacity", "Xvfb"):
        if shutil.which(program) is None:
            return f"{program} is not installed (apt-get install audacity xvfb; see tests/debian-packages.txt)"
    if not MODULE.exists():
        return f"{MODULE} is missing (Debian's audacity package ships it)"
    return None


def write_config(home: pathlib.Path) -> pathlib.Path:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(MODULE.stat().st_mtime))
    config = home / ".config" / "audacity" / "audacity.cfg"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(
        "[GUI]\nShowSplashScreen=0\n"
        f"[Directories]\nTempDir={home / 'audacity-temp'}\n"
        f"[Module]\nmod-script-pipe=1\n[ModulePath]\nmod-script-pipe={MODULE}\n"
        f"[ModuleDateTime]\nmod-script-pipe={stamp}\n"
    )
    return config


def forget_projects(config: pathlib.Path, home: pathlib.Path) -> None:
    """Drops what a killed Audacity leaves for crash recovery."""
    text = config.read_text()
    config.write_text(re.sub(r"\[ActiveProjects\]\n(?:[^\[\n].*\n|\n)*", "", text))
    shutil.rmtree(home / "audacity-temp", ignore_errors=True)


@functools.cache
def session_xvfb() -> tuple[subprocess.Popen, str]:
    """One Xvfb for every Audacity of the test run, killed when the run ends.

    Tk keeps a process's display connections open until the process exits and finds them by
    name: a panel test's Tk on a later Xvfb that got the same display number (":0" again)
    would take the dead connection, and Xlib would end the whole run ("XIO: fatal IO error").
    """
    xvfb, display = start_xvfb("1024x768x24")
    atexit.register(AudacityUnderXvfb._kill, xvfb)
    return xvfb, display


class AudacityUnderXvfb:
    """Audacity (on the run's Xvfb) for one test module; stop() kills it and removes its files."""

    def __init__(self) -> None:
        self.home = pathlib.Path(tempfile.mkdtemp(prefix="sidecar-audacity-home-"))
        self._lock = open(TESTS_LOCK, "w")
        fcntl.flock(self._lock, fcntl.LOCK_EX)  # one real Audacity per user: the pipe names are fixed
        self.xvfb = self.audacity = None
        self.display = ""

    def start(self) -> AudacityUnderXvfb:
        from sidecar_audacity.pipe import PipeConnection, audacity_running, pipe_paths

        if audacity_running():
            raise RuntimeError("another Audacity runs for this user and holds the scripting pipe")
        for path in pipe_paths():
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)  # stale FIFOs from an earlier run
        self._start_xvfb()
        config = write_config(self.home)
        self.audacity = self._launch()
        self._wait_for(
            lambda: (
                (self.home / ".config/audacity/pluginregistry.cfg").exists()
                and all(os.path.exists(p) for p in pipe_paths())
            ),
            WARM_UP_SECONDS,
            "plugin registration",
        )
        time.sleep(1.0)  # let the registration child finish writing
        self._kill(self.audacity)
        forget_projects(config, self.home)
        self.audacity = self._launch()
        PipeConnection(connect_timeout=START_SECONDS).__enter__().close()  # answers: ready
        return self

    def restart(self) -> None:
        """Kills Audacity and starts a new one in the same home; clients reconnect by themselves."""
        self._kill(self.audacity)
        forget_projects(self.home / ".config/audacity/audacity.cfg", self.home)
        self.audacity = self._launch()

    def stop(self) -> None:
        from sidecar_audacity.pipe import pipe_paths

        self._kill(self.audacity)
        for path in pipe_paths():
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        shutil.rmtree(self.home, ignore_errors=True)
        self._lock.close()

    def _start_xvfb(self) -> None:
        self.xvfb, self.display = session_xvfb()

    def _launch(self) -> subprocess.Popen:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "DISPLAY", "WAYLAND"))}
        env.update(HOME=str(self.home), DISPLAY=self.display, LIBGL_ALWAYS_SOFTWARE="1")
        return subprocess.Popen(
            ["audacity"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )

    def _wait_for(self, ready, seconds: float, what: str) -> None:
        deadline = time.monotonic() + seconds
        while not ready():
            if self.audacity.poll() is not None:
                raise RuntimeError(f"Audacity exited ({self.audacity.returncode}) during {what}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"Audacity took over {seconds:g} s for {what}")
            time.sleep(0.1)

    @staticmethod
    def _kill(process: subprocess.Popen | None) -> None:
        """Kills the process and its group (Audacity's plugin-registration child is in it)."""
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            if process.args[0] == "audacity":
                os.killpg(process.pid, signal.SIGKILL)
            else:
                process.kill()
        process.wait(timeout=10)


class Desktop:
    """A person at the Xvfb display: keys pressed in a window, windows found by title (xdotool)."""

    KEY_SECONDS = 1.5  # for the key's effect, before it is pressed again

    def __init__(self, display: str) -> None:
        if shutil.which("xdotool") is None:
            pytest.skip("xdotool is not installed (apt-get install xdotool)")
        self.display = display

    def windows(self, title: str) -> list[str]:
        """Ids of the mapped windows whose title matches the regular expression."""
        return self._xdotool("search", "--onlyvisible", "--name", title).split()

    def press(self, title: str, keys: str, until, *, click_corner: bool = False, seconds: float = 15.0) -> None:
        """Presses keys in the window until until() holds. Without a window manager GTK takes
        a key only once the focus has settled, so a key that went nowhere is pressed again.

        `click_corner` clicks near the window's bottom-left corner first: once Audacity has
        answered a scripting command, its Preferences dialog ignores keys until clicked (an
        empty spot there)."""
        deadline = time.monotonic() + seconds
        while True:
            for window in self.windows(title)[-1:]:
                if click_corner:
                    height = int(self._xdotool("getwindowgeometry", "--shell", window).split("HEIGHT=")[1].split()[0])
                    self._xdotool("mousemove", "--window", window, "20", str(height - 15), "click", "1")
                else:
                    self._xdotool("windowfocus", "--sync", window)
                time.sleep(0.2)
                self._xdotool("key", keys)
            pressed = time.monotonic()
            while time.monotonic() - pressed < self.KEY_SECONDS:
                if until():
                    return
                time.sleep(0.05)
            if time.monotonic() > deadline:
                raise RuntimeError(f"pressing {keys} in '{title}' did not work within {seconds:g} s")

    def grab(self, path: pathlib.Path, x: int, y: int, width: int, height: int) -> pathlib.Path:
        """A PNG screenshot of that part of the screen."""
        subprocess.run(
            ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "x11grab", "-video_size", f"{width}x{height}"]
            + ["-i", f"{self.display}+{x},{y}", "-frames:v", "1", str(path)],
            check=True,
            timeout=30,
        )
        return path

    def _xdotool(self, *args: str) -> str:
        done = subprocess.run(
            ["xdotool", *args], env={"DISPLAY": self.display}, capture_output=True, text=True, timeout=30
        )
        return done.stdout


def clear_project(audacity) -> None:
    """Removes every track so the next test starts from an empty project."""
    if audacity.tracks():
        audacity.command("SelectAll")
        audacity.command("RemoveTracks")


@pytest.fixture(scope="module")
def real_audacity():
    """One Audacity for the test module that imports this fixture (starting one costs seconds)."""
    if missing() is not None:
        pytest.skip(missing())
    instance = AudacityUnderXvfb()
    try:
        yield instance.start()
    finally:
        instance.stop()


@pytest.fixture()
def audacity(real_audacity):
    """A bridge to that Audacity, its project emptied first."""
    from sidecar_audacity import Audacity, PipeConnection

    with Audacity(PipeConnection(connect_timeout=START_SECONDS)) as bridge:
        clear_project(bridge)
        yield bridge

"""A real OBS Studio under Xvfb with a throw-away HOME, a Text source and (optionally) the
captions script.

OBS reads its profile (video, recording output) and scene collection (a scene with one
`text_ft2_source`, plus the script and its settings under "scripts-tool") from the HOME this
writes, so the script loads at start without the GUI being touched. The script logs the
Text source's `text` setting, read back from OBS after each change, to a JSON-lines file;
the test also asks OBS itself through obs-websocket (packaged with OBS 29, protocol v5; the
product's client in sidecar_client.obs_websocket), which is how it stops the recording
cleanly: OBS 29 ignores SIGINT and dies on SIGTERM.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time

import numpy as np

from sidecar_client.obs_websocket import ObsError, ObsWebSocket
from tests.harness import free_port
from tests.xvfb import grab_gray, screenshot, start_xvfb

REPO = pathlib.Path(__file__).resolve().parents[1]
SCRIPT = REPO / "plugins" / "obs" / "sidecar_captions.py"
VENV = pathlib.Path(sys.prefix)  # the venv running the tests: same Python minor version as OBS's
TEXT_SOURCE = "Captions"
PLACEHOLDER = "(captions appear here)"
STOP_SECONDS = 15
SCREEN = (1280, 800)
STILL_PIXELS = 400  # a text cursor's blink; a layout moves many more
STILL_SECONDS = 1.0
# Tools > Scripts, moved to the screen's corner and grown to fill it: where its widgets are.
SCRIPTS_DIALOG_SIZE = (1270, 790)
SCRIPTS_WIDGETS = {
    "tools menu": (378, 12),
    "scripts item": (388, 146),
    "reload": (121, 706),
    "refresh": (987, 225),
    "address": (1055, 312),
    "language": (1055, 526),
}
SIDECAR = [sys.executable, "-m", "sidecar.cli.main"]


def obs_available() -> str | None:
    """Why a real OBS cannot run here, or None when it can."""
    for program in ("obs", "Xvfb"):
        if shutil.which(program) is None:
            return f"no {program} on PATH (apt-get install obs-studio xvfb)"
    return None


def write_profile(
    home: pathlib.Path, recordings: pathlib.Path, websocket_port: int, websocket_password: str | None = None
) -> None:
    config = home / ".config" / "obs-studio"
    (config / "basic" / "profiles" / "P").mkdir(parents=True)
    (config / "basic" / "scenes").mkdir(parents=True)
    (config / "global.ini").write_text(
        "[General]\nFirstRun=true\nLastVersion=486539264\n\n"
        "[BasicWindow]\nSysTrayEnabled=false\nWarnBeforeStartingStream=false\n"
        "WarnBeforeStoppingRecord=false\nWarnBeforeStoppingStream=false\n\n"
        "[OBSWebSocket]\nFirstLoad=false\nServerEnabled=true\nAlertsEnabled=false\n"
        f"AuthRequired={'true' if websocket_password else 'false'}\n"
        f"ServerPassword={websocket_password or ''}\nServerPort={websocket_port}\n"
    )
    # Small video keeps software encoding (x264 on llvmpipe frames) cheap; a key frame each
    # second lets the stream join the encoder the recording started (they share it).
    (config / "basic" / "profiles" / "P" / "basic.ini").write_text(
        "[General]\nName=P\n\n"
        "[Video]\nBaseCX=320\nBaseCY=180\nOutputCX=320\nOutputCY=180\nFPSType=1\nFPSInt=30\n\n"
        "[Output]\nMode=Simple\n\n"
        f"[SimpleOutput]\nFilePath={recordings}\nRecFormat=mkv\nRecEncoder=x264\n"
        "RecQuality=Stream\nPreset=ultrafast\nVBitrate=300\nUseAdvanced=true\nx264Settings=keyint=30\n"
    )


def write_collection(home: pathlib.Path, script_settings: dict | None, *, default_font: bool = False) -> None:
    """The scene collection; the captions script only when `script_settings` is given. The
    Text source has a small font unless `default_font` (OBS's own: 256 px)."""
    scene = {
        "id": "scene",
        "versioned_id": "scene",
        "name": "S",
        "settings": {
            "id_counter": 1,
            "items": [{"name": TEXT_SOURCE, "id": 1, "visible": True, "pos": {"x": 0, "y": 0}}],
        },
    }
    text = {
        "id": "text_ft2_source",
        "versioned_id": "text_ft2_source_v2",
        "name": TEXT_SOURCE,
        "settings": {"text": PLACEHOLDER}
        if default_font
        else {"text": PLACEHOLDER, "font": {"face": "Sans", "size": 16}},
    }
    collection = {
        "name": "C",
        "current_scene": "S",
        "current_program_scene": "S",
        "scene_order": [{"name": "S"}],
        "sources": [scene, text],
    }
    if script_settings is not None:
        collection["modules"] = {"scripts-tool": [{"path": str(SCRIPT), "settings": script_settings}]}
    path = home / ".config" / "obs-studio" / "basic" / "scenes" / "C.json"
    path.write_text(json.dumps(collection, indent=1))


class Obs:
    """Xvfb plus OBS with the script configured by `script_settings` (None: no script);
    stop() ends both. obs-websocket asks for `websocket_password` when one is given."""

    def __init__(
        self,
        home: pathlib.Path,
        script_settings: dict | None,
        *,
        record: bool = False,
        stream_to: str | None = None,
        websocket_password: str | None = None,
        default_font: bool = False,
    ) -> None:
        self.home = home
        self.recordings = home / "recordings"
        self.recordings.mkdir(parents=True)
        self.log = home / "captions.jsonl"
        self.websocket_port = free_port()
        self.websocket_url = f"ws://127.0.0.1:{self.websocket_port}"
        self.websocket_password = websocket_password
        write_profile(home, self.recordings, self.websocket_port, websocket_password)
        if stream_to is not None:  # a custom RTMP server: rtmp://host:port/app/key
            server, _, key = stream_to.rpartition("/")
            (home / ".config" / "obs-studio" / "basic" / "profiles" / "P" / "service.json").write_text(
                json.dumps({"type": "rtmp_custom", "settings": {"server": server, "key": key}})
            )
        write_collection(
            home,
            None
            if script_settings is None
            else {"venv": str(VENV), "text_source": TEXT_SOURCE, "debug_log": str(self.log), **script_settings},
            default_font=default_font,
        )
        self.xvfb = self._start_xvfb()
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("XDG_", "DISPLAY", "WAYLAND", "PYTHON", "VIRTUAL_ENV"))
        }
        env.update(HOME=str(home), DISPLAY=self.display, LIBGL_ALWAYS_SOFTWARE="1", QT_QPA_PLATFORM="xcb")
        self._args = [
            "obs",
            "--disable-updater",
            "--multi",
            "--collection",
            "C",
            "--profile",
            "P",
            "--scene",
            "S",
            *(["--startrecording"] if record else []),
        ]
        self._env = env
        self.process = self._launch()

    def _launch(self) -> subprocess.Popen:
        return subprocess.Popen(
            self._args,
            env=self._env,
            cwd=self.home,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def _start_xvfb(self) -> subprocess.Popen:
        xvfb, self.display = start_xvfb(f"{SCREEN[0]}x{SCREEN[1]}x24")
        return xvfb

    def entries(self) -> list[dict]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]

    def texts(self) -> list[str]:
        """The Text source's text after each change, as OBS holds it."""
        return [e["text"] for e in self.entries() if "text" in e]

    def obs_log(self) -> str:
        """OBS's own log (with the script's messages), for failure messages."""
        logs = sorted((self.home / ".config" / "obs-studio" / "logs").glob("*.txt"))
        return logs[-1].read_text(errors="replace")[-4000:] if logs else "(no OBS log)"

    def wait_for(self, ready, seconds: float, what: str):
        deadline = time.monotonic() + seconds
        while True:
            value = ready()
            if value:
                return value
            if self.process.poll() is not None:
                raise AssertionError(f"OBS exited ({self.process.returncode}) waiting for {what}:\n{self.obs_log()}")
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"no {what} within {seconds:g} s; script log: {self.entries()[-10:]}\nOBS log:\n{self.obs_log()}"
                )
            time.sleep(0.2)

    def websocket(self, seconds: float = 30) -> ObsWebSocket:
        """A connection to OBS's obs-websocket server, once it listens."""

        def connect():
            with contextlib.suppress(ObsError):
                return ObsWebSocket(self.websocket_url, self.websocket_password)

        return self.wait_for(connect, seconds, "obs-websocket")

    # --- a person at OBS's window (xdotool on the Xvfb display) -------------------------------

    def xdotool(self, *args: str) -> str:
        done = subprocess.run(
            ["xdotool", *args], env={"DISPLAY": self.display}, capture_output=True, text=True, timeout=30
        )
        return done.stdout

    def click(self, widget: str) -> None:
        x, y = SCRIPTS_WIDGETS[widget]
        self.xdotool("mousemove", str(x), str(y), "click", "1")

    def open_scripts_dialog(self) -> None:
        """Tools > Scripts, with the captions script selected (the only one)."""
        self.click("tools menu")
        time.sleep(1)
        self.click("scripts item")
        windows = self.wait_for(lambda: self.xdotool("search", "--name", "^Scripts$").split(), 15, "the Scripts dialog")
        width, height = SCRIPTS_DIALOG_SIZE
        self.xdotool("windowmove", windows[0], "0", "0")
        self.xdotool("windowsize", windows[0], str(width), str(height))
        self.wait_for(
            lambda: f"Geometry: {width}x{height}" in self.xdotool("getwindowgeometry", windows[0]), 15, "the size"
        )
        self.wait_for_stillness(width, height, "the Scripts dialog laid out at its new size")

    def wait_for_stillness(self, width: int, height: int, what: str, seconds: float = 30) -> None:
        """Waits until the screen's top-left region stops changing for a while: Qt lays a resized
        dialog out in its own time, later on a busy CPU, and a click before lands on the old
        layout. A blinking text cursor changes a few pixels, so a few may differ."""
        previous, still_since = None, None

        def still() -> bool:
            nonlocal previous, still_since
            frame = np.frombuffer(grab_gray(self.display, width, height), np.uint8)
            changed = previous is None or np.count_nonzero(frame != previous) > STILL_PIXELS
            previous = frame
            if changed:
                still_since = time.monotonic()
            return time.monotonic() - still_since >= STILL_SECONDS

        self.wait_for(still, seconds, what)

    def type_into(self, widget: str, text: str, delay_ms: int = 120) -> None:
        """Replaces a text field's content by typing, a key every `delay_ms`, as a person does."""
        self.click(widget)
        self.xdotool("key", "ctrl+a")
        self.xdotool("type", "--delay", str(delay_ms), text)

    def screenshot(self, path: pathlib.Path) -> pathlib.Path:
        return screenshot(self.display, path, f"{SCREEN[0]}x{SCREEN[1]}")

    def restart(self) -> None:
        """Ends OBS (not Xvfb) and starts it again with the same HOME and WebSocket port."""
        self._end()
        self.process = self._launch()

    def stop(self) -> int | None:
        """Ends OBS, then Xvfb; OBS's exit code when it stopped by itself."""
        code = self._end()
        self.xvfb.kill()
        self.xvfb.wait()
        return code

    def _end(self) -> int | None:
        """SIGTERM (OBS stops its outputs and unloads scripts), then SIGKILL if it hangs."""
        code = None
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                code = self.process.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)  # any child (ffmpeg) left behind
        return code


class RtmpReceiver:
    """An ffmpeg process that accepts one RTMP stream and saves it as FLV, unchanged."""

    def __init__(self, path: pathlib.Path) -> None:
        self.path = path
        self.url = f"rtmp://127.0.0.1:{free_port()}/live/test"
        self.process = subprocess.Popen(
            [
                "ffmpeg",
                "-nostdin",
                "-loglevel",
                "error",
                "-listen",
                "1",
                "-i",
                self.url,
                "-c",
                "copy",
                "-f",
                "flv",
                str(path),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=open(path.with_suffix(".log"), "wb"),
        )

    def received(self) -> bytes:
        """The FLV written so far."""
        return self.path.read_bytes() if self.path.exists() else b""

    def stop(self) -> None:
        """Waits for the stream to end, or ends it."""
        try:
            self.process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def cea608_text(stream: bytes) -> str:
    """The printable CEA-608 (field 1) characters of the ATSC A/53 caption SEI messages in an
    H.264 stream, in order. OBS puts these SEI after the picture ("late SEI"), which the
    FFmpeg in Debian 12 does not decode, hence this scan of the raw bytes."""
    stream = stream.replace(b"\x00\x00\x03", b"\x00\x00")  # emulation prevention
    chars = []
    at = stream.find(b"GA94\x03")
    while at >= 0:
        count = stream[at + 5] & 0x1F
        data = stream[at + 7 : at + 7 + 3 * count]  # after cc_count and em_data
        for i in range(0, len(data) - 2, 3):
            flags, first, second = data[i : i + 3]
            if not flags & 0x04 or flags & 0x03:
                continue  # not a valid NTSC field 1 pair
            if first & 0x7F < 0x20:  # a control code (new row, erase, ...) or padding
                chars.append(" ")
                continue
            chars.extend(chr(b & 0x7F) for b in (first, second) if b & 0x7F >= 0x20)
        at = stream.find(b"GA94\x03", at + 5)
    return " ".join("".join(chars).split())

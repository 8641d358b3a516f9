"""A real OBS Studio under Xvfb with a throw-away HOME, a Text source and the captions script;
a real `sidecar serve` process on a fixed port (for restarts).

OBS reads its profile (video, recording output) and scene collection (a scene with one
`text_ft2_source`, plus the script and its settings under "scripts-tool") from the HOME this
writes, so the script loads at start without the GUI being touched. The script logs the
Text source's `text` setting, read back from OBS after each change, to a JSON-lines file;
the test also asks OBS itself through obs-websocket (packaged with OBS 29, protocol v5), which
is how it stops the recording cleanly: OBS 29 ignores SIGINT and dies on SIGTERM.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import pathlib
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time

from tests.harness import free_port
from tests.xvfb import start_xvfb

REPO = pathlib.Path(__file__).resolve().parents[1]
SCRIPT = REPO / "plugins" / "obs" / "sidecar_captions.py"
VENV = pathlib.Path(sys.prefix)  # the venv running the tests: same Python minor version as OBS's
TEXT_SOURCE = "Captions"
PLACEHOLDER = "(captions appear here)"
STOP_SECONDS = 15
SIDECAR = [sys.executable, "-m", "sidecar.cli.main"]


def obs_available() -> str | None:
    """Why a real OBS cannot run here, or None when it can."""
    for program in ("obs", "Xvfb"):
        if shutil.which(program) is None:
            return f"no {program} on PATH (apt-get install obs-studio xvfb)"
    return None


def write_profile(home: pathlib.Path, recordings: pathlib.Path, websocket_port: int) -> None:
    config = home / ".config" / "obs-studio"
    (config / "basic" / "profiles" / "P").mkdir(parents=True)
    (config / "basic" / "scenes").mkdir(parents=True)
    (config / "global.ini").write_text(
        "[General]\nFirstRun=true\nLastVersion=486539264\n\n"
        "[BasicWindow]\nSysTrayEnabled=false\nWarnBeforeStartingStream=false\n"
        "WarnBeforeStoppingRecord=false\nWarnBeforeStoppingStream=false\n\n"
        "[OBSWebSocket]\nFirstLoad=false\nServerEnabled=true\nAlertsEnabled=false\n"
        f"AuthRequired=false\nServerPassword=\nServerPort={websocket_port}\n")
    # Small video keeps software encoding (x264 on llvmpipe frames) cheap; a key frame each
    # second lets the stream join the encoder the recording started (they share it).
    (config / "basic" / "profiles" / "P" / "basic.ini").write_text(
        "[General]\nName=P\n\n"
        "[Video]\nBaseCX=320\nBaseCY=180\nOutputCX=320\nOutputCY=180\nFPSType=1\nFPSInt=30\n\n"
        "[Output]\nMode=Simple\n\n"
        f"[SimpleOutput]\nFilePath={recordings}\nRecFormat=mkv\nRecEncoder=x264\n"
        "RecQuality=Stream\nPreset=ultrafast\nVBitrate=300\nUseAdvanced=true\nx264Settings=keyint=30\n")


def write_collection(home: pathlib.Path, script_settings: dict) -> None:
    scene = {
        "id": "scene", "versioned_id": "scene", "name": "S",
        "settings": {"id_counter": 1, "items": [{"name": TEXT_SOURCE, "id": 1, "visible": True,
                                                 "pos": {"x": 0, "y": 0}}]},
    }
    text = {"id": "text_ft2_source", "versioned_id": "text_ft2_source_v2", "name": TEXT_SOURCE,
            "settings": {"text": PLACEHOLDER, "font": {"face": "Sans", "size": 16}}}
    collection = {
        "name": "C", "current_scene": "S", "current_program_scene": "S",
        "scene_order": [{"name": "S"}], "sources": [scene, text],
        "modules": {"scripts-tool": [{"path": str(SCRIPT), "settings": script_settings}]},
    }
    path = home / ".config" / "obs-studio" / "basic" / "scenes" / "C.json"
    path.write_text(json.dumps(collection, indent=1))


class Obs:
    """Xvfb plus OBS with the script configured by `script_settings`; stop() ends both."""

    def __init__(self, home: pathlib.Path, script_settings: dict, *, record: bool = False,
                 stream_to: str | None = None) -> None:
        self.home = home
        self.recordings = home / "recordings"
        self.recordings.mkdir(parents=True)
        self.log = home / "captions.jsonl"
        self.websocket_port = free_port()
        write_profile(home, self.recordings, self.websocket_port)
        if stream_to is not None:  # a custom RTMP server: rtmp://host:port/app/key
            server, _, key = stream_to.rpartition("/")
            (home / ".config" / "obs-studio" / "basic" / "profiles" / "P" / "service.json").write_text(
                json.dumps({"type": "rtmp_custom", "settings": {"server": server, "key": key}}))
        write_collection(home, {"venv": str(VENV), "text_source": TEXT_SOURCE,
                                "debug_log": str(self.log), **script_settings})
        self.xvfb = self._start_xvfb()
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("XDG_", "DISPLAY", "WAYLAND", "PYTHON", "VIRTUAL_ENV"))}
        env.update(HOME=str(home), DISPLAY=self.display, LIBGL_ALWAYS_SOFTWARE="1",
                   QT_QPA_PLATFORM="xcb")
        args = ["obs", "--disable-updater", "--multi", "--collection", "C", "--profile", "P",
                "--scene", "S"]
        if record:
            args.append("--startrecording")
        self.process = subprocess.Popen(args, env=env, cwd=home, stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                        start_new_session=True)

    def _start_xvfb(self) -> subprocess.Popen:
        xvfb, self.display = start_xvfb("1280x800x24")
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
                raise AssertionError(f"OBS exited ({self.process.returncode}) waiting for {what}:\n"
                                     f"{self.obs_log()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no {what} within {seconds:g} s; script log: "
                                     f"{self.entries()[-10:]}\nOBS log:\n{self.obs_log()}")
            time.sleep(0.2)

    def websocket(self, seconds: float = 30) -> "ObsWebSocket":
        """A connection to OBS's obs-websocket server, once it listens."""
        def connect():
            with contextlib.suppress(OSError):
                return ObsWebSocket(self.websocket_port)
        return self.wait_for(connect, seconds, "obs-websocket")

    def stop(self) -> int | None:
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
        self.xvfb.kill()
        self.xvfb.wait()
        return code


class RtmpReceiver:
    """An ffmpeg process that accepts one RTMP stream and saves it as FLV, unchanged."""

    def __init__(self, path: pathlib.Path) -> None:
        self.path = path
        self.url = f"rtmp://127.0.0.1:{free_port()}/live/test"
        self.process = subprocess.Popen(
            ["ffmpeg", "-nostdin", "-loglevel", "error", "-listen", "1", "-i", self.url,
             "-c", "copy", "-f", "flv", str(path)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=open(path.with_suffix(".log"), "wb"))

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


class ObsWebSocket:
    """A minimal obs-websocket v5 client (JSON over a RFC 6455 socket, no auth)."""

    def __init__(self, port: int, timeout: float = 10) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                           "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: obswebsocket.json\r\n"
                           "\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            data = self.sock.recv(1)
            if not data:
                raise OSError("obs-websocket closed the handshake")
            head += data
        if b" 101 " not in head.split(b"\r\n")[0]:
            raise OSError(f"obs-websocket refused: {head!r}")
        assert self._receive()["op"] == 0  # Hello
        self._send({"op": 1, "d": {"rpcVersion": 1, "eventSubscriptions": 0}})
        assert self._receive()["op"] == 2  # Identified
        self._ids = 0

    def request(self, request_type: str, data: dict | None = None) -> dict:
        """Sends a request and returns its responseData; raises on a failed status."""
        self._ids += 1
        self._send({"op": 6, "d": {"requestType": request_type, "requestId": str(self._ids),
                                   "requestData": data or {}}})
        while True:
            message = self._receive()
            if message["op"] == 7 and message["d"]["requestId"] == str(self._ids):
                status = message["d"]["requestStatus"]
                if not status["result"]:
                    raise RuntimeError(f"{request_type} failed: {status}")
                return message["d"].get("responseData", {})

    def close(self) -> None:
        self.sock.close()

    def _send(self, message: dict) -> None:
        payload = json.dumps(message).encode()
        mask = os.urandom(4)
        if len(payload) < 126:  # lengths must use the shortest of the three encodings
            header = struct.pack("!BB", 0x81, 0x80 | len(payload))
        elif len(payload) < 1 << 16:
            header = struct.pack("!BBH", 0x81, 0x80 | 126, len(payload))
        else:
            header = struct.pack("!BBQ", 0x81, 0x80 | 127, len(payload))
        self.sock.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def _receive(self) -> dict:
        while True:
            first, second = self._exactly(2)
            length = second & 0x7F
            if length == 126:
                length = struct.unpack("!H", self._exactly(2))[0]
            elif length == 127:
                length = struct.unpack("!Q", self._exactly(8))[0]
            payload = self._exactly(length)
            if first & 0x0F == 0x1:  # a text frame (OBS sends each message whole)
                return json.loads(payload)
            if first & 0x0F == 0x8:
                raise OSError("obs-websocket closed the connection")

    def _exactly(self, count: int) -> bytes:
        data = b""
        while len(data) < count:
            chunk = self.sock.recv(count - len(data))
            if not chunk:
                raise OSError("obs-websocket closed the connection")
            data += chunk
        return data


def cea608_text(stream: bytes) -> str:
    """The printable CEA-608 (field 1) characters of the ATSC A/53 caption SEI messages in an
    H.264 stream, in order. OBS puts these SEI after the picture ("late SEI"), which the
    FFmpeg in Debian 12 does not decode, hence this scan of the raw bytes."""
    stream = stream.replace(b"\x00\x00\x03", b"\x00\x00")  # emulation prevention
    chars = []
    at = stream.find(b"GA94\x03")
    while at >= 0:
        count = stream[at + 5] & 0x1F
        data = stream[at + 7: at + 7 + 3 * count]  # after cc_count and em_data
        for i in range(0, len(data) - 2, 3):
            flags, first, second = data[i:i + 3]
            if not flags & 0x04 or flags & 0x03:
                continue  # not a valid NTSC field 1 pair
            if first & 0x7F < 0x20:  # a control code (new row, erase, ...) or padding
                chars.append(" ")
                continue
            chars.extend(chr(b & 0x7F) for b in (first, second) if b & 0x7F >= 0x20)
        at = stream.find(b"GA94\x03", at + 5)
    return " ".join("".join(chars).split())

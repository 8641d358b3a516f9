"""`make demo`: start a real sidecar process, caption a clip with it, print the SRT."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import tempfile
import time

READY_TIMEOUT_SECONDS = 60


def main(clip: str) -> int:
    sidecar = [sys.executable, "-m", "sidecar.cli.main"]
    with tempfile.TemporaryDirectory(prefix="sidecar-demo-") as tmp:
        port_file = pathlib.Path(tmp) / "port"
        server = subprocess.Popen([*sidecar, "serve", "--port", "0", "--ready-file", str(port_file)])
        try:
            deadline = time.monotonic() + READY_TIMEOUT_SECONDS
            while not (port_file.exists() and port_file.read_text()):
                if server.poll() is not None or time.monotonic() > deadline:
                    print("the sidecar did not start", file=sys.stderr)
                    return 1
                time.sleep(0.1)
            srt = pathlib.Path(tmp) / "demo.srt"
            address = f"127.0.0.1:{port_file.read_text()}"
            print(f"captioning {clip} through the sidecar at {address}", file=sys.stderr)
            code = subprocess.call([*sidecar, "subtitle", clip, "--server", address, "-o", str(srt)])
            if code == 0:
                print(srt.read_text())
            return code
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "tests/data/demo-1089.flac"))

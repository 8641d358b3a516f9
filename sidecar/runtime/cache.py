"""Where the sidecar keeps what it derives: joined models, saved voices."""

from __future__ import annotations

import os
import pathlib


def cache_dir() -> pathlib.Path:
    """$SIDECAR_CACHE_DIR, else audio-sidecar under the XDG cache directory."""
    root = os.environ.get("SIDECAR_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "audio-sidecar"
    )
    return pathlib.Path(root)

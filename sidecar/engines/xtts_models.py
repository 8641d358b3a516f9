"""Finds XTTS models (a local directory, or Coqui's XTTS v2 in the Hugging Face cache) and
guards them behind the user's explicit agreement to the Coqui Public Model License.

XTTS v2's weights, and every fine-tune of them, are under the CPML. coqui-tts asks before it
downloads them, and skips the question when COQUI_TOS_AGREED=1; a server cannot answer a
prompt, and must never agree for its user. So the sidecar loads any XTTS model only when the
person running the server has said yes in its own settings (ServerConfig.agree_coqui_license:
`--agree-coqui-license`, the TOML config, or SIDECAR_COQUI_TOS_AGREED=1), which the caller
passes in, and says how otherwise.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pathlib

from sidecar.config import LICENSE_ENV
from sidecar.engines.catalogue import ModelSettings, ResolvedModel
from sidecar.engines.hub_models import not_downloaded
from sidecar.errors import ModelNotFoundError, ModelUnavailableError

log = logging.getLogger(__name__)

FAMILY = "xtts"
DEFAULT_MODEL = "xtts_v2"
# Where coqui-tts 0.28 downloads XTTS v2 from (its .models.json), and what it leaves out.
HUB_REPO = "tts-hub/XTTS-v2"
HUB_IGNORE_PATTERNS = ("samples/*", "dvae.pth")
REQUIRED_FILES = ("config.json", "model.pth", "vocab.json")
LICENSE_URL = "https://coqui.ai/cpml"
LICENSE_FLAG = "--agree-coqui-license"  # of `sidecar serve` and `sidecar say`
LICENSE_SETTING = "agree_coqui_license"  # the ServerConfig field and TOML key
LICENSE_REFUSAL = (
    "XTTS weights are under the Coqui Public Model License (CPML, " + LICENSE_URL + "; "
    "non-commercial unless you bought a licence from Coqui). The sidecar loads them only "
    "after the person running it agrees: start it with " + LICENSE_FLAG + " (`sidecar serve` "
    "or `sidecar say`), put `"
    + LICENSE_SETTING
    + " = true` in its TOML config, or set "
    + LICENSE_ENV
    + "=1 in its environment"
)


def require_license(agreed: bool) -> None:
    """Refuses unless the person running the server agreed to the CPML (the caller's setting)."""
    if not agreed:
        raise ModelUnavailableError(LICENSE_REFUSAL)


def missing_files(directory: pathlib.Path) -> list[str]:
    return [f for f in REQUIRED_FILES if not (directory / f).is_file()]


def fingerprint(directory: str | os.PathLike) -> str:
    """Identifies a model's weights cheaply (its config and checkpoint size), for saved voices."""
    directory = pathlib.Path(directory)
    digest = hashlib.sha256((directory / "config.json").read_bytes())
    digest.update(str((directory / "model.pth").stat().st_size).encode())
    return digest.hexdigest()[:16]


def is_local_name(name: str) -> bool:
    return name != DEFAULT_MODEL and (os.sep in name or name.startswith((".", "~")) or pathlib.Path(name).is_absolute())


def resolve(name: str | None, settings: ModelSettings) -> ResolvedModel:
    """Finds a model by name; refuses before touching any weights when the licence is not agreed."""
    require_license(settings.agree_coqui_license)
    name = (name or DEFAULT_MODEL).strip()
    if is_local_name(name):
        path = pathlib.Path(name).expanduser().resolve()
        if not path.is_dir():
            raise ModelNotFoundError(f"XTTS model directory {name} does not exist on the server")
        missing = missing_files(path)
        if missing:
            raise ModelNotFoundError(
                f"{name} is not an XTTS model directory: {', '.join(missing)} missing "
                f"(it needs {', '.join(REQUIRED_FILES)})"
            )
        return _found(str(path), path, "local")
    if name != DEFAULT_MODEL:
        raise ModelNotFoundError(
            f"no XTTS model named {name!r}: use {DEFAULT_MODEL!r} or a model directory on the server"
        )
    cached = hub_cache_path()
    if cached is not None:
        return _found(DEFAULT_MODEL, cached, "hub-cache")
    if hub_offline():
        raise ModelNotFoundError(
            f"XTTS v2 is not downloaded ({HUB_REPO} is not in the Hugging Face cache) and "
            "downloads are off (HF_HUB_OFFLINE=1): download it once while online, or pass a "
            f"directory holding {', '.join(REQUIRED_FILES)}"
        )
    if not settings.downloads:
        raise not_downloaded(DEFAULT_MODEL, HUB_REPO)
    return _found(DEFAULT_MODEL, download(), "downloaded")


def _found(name: str, path: pathlib.Path, source: str) -> ResolvedModel:
    return ResolvedModel(FAMILY, ResolvedModel.real_path(path), name, source, str(path), ("SYNTHESIS",))


def hub_offline() -> bool:
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def hub_cache_path() -> pathlib.Path | None:
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        return None
    try:
        path = pathlib.Path(
            snapshot_download(HUB_REPO, local_files_only=True, ignore_patterns=list(HUB_IGNORE_PATTERNS))
        )
    except (OSError, ValueError):  # not cached (the hub raises subclasses of both)
        return None
    return path if not missing_files(path) else None


def download() -> pathlib.Path:
    """Downloads XTTS v2 (about 1.9 GB) into the Hugging Face cache; only after agreement."""
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise ModelUnavailableError(
            "downloading XTTS v2 needs huggingface_hub: install the sidecar's `tts` extra"
        ) from None
    log.info("downloading XTTS v2 from %s (the server's settings agree to the CPML)", HUB_REPO)
    try:
        path = pathlib.Path(snapshot_download(HUB_REPO, ignore_patterns=list(HUB_IGNORE_PATTERNS)))
    except (OSError, ValueError) as exc:
        raise ModelUnavailableError(f"could not download XTTS v2 from {HUB_REPO}: {exc}") from None
    missing = missing_files(path)
    if missing:
        raise ModelUnavailableError(f"the XTTS v2 download in {path} lacks {', '.join(missing)}")
    return path


def installed(settings: ModelSettings) -> list[ResolvedModel]:
    """XTTS v2 when the Hugging Face cache has it (listed whether or not the licence is agreed)."""
    cached = hub_cache_path()
    return [_found(DEFAULT_MODEL, cached, "hub-cache")] if cached is not None else []

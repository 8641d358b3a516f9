"""The Hugging Face cache as the catalogue's models live in it: where a model's files are,
whether it was pulled, whether each file still matches its checksum, and removing it.

Every family finds its named models in the Hugging Face cache ($HF_HUB_CACHE, else
~/.cache/huggingface/hub), so that is the one cache `sidecar models` works on; Demucs
publishes its pretrained models on the hub too (demucs.hf). The hub names each file's content:
the blob of a large (LFS) file is named by its SHA-256 and any other by its git blob hash,
which is what `verify` and a pull check, offline.
"""

from __future__ import annotations

import hashlib
import pathlib
import shutil

from sidecar.engines import whisper_models
from sidecar.runtime.model_catalogue import KnownModel


def hub_cache() -> pathlib.Path:
    from huggingface_hub import constants

    return pathlib.Path(constants.HF_HUB_CACHE)


def repo_folder(model: KnownModel) -> pathlib.Path:
    """The model's folder in the hub cache (whether or not it exists)."""
    return hub_cache() / ("models--" + model.repo_id.replace("/", "--"))


def snapshot(model: KnownModel) -> pathlib.Path | None:
    """The cached snapshot `main` points to, if the model was pulled."""
    folder = repo_folder(model)
    try:
        commit = (folder / "refs" / "main").read_text().strip()
    except OSError:
        return None
    path = folder / "snapshots" / commit
    return path if path.is_dir() else None


def here(model: KnownModel) -> str:
    """Whether this machine has the model: "pulled" (in the cache), "embedded" (shipped in a
    package: Whisper tiny.en and base), or ""."""
    if snapshot(model) is not None:
        return "pulled"
    if model.family == whisper_models.FAMILY and model.name in whisper_models.EMBEDDED:
        return "embedded"
    return ""


def checksum_problem(path: pathlib.Path) -> str:
    """'' when the file's content matches the hash its blob is named by, else what differs."""
    blob = path.resolve()
    return content_problem(blob, blob.name)


def content_problem(blob: pathlib.Path, expected: str) -> str:
    """'' when the file's content hashes to `expected` (a SHA-256, or a git blob's SHA-1)."""
    if len(expected) == 64:  # an LFS file: its SHA-256
        digest = hashlib.sha256()
        kind = "sha256"
    elif len(expected) == 40:  # a file in git: the hash of its git blob
        digest = hashlib.sha1(f"blob {blob.stat().st_size}\0".encode())
        kind = "git blob sha1"
    else:
        return f"its blob {blob.name} is not named by a checksum"
    with open(blob, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    actual = digest.hexdigest()
    return "" if actual == expected else f"{kind} {actual}, expected {expected}"


def verify(model: KnownModel) -> list[str]:
    """What is wrong with the pulled model ([] when every file matches its checksum)."""
    folder = snapshot(model)
    if folder is None:
        return [f"{model.name} is not pulled"]
    problems = []
    for path in sorted(p for p in folder.rglob("*") if not p.is_dir()):
        relative = path.relative_to(folder)
        if not path.exists():
            problems.append(f"{relative}: its blob is missing")
            continue
        problem = checksum_problem(path)
        if problem:
            problems.append(f"{relative}: {problem}")
    return problems


def remove(model: KnownModel) -> int:
    """Deletes the model from the cache; the bytes freed (0 when it was not there)."""
    from huggingface_hub import scan_cache_dir

    if not hub_cache().is_dir():
        return 0
    for repo in scan_cache_dir(hub_cache()).repos:
        if repo.repo_id == model.repo_id and repo.repo_type == "model":
            freed = repo.size_on_disk
            shutil.rmtree(repo.repo_path)
            return freed
    return 0


def size_text(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"

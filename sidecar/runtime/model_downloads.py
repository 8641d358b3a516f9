"""Pulling the catalogue's models (model_catalogue) from the Hugging Face hub into its cache
(model_cache), with progress and checksums; model_bundles carries them to a machine without
internet.

A large (LFS) file is fetched into `blobs/<sha256>.part`, a name every process finds again, so a
pull cut off in any way (a lost connection, a killed process) resumes where it stopped:
huggingface_hub gives each process's download a file of its own and deletes it on failure.
The bytes still come through huggingface_hub's `http_get`, and `hf_hub_download` then finds
the blob in place and only links it into the snapshot.
"""

from __future__ import annotations

import dataclasses
import errno
import functools
import os
import pathlib
import re
import shutil
from collections.abc import Callable

from sidecar.errors import CancelledError, ModelUnavailableError
from sidecar.runtime.model_cache import checksum_problem, content_problem, hub_cache, repo_folder, size_text
from sidecar.runtime.model_catalogue import KnownModel

FREE_SPACE_MARGIN = 64 << 20  # left free after a pull: the cache's disk is usually the system's
PART_SUFFIX = ".part"  # a blob being fetched; the next pull resumes it
SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclasses.dataclass(frozen=True)
class Progress:
    model: str
    done_bytes: int
    total_bytes: int
    file: str = ""  # the file being fetched; "" once all are


def pull(
    model: KnownModel,
    *,
    agree_licence: bool = False,
    on_progress: Callable[[Progress], None] = lambda progress: None,
    cancelled: Callable[[], bool] = lambda: False,
) -> pathlib.Path:
    """Downloads what of `model` the cache lacks, checking each file's checksum, and returns
    its snapshot folder. A connection cut mid-file resumes where it stopped (huggingface_hub
    asks for the rest); the file a killed pull was in starts over, its part removed; a file
    whose content does not match its checksum is removed, and so is nothing else. Raises
    ModelUnavailableError when offline, without room, or on a bad checksum; CancelledError
    when `cancelled()` turns true."""
    if model.agreement and not agree_licence:
        raise ModelUnavailableError(
            f"{model.name} is under the {model.licence} licence ({model.agreement}): read it, and pull again "
            "agreeing to it (`sidecar models pull --agree-license`)"
        )
    hub = _hub_or_refusal(model)
    _remove_abandoned_downloads(model)
    # Listing the files points refs/main at the hub's commit: until every file is in, it must
    # point where it did, or the families would load a model missing files.
    main = repo_folder(model) / "refs" / "main"
    before = main.read_text() if main.is_file() else None
    try:
        return _fetch(model, hub, on_progress, cancelled)
    except BaseException:
        if before is None:
            main.unlink(missing_ok=True)
        else:
            main.write_text(before)
        raise


def _fetch(model: KnownModel, hub, on_progress, cancelled) -> pathlib.Path:
    import httpx2  # huggingface_hub's HTTP client
    from huggingface_hub import errors as hub_errors

    files = _listing(model, hub)
    if not files:
        raise ModelUnavailableError(f"the hub's {model.repo_id} has none of the files {model.name} needs")
    total = sum(f.file_size or 0 for f in files)
    missing = sum(f.file_size or 0 for f in files if f.will_download)
    _check_room(max(0, missing - _parts_bytes(model)), model)  # what parts hold takes no more room
    done = total - missing
    on_progress(Progress(model.name, done, total))
    for listed in files:
        if not listed.will_download:
            continue
        fetched = functools.partial(_FileProgress, model.name, listed.filename, done, total, on_progress, cancelled)
        try:
            checked = _fetch_blob(model, hub, listed, fetched)
            path = hub.hf_hub_download(model.repo_id, listed.filename, revision=listed.commit_hash, tqdm_class=fetched)
        except _Cancelled:
            raise CancelledError(f"the download of {model.name} was cancelled") from None
        except OSError as exc:
            raise _download_error(model, listed.filename, exc) from None
        except (hub_errors.HfHubHTTPError, httpx2.TransportError) as exc:  # the second: the connection, for good
            raise ModelUnavailableError(
                f"could not download {listed.filename} of {model.name}: {exc}{_resumes(model)}"
            ) from None
        problem = "" if checked else checksum_problem(pathlib.Path(path))
        if problem:
            _remove_file(pathlib.Path(path))
            raise _damaged(model, listed.filename, problem)
        done += listed.file_size or 0
    _remove_abandoned_downloads(model, "*" + PART_SUFFIX)  # every file is in: these are of older revisions
    on_progress(Progress(model.name, total, total))
    return repo_folder(model) / "snapshots" / files[0].commit_hash


def _fetch_blob(model: KnownModel, hub, listed, progress_bar) -> bool:
    """Puts a large (LFS) file's blob in the cache by way of its part file, resuming what an
    earlier pull left there; True once the blob is in and matches its SHA-256. False for a
    file the hub keeps in git (small: config, tokenizer), left to hf_hub_download. A damaged
    download and a cancelled one lose their part; one that fails otherwise keeps it."""
    from filelock import FileLock
    from huggingface_hub.file_download import http_get
    from huggingface_hub.utils import build_hf_headers

    url = hub.hf_hub_url(model.repo_id, listed.filename, revision=listed.commit_hash)
    metadata = hub.get_hf_file_metadata(url)
    sha256 = (metadata.etag or "").lower()
    if not SHA256.fullmatch(sha256):
        return False
    blobs = repo_folder(model) / "blobs"
    blobs.mkdir(parents=True, exist_ok=True)
    blob, part = blobs / sha256, blobs / (sha256 + PART_SUFFIX)
    # huggingface_hub's lock of the same blob: one pull at a time writes the part.
    locks = hub_cache() / ".locks" / repo_folder(model).name
    locks.mkdir(parents=True, exist_ok=True)
    with FileLock(locks / f"{sha256}.lock"):
        if blob.exists():
            return checksum_problem(blob) == ""
        try:
            with open(part, "ab") as file:
                if metadata.size is not None and file.tell() > metadata.size:
                    file.truncate(0)  # longer than the file: not a part of it
                http_get(
                    url,
                    file,
                    resume_size=file.tell(),
                    headers=build_hf_headers(),
                    expected_size=metadata.size,
                    displayed_filename=listed.filename,
                    tqdm_class=progress_bar,
                )
        except _Cancelled:
            part.unlink(missing_ok=True)
            raise
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                part.unlink(missing_ok=True)  # the disk needs the room more than the next pull the bytes
            raise
        problem = content_problem(part, sha256)
        if problem:
            part.unlink()
            raise _damaged(model, listed.filename, problem)
        os.replace(part, blob)
    return True


def _damaged(model: KnownModel, file: str, problem: str) -> ModelUnavailableError:
    return ModelUnavailableError(
        f"the download of {file} ({model.name}) is damaged: {problem}; it was removed, pull again"
    )


class _Cancelled(Exception):
    pass


class _FileProgress:
    """Stands in for huggingface_hub's tqdm bar of one file: reports the model's bytes."""

    def __init__(self, model, file, before, model_bytes, report, cancelled, *, initial=0, **_bar_options) -> None:
        self._model, self._file, self._before, self._total = model, file, before, model_bytes
        self._report, self._cancelled = report, cancelled
        self._bytes = initial

    def update(self, n=1) -> None:
        if self._cancelled():
            raise _Cancelled  # the partial file is removed: the part by _fetch_blob, others by huggingface_hub
        self._bytes += int(n or 0)
        self._report(Progress(self._model, self._before + self._bytes, self._total, self._file))

    def set_postfix_str(self, *args, **kwargs) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass


def _hub_or_refusal(model: KnownModel):
    try:
        import huggingface_hub
        from huggingface_hub import constants
    except ImportError:
        raise ModelUnavailableError(
            f"downloading {model.name} needs huggingface_hub: install the sidecar's `{model.extra}` extra"
        ) from None
    if constants.HF_HUB_OFFLINE:
        raise ModelUnavailableError(
            f"downloads are off (HF_HUB_OFFLINE=1): pull {model.name} on a machine that is online, "
            "`sidecar models export` it there and `sidecar models import` the bundle here"
        )
    return huggingface_hub


def _listing(model: KnownModel, hub) -> list:
    """The files the model needs, with their sizes and whether each is cached."""
    from huggingface_hub import errors as hub_errors

    try:
        return hub.snapshot_download(
            model.repo_id,
            allow_patterns=_list(model.allow_patterns),
            ignore_patterns=_list(model.ignore_patterns),
            dry_run=True,
            tqdm_class=_silent_bar(),  # the caller shows its own progress
        )
    except hub_errors.GatedRepoError:
        raise ModelUnavailableError(
            f"{model.repo_id} is gated on the hub: accept its terms there and log in (`hf auth login`) first"
        ) from None
    except hub_errors.RepositoryNotFoundError:
        raise ModelUnavailableError(f"the hub has no repository {model.repo_id} (for {model.name})") from None
    except hub_errors.LocalEntryNotFoundError as exc:  # no connection
        raise ModelUnavailableError(f"could not reach the hub for {model.name}: {exc.__cause__ or exc}") from None
    except (OSError, hub_errors.HfHubHTTPError) as exc:
        raise ModelUnavailableError(f"could not list {model.name} on the hub: {exc}") from None


def _silent_bar():
    from huggingface_hub.utils import tqdm

    class Silent(tqdm):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **{**kwargs, "disable": True})

    return Silent


def _check_room(needed: int, model: KnownModel) -> None:
    cache = hub_cache()
    cache.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(cache).free
    if needed + FREE_SPACE_MARGIN > free:
        raise ModelUnavailableError(
            f"{model.name} needs {size_text(needed)} and {cache} has {size_text(free)} free: make room, or point "
            "HF_HUB_CACHE at a larger disk"
        )


def _download_error(model: KnownModel, file: str, exc: OSError) -> ModelUnavailableError:
    if exc.errno == errno.ENOSPC:
        return ModelUnavailableError(
            f"the disk of {hub_cache()} filled up while downloading {file} of {model.name}: make room and pull "
            "again (the partial file was removed)"
        )
    return ModelUnavailableError(f"could not download {file} of {model.name}: {exc}{_resumes(model)}")


def _resumes(model: KnownModel) -> str:
    """What a failed pull says of its parts: that the next one goes on from them."""
    kept = _parts_bytes(model)
    return f"; pull again to go on from the {size_text(kept)} already here" if kept else ""


def _parts_bytes(model: KnownModel) -> int:
    blobs = repo_folder(model) / "blobs"
    return sum(p.stat().st_size for p in blobs.glob("*" + PART_SUFFIX)) if blobs.is_dir() else 0


def _remove_abandoned_downloads(model: KnownModel, pattern: str = "*.incomplete") -> int:
    """Deletes the partial files in the model's blobs that match `pattern`; the bytes freed.
    By default those that huggingface_hub's own downloads (small files; large ones before parts
    were resumed) left when their process was killed: each is named for its process
    (`<blob>.<random>.incomplete`), so no later pull resumes it, and nothing else would ever
    remove it. A download under way holds the blob's lock in .locks/: its file stays."""
    from filelock import FileLock, Timeout

    blobs = repo_folder(model) / "blobs"
    freed = 0
    for partial in sorted(blobs.glob(pattern)) if blobs.is_dir() else ():
        lock = FileLock(hub_cache() / ".locks" / repo_folder(model).name / f"{partial.name.split('.')[0]}.lock")
        try:
            with lock.acquire(timeout=0):
                freed += partial.stat().st_size
                partial.unlink()
        except (Timeout, FileNotFoundError):
            continue
    return freed


def _remove_file(path: pathlib.Path) -> None:
    blob = path.resolve()
    path.unlink(missing_ok=True)
    blob.unlink(missing_ok=True)


def _list(patterns: tuple[str, ...] | None) -> list[str] | None:
    return list(patterns) if patterns is not None else None

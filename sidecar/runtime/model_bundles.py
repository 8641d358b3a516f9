"""Models carried to a machine without internet: `export` writes pulled models into one tar
file (a manifest, and the cache's own folders of each), `import_bundle` checks every file of
one against its checksum before anything of it enters the cache."""

from __future__ import annotations

import io
import json
import os
import pathlib
import tarfile
import tempfile
from collections.abc import Iterable

from sidecar.errors import InvalidOptionsError, ModelUnavailableError
from sidecar.runtime import model_cache, model_catalogue
from sidecar.runtime.model_cache import checksum_problem

BUNDLE_FORMAT = "audio-sidecar-models/1"
MANIFEST = "manifest.json"


def export(models: Iterable[model_catalogue.KnownModel], bundle: pathlib.Path, *, force: bool = False) -> int:
    """Writes the pulled `models` into one tar file for `import_bundle` on another machine;
    the bytes written. An existing `bundle` is kept unless `force`."""
    models = list(models)
    if bundle.exists() and not force:
        raise InvalidOptionsError(f"{bundle} exists: choose another name, or --force to replace it")
    entries = []
    for model in models:
        problems = model_cache.verify(model)
        if problems:
            raise ModelUnavailableError(f"{model.name} cannot be exported: {'; '.join(problems)}")
        entries.append({"name": model.name, "repo_id": model.repo_id, "commit": model_cache.snapshot(model).name})
    manifest = json.dumps({"format": BUNDLE_FORMAT, "models": entries}, indent=2).encode()
    staged = bundle.with_name(f".{bundle.name}.{os.getpid()}.partial")
    try:
        with tarfile.open(staged, "w") as tar:
            info = tarfile.TarInfo(MANIFEST)
            info.size = len(manifest)
            tar.addfile(info, io.BytesIO(manifest))
            for model in models:
                folder = model_cache.repo_folder(model)
                commit = model_cache.snapshot(model).name
                tar.add(folder / "refs" / "main", arcname=f"{folder.name}/refs/main")
                snap = folder / "snapshots" / commit
                for path in sorted(snap.rglob("*")):
                    if path.is_symlink() or path.is_file():
                        blob = path.resolve()
                        tar.add(blob, arcname=f"{folder.name}/blobs/{blob.name}")
                        # The snapshot's file, as the path of its blob (the cache's own layout).
                        link = tarfile.TarInfo(f"{folder.name}/snapshots/{commit}/{path.relative_to(snap)}")
                        link.type = tarfile.SYMTYPE
                        link.linkname = os.path.relpath(folder / "blobs" / blob.name, path.parent)
                        tar.addfile(link)
        os.replace(staged, bundle)
    except OSError as exc:
        raise ModelUnavailableError(
            f"could not write {bundle}: {exc.strerror or exc}; nothing was written there"
        ) from None
    finally:
        staged.unlink(missing_ok=True)
    return bundle.stat().st_size


def import_bundle(bundle: pathlib.Path) -> list[model_catalogue.KnownModel]:
    """Adds the models of an `export` bundle to this machine's cache, each file checked
    against its checksum first; the models imported. Nothing of a bad bundle is kept."""
    cache = model_cache.hub_cache()
    cache.mkdir(parents=True, exist_ok=True)
    try:
        tar = tarfile.open(bundle)
    except (OSError, tarfile.TarError) as exc:
        raise InvalidOptionsError(f"{bundle} is not a model bundle: {exc}") from None
    with tar, tempfile.TemporaryDirectory(dir=cache, prefix=".import-") as staging:
        staging = pathlib.Path(staging)
        models = _bundle_models(tar, bundle)
        folders = {model_cache.repo_folder(m).name for m in models}
        for member in tar.getmembers():
            top = member.name.split("/", 1)[0]
            if member.name != MANIFEST and top not in folders:
                raise InvalidOptionsError(f"{bundle} holds {member.name!r}, outside the models its manifest names")
        try:
            tar.extractall(staging, filter="data")  # refuses absolute paths, "..", links that leave
        except (OSError, tarfile.TarError) as exc:
            raise InvalidOptionsError(f"{bundle} could not be unpacked: {exc}") from None
        for model in models:
            snap = staging / model_cache.repo_folder(model).name / "snapshots"
            for path in sorted(p for p in snap.rglob("*") if not p.is_dir()):
                problem = checksum_problem(path) if path.exists() else "its blob is missing"
                if problem:
                    raise ModelUnavailableError(
                        f"{bundle}: {model.name}'s {path.name} is damaged ({problem}); nothing was imported"
                    )
        for folder in folders:
            _merge(staging / folder, cache / folder)
    return models


def _bundle_models(tar: tarfile.TarFile, bundle: pathlib.Path) -> list[model_catalogue.KnownModel]:
    try:
        manifest = json.load(tar.extractfile(MANIFEST))
    except (KeyError, ValueError, TypeError):
        raise InvalidOptionsError(f"{bundle} is not a model bundle (no readable {MANIFEST})") from None
    if manifest.get("format") != BUNDLE_FORMAT:
        raise InvalidOptionsError(
            f"{bundle} is a bundle of format {manifest.get('format')!r}; this sidecar reads {BUNDLE_FORMAT}"
        )
    models = []
    for entry in manifest.get("models", []):
        model = model_catalogue.known(str(entry.get("name")))
        if entry.get("repo_id") != model.repo_id:
            raise InvalidOptionsError(
                f"{bundle} says {model.name} is {entry.get('repo_id')!r}; this sidecar knows it as {model.repo_id}"
            )
        models.append(model)
    return models


def _merge(source: pathlib.Path, target: pathlib.Path) -> None:
    """Moves what `target` lacks from `source`: blobs are named by their content, so one that is
    there already is the same; refs/main ends pointing at the bundle's commit."""
    for path in sorted(source.rglob("*"), key=lambda p: (p.is_symlink(), str(p))):  # blobs before links
        if path.is_dir() and not path.is_symlink():
            continue
        destination = target / path.relative_to(source)
        destination.parent.mkdir(parents=True, exist_ok=True)
        if destination.name == "main" and destination.parent.name == "refs":
            os.replace(path, destination)
        elif not (destination.exists() or destination.is_symlink()):
            os.replace(path, destination)

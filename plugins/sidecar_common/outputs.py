"""How every output file is written: complete or not at all, and never over a file by accident.

An output is written to a temporary file beside its target and committed when complete:
- without overwrite, the target's name is first created exclusively (O_EXCL), so a file that
  appeared while the job ran is never replaced, then the temporary file is renamed over that
  placeholder. This needs no hard links, which exFAT and some SMB mounts lack.
- with overwrite, the temporary file is renamed over the target.
Several outputs of one job (stems) are committed together: all of them, or none.
Files get the permissions the user's umask gives, as any program's new files do: the staged
file is created by the kernel with mode 0666 less the umask in force at that moment (and any
default ACL of the folder), not by tempfile.mkstemp, whose 0600 would survive the rename.
A write that fails (a full disk, a lost mount) removes the staged file and raises
OutputWriteError, which names the target rather than the staged file's random name.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import secrets
from collections.abc import Iterator, Sequence

_NAME_TRIES = 100  # random staging names to try before giving up (as tempfile does)


class OutputExistsError(FileExistsError):
    """The target exists (or appeared during the job) and overwriting was not asked for."""


class OutputWriteError(OSError):
    """The output could not be written (errno as the failure's); nothing was put at its name."""


def write_failed(target: str | os.PathLike, exc: OSError) -> OutputWriteError:
    """The error to raise when writing `target` failed with `exc`: a message a person can act on
    ("could not write out.srt: No space left on device"), without the staged file's name."""
    if isinstance(exc, OutputWriteError):
        return exc
    error = OutputWriteError(f"could not write {target}: {exc.strerror or exc}; nothing was written there")
    error.errno = exc.errno
    return error


def staging_path(target: str | os.PathLike) -> pathlib.Path:
    """A new, empty temporary file beside `target` with the umask's permissions."""
    target = pathlib.Path(target)
    for _ in range(_NAME_TRIES):
        # The target's suffix last, for tools that choose a format by it (ffmpeg).
        path = target.parent / f".{target.stem}.{secrets.token_hex(4)}.partial{target.suffix}"
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies
        except FileExistsError:
            continue
        except OSError as exc:
            raise write_failed(target, exc) from exc
        os.close(fd)
        return path
    raise FileExistsError(f"no free temporary name beside {target}")


def commit(staged: str | os.PathLike, target: str | os.PathLike, *, overwrite: bool) -> pathlib.Path:
    """Puts a complete staged file in place of `target`; the staged file is gone afterwards."""
    commit_all([(staged, target)], overwrite=overwrite)
    return pathlib.Path(target)


def commit_all(pairs: Sequence[tuple[str | os.PathLike, str | os.PathLike]], *, overwrite: bool) -> None:
    """Commits several staged files: each target is claimed first, so either every file is put
    in place or, when one target exists, none is and every staged file is removed."""
    claimed: list[pathlib.Path] = []
    target = None
    try:
        if not overwrite:
            for _, target in pairs:
                claimed.append(_claim(pathlib.Path(target)))
        for staged, target in pairs:
            os.replace(staged, target)
    except BaseException as exc:
        for path in claimed:
            with contextlib.suppress(OSError):
                os.unlink(path)
        for staged, _ in pairs:
            with contextlib.suppress(OSError):
                os.unlink(staged)
        if isinstance(exc, OSError) and not isinstance(exc, OutputExistsError):
            raise write_failed(target, exc) from exc
        raise


def _claim(target: pathlib.Path) -> pathlib.Path:
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except FileExistsError:
        raise OutputExistsError(f"{target} exists (it appeared while the job ran): nothing was overwritten") from None
    os.close(fd)
    return target


@contextlib.contextmanager
def staged(target: str | os.PathLike, *, overwrite: bool) -> Iterator[pathlib.Path]:
    """A temporary path to write; committed to `target` when the block ends normally, removed
    when it raises."""
    path = staging_path(target)
    try:
        yield path
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(path)
        if isinstance(exc, OSError) and not isinstance(exc, OutputExistsError):
            raise write_failed(target, exc) from exc
        raise
    commit(path, target, overwrite=overwrite)


def write_text(target: str | os.PathLike, text: str, *, overwrite: bool = True) -> pathlib.Path:
    """Writes a whole text file (UTF-8, "\\n" line ends) through a staged file."""
    target = pathlib.Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    with staged(target, overwrite=overwrite) as path:
        path.write_text(text, encoding="utf-8", newline="\n")
    return target

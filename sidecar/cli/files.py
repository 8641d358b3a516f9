"""Command-line errors and the file rules every command follows: inputs must exist, and an output
is never an input and never an existing file unless --force was given.

`UsageError` is the one error a command raises for a bad command line; `main` prints it after the
command's name and exits with 2.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
from collections.abc import Iterable, Iterator

from sidecar_common import outputs

__all__ = ["UsageError", "check_output", "committed", "require_input", "write_output"]


class UsageError(Exception):
    """A problem with the command line or the files it names; printed, exit code 2."""


def write_output(path: pathlib.Path, text: str, *, force: bool) -> None:
    """Writes a text output whole (sidecar_common.outputs); without `force`, a file that
    appeared at `path` while the job ran is left alone and the command fails."""
    with committed(path):
        outputs.write_text(path, text, overwrite=force)


@contextlib.contextmanager
def committed(path: pathlib.Path) -> Iterator[None]:
    """Turns an output that appeared during the job into a UsageError."""
    try:
        yield
    except outputs.OutputExistsError:
        raise UsageError(
            f"{path} appeared while the job ran and was left as it is: pass --force to replace it"
        ) from None


def kept_outputs(outputs: Iterable[pathlib.Path], force: bool) -> tuple[frozenset[pathlib.Path], bool]:
    """(the `outputs` of a run that exist, kept as they are unless --force; whether that is every
    one of them, so that the run is done)."""
    planned = frozenset(outputs)
    kept = frozenset() if force else frozenset(path for path in planned if path.exists())
    return kept, kept == planned


def require_input(path: pathlib.Path) -> pathlib.Path:
    """The path of an input file that exists and can be read."""
    if not path.is_file():
        raise UsageError(f"{path}: no such file")
    if not os.access(path, os.R_OK):
        raise UsageError(f"{path}: not readable")
    return path


def check_output(
    path: pathlib.Path,
    *,
    inputs: Iterable[pathlib.Path | None] = (),
    force: bool = False,
    suffixes: Iterable[str] | None = None,
    needs_directory: bool = False,
) -> None:
    """Refuses an output with a suffix not in `suffixes`, one that is any of `inputs`, an existing
    one unless `force`, and, with `needs_directory`, one whose directory does not exist (writers
    that stream into the file do not create directories)."""
    if suffixes is not None:
        suffixes = list(suffixes)
        if path.suffix.lower() not in suffixes:
            raise UsageError(f"{path}: the output must end in {', '.join(suffixes)}")
    for given in inputs:
        if given is not None and path.resolve() == given.resolve():
            raise UsageError(f"{path}: refusing to overwrite the input {given}")
    if path.exists() and not force:
        raise UsageError(f"{path} exists: pass --force to overwrite it")
    if needs_directory and not path.parent.is_dir():
        raise UsageError(f"{path.parent}: no such directory")

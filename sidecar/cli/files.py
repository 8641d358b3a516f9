"""Output-file rules every command follows: never the input, never an existing file unasked."""

from __future__ import annotations

import argparse
import pathlib

from sidecar_client.captions import write_text_atomically as write_atomically

__all__ = ["UsageError", "check_writable", "write_atomically"]


class UsageError(Exception):
    """A problem with the command line or the files it names; printed, exit code 2."""


def check_writable(path: pathlib.Path, args: argparse.Namespace) -> None:
    """Refuses the input itself, and an existing file unless --force was given."""
    if path.resolve() == args.input.resolve():
        raise UsageError(f"{path}: refusing to overwrite the input")
    if path.exists() and not args.force:
        raise UsageError(f"{path} exists: pass --force to overwrite it")

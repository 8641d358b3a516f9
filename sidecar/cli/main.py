"""Entry point of the `sidecar` command."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from sidecar.cli.files import UsageError
from sidecar.runtime import memory, requests

# Subcommand modules, each with add_parser(subparsers) and run(args) -> exit code.
COMMANDS = ["serve", "models", "subtitle", "denoise", "say", "live", "stems", "diarize", "speakers", "cue", "events"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sidecar", description=__doc__)
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(f"sidecar.cli.{name}")
        sub = module.add_parser(subparsers)
        sub.set_defaults(run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    memory.limit_malloc_arenas()  # before any thread: every command may run a server
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * args.verbose if args.command != "serve" else logging.INFO
    requests.tag_log_records()  # a server's lines name the request they serve
    logging.basicConfig(
        level=max(level, logging.DEBUG), format="%(asctime)s %(levelname)s %(name)s%(request)s: %(message)s"
    )
    try:
        return args.run(args) or 0
    except UsageError as exc:
        print(f"sidecar {args.command}: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a full disk, a lost mount: the message says which file (outputs.OutputWriteError)
        logging.getLogger(__name__).debug("sidecar %s failed", args.command, exc_info=True)  # -vv shows where
        print(f"sidecar {args.command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

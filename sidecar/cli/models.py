"""`sidecar models`: list the models a sidecar can load."""

from __future__ import annotations

import argparse

from sidecar.cli.connection import add_server_arguments, connect


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("models", help="list installed models")
    add_server_arguments(p)
    return p


def run(args: argparse.Namespace) -> int:
    from sidecar.v1 import models_pb2

    with connect(args) as client:
        for m in client.list_models():
            caps = ",".join(models_pb2.Capability.Name(c).removeprefix("CAPABILITY_").lower() for c in m.capabilities)
            flags = " (default)" if m.is_default else ""
            state = f"loaded on {m.device}, {m.memory_bytes / (1 << 20):.0f} MiB" if m.loaded else "not loaded"
            print(f"{m.family:10} {m.name:16} {m.source:10} {state:28} {caps}{flags}")
    return 0

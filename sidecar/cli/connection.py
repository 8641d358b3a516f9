"""Gives a CLI command a client: to a running sidecar (--server), or to one started in-process."""

from __future__ import annotations

import argparse
import contextlib
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sidecar_client import SidecarClient

log = logging.getLogger(__name__)


def add_server_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--server", metavar="HOST:PORT", help="a running sidecar to use; by default one is started in-process"
    )
    parser.add_argument("--token", default=None, help="token for --server (default: $SIDECAR_TOKEN)")
    parser.add_argument("--token-file", metavar="FILE", help="read the token for --server from this file")
    parser.add_argument("--tls", action="store_true", help="reach --server over TLS, verified by the system's roots")
    parser.add_argument("--tls-ca", metavar="PEM", help="reach --server over TLS, verified by these roots")
    parser.add_argument(
        "--priority",
        choices=["interactive", "batch"],
        help="on a shared sidecar, batch jobs let interactive ones go first (default: interactive; "
        "batch for several files)",
    )


@contextlib.contextmanager
def connect(args: argparse.Namespace, **server_overrides) -> Iterator[SidecarClient]:
    """Yields a ready SidecarClient; an in-process server lives as long as the block."""
    from sidecar_client import Connection, SidecarClient

    priority = getattr(args, "priority", None) or "interactive"
    if args.server:
        connection = Connection(args.server, args.token, args.token_file, args.tls, args.tls_ca)
        with connection.open(priority=priority) as client:
            client.wait_ready(timeout=10)
            yield client
        return
    from sidecar.server.inprocess import InProcessSidecar

    # The in-process server takes $SIDECAR_TOKEN like any other, so its client sends it too.
    with (
        InProcessSidecar(**server_overrides) as server,
        SidecarClient(server.address, token=server.config.token, priority=priority) as client,
    ):
        client.wait_ready(timeout=30)
        yield client

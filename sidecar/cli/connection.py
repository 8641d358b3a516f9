"""Gives a CLI command a client: to a running sidecar (--server), or to one started in-process."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

from sidecar import config

if TYPE_CHECKING:
    from sidecar_client import SidecarClient

log = logging.getLogger(__name__)


def add_server_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--server", metavar="HOST:PORT", help="a running sidecar to use; by default one is started in-process"
    )
    parser.add_argument("--token", default=None, help="token for --server (default: $SIDECAR_TOKEN)")


@contextlib.contextmanager
def connect(args: argparse.Namespace, **server_overrides) -> Iterator[SidecarClient]:
    """Yields a ready SidecarClient; an in-process server lives as long as the block."""
    from sidecar_client import SidecarClient

    if args.server:
        token = args.token or os.environ.get(config.TOKEN_ENV)
        with SidecarClient(args.server, token=token) as client:
            client.wait_ready(timeout=10)
            yield client
        return
    from sidecar.server.inprocess import InProcessSidecar

    # The in-process server takes $SIDECAR_TOKEN like any other, so its client sends it too.
    with (
        InProcessSidecar(**server_overrides) as server,
        SidecarClient(server.address, token=server.config.token) as client,
    ):
        client.wait_ready(timeout=30)
        yield client

"""What the HTTP API's endpoints share: their error, and work that stops when the client goes."""

from __future__ import annotations

import asyncio

from sidecar import errors

DISCONNECT_CHECK_SECONDS = 0.5


class HttpError(Exception):
    def __init__(self, status: int, message: str, kind: str = "invalid_request_error", headers=None) -> None:
        super().__init__(message)
        self.status, self.kind, self.headers = status, kind, headers or {}


async def until_disconnected(request, work):
    """What `work` returns; cancelled, which stops its job, if the client goes away first (an
    HTTP handler is not cancelled when its client hangs up)."""
    task = asyncio.ensure_future(work)
    try:
        while not task.done():
            await asyncio.wait({task}, timeout=DISCONNECT_CHECK_SECONDS)
            if not task.done() and await request.is_disconnected():
                raise errors.CancelledError("the client went away")
        return task.result()
    finally:
        if not task.done():
            task.cancel()
            await asyncio.wait({task})

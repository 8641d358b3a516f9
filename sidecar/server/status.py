"""Maps domain errors to gRPC status codes, in one place."""

from __future__ import annotations

import contextlib
import logging
import secrets

import grpc

from sidecar import errors
from sidecar_common.limits import RETRY_DELAY_METADATA

log = logging.getLogger(__name__)

CODES = {
    errors.InvalidAudioError: grpc.StatusCode.INVALID_ARGUMENT,
    errors.InvalidOptionsError: grpc.StatusCode.INVALID_ARGUMENT,
    errors.LimitExceededError: grpc.StatusCode.INVALID_ARGUMENT,
    errors.ModelNotFoundError: grpc.StatusCode.NOT_FOUND,
    errors.ModelUnavailableError: grpc.StatusCode.FAILED_PRECONDITION,
    errors.PermissionDeniedError: grpc.StatusCode.PERMISSION_DENIED,
    errors.BusyError: grpc.StatusCode.RESOURCE_EXHAUSTED,
    errors.IdleStreamError: grpc.StatusCode.DEADLINE_EXCEEDED,
    errors.ShuttingDownError: grpc.StatusCode.UNAVAILABLE,
    errors.CancelledError: grpc.StatusCode.CANCELLED,
}


def code_for(exc: errors.SidecarError) -> grpc.StatusCode:
    for cls in type(exc).__mro__:
        if cls in CODES:
            return CODES[cls]
    return grpc.StatusCode.INTERNAL


@contextlib.asynccontextmanager
async def mapped_errors(context: grpc.aio.ServicerContext, method: str):
    """Turns SidecarError into its status and anything unexpected into INTERNAL, logged."""
    try:
        yield
    except errors.SidecarError as exc:
        code = code_for(exc)
        log.info("%s: %s: %s", method, code.name, exc)
        if isinstance(exc, errors.BusyError):
            context.set_trailing_metadata(((RETRY_DELAY_METADATA, str(round(exc.retry_after * 1000))),))
        await context.abort(code, str(exc))
    except grpc.aio.AbortError:
        raise
    except Exception:
        # The client learns that it failed, and where the operator finds why; the exception's
        # text may hold server paths and is for the log only.
        incident = secrets.token_hex(4)
        log.exception("%s failed (incident %s)", method, incident)
        await context.abort(
            grpc.StatusCode.INTERNAL, f"{method} failed inside the server (incident {incident} in its log)"
        )

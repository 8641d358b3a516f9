"""Maps domain errors to gRPC status codes, in one place."""

from __future__ import annotations

import contextlib
import logging

import grpc

from sidecar import errors

log = logging.getLogger(__name__)

CODES = {
    errors.InvalidAudioError: grpc.StatusCode.INVALID_ARGUMENT,
    errors.InvalidOptionsError: grpc.StatusCode.INVALID_ARGUMENT,
    errors.LimitExceededError: grpc.StatusCode.INVALID_ARGUMENT,
    errors.ModelNotFoundError: grpc.StatusCode.NOT_FOUND,
    errors.ModelUnavailableError: grpc.StatusCode.FAILED_PRECONDITION,
    errors.BusyError: grpc.StatusCode.RESOURCE_EXHAUSTED,
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
        await context.abort(code, str(exc))
    except grpc.aio.AbortError:
        raise
    except Exception as exc:
        log.exception("%s failed", method)
        await context.abort(grpc.StatusCode.INTERNAL, f"internal error: {type(exc).__name__}: {exc}")

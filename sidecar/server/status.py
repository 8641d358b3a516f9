"""Maps domain errors to gRPC status codes, in one place; and names each call (its request id,
its priority) for the work and the log lines it causes."""

from __future__ import annotations

import contextlib
import logging
import re
import secrets

import grpc

from sidecar import errors
from sidecar.runtime import priority, requests
from sidecar.runtime.metrics import Metrics
from sidecar_common.limits import PRIORITY_METADATA, REQUEST_ID_METADATA, RETRY_DELAY_METADATA

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


_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
FILE_JOB_PRIORITIES = ("interactive", "batch")  # a client's choices; live is for streams


def name_request(context: grpc.aio.ServicerContext) -> str:
    """Takes the call's request id (the client's, when it sent a sane one) and priority into the
    context variables the runtime reads; returns the id."""
    metadata = dict(context.invocation_metadata() or ())
    sent = metadata.get(REQUEST_ID_METADATA, "")
    request = sent if isinstance(sent, str) and _REQUEST_ID.fullmatch(sent) else secrets.token_hex(4)
    requests.request_id.set(request)
    wanted = metadata.get(PRIORITY_METADATA, "") or "interactive"
    if wanted not in FILE_JOB_PRIORITIES:
        raise errors.InvalidOptionsError(
            f"unknown priority {str(wanted)[:40]!r} in the {PRIORITY_METADATA!r} metadata: "
            f"{' or '.join(FILE_JOB_PRIORITIES)}"
        )
    priority.requested_priority.set(priority.PRIORITIES[wanted])
    return request


@contextlib.asynccontextmanager
async def mapped_errors(context: grpc.aio.ServicerContext, method: str, metrics: Metrics | None = None):
    """Names the request, then turns SidecarError into its status and anything unexpected into
    INTERNAL, logged. A failed call's trailing metadata carries its request id, which the
    client prints, so that the operator finds its log lines. `metrics` counts how calls end."""
    request = secrets.token_hex(4)
    code = grpc.StatusCode.CANCELLED  # unless it ends otherwise: the client went away
    try:
        request = name_request(context)
        yield
        code = grpc.StatusCode.OK
    except errors.SidecarError as exc:
        code = code_for(exc)
        log.info("%s: %s: %s", method, code.name, exc)
        trailing = [(REQUEST_ID_METADATA, request)]
        if isinstance(exc, errors.BusyError):
            trailing.append((RETRY_DELAY_METADATA, str(round(exc.retry_after * 1000))))
        context.set_trailing_metadata(tuple(trailing))
        await context.abort(code, str(exc))
    except grpc.aio.AbortError:
        raise
    except Exception:
        # The client learns that it failed, and where the operator finds why; the exception's
        # text may hold server paths and is for the log only.
        code = grpc.StatusCode.INTERNAL
        log.exception("%s failed (request %s)", method, request)
        context.set_trailing_metadata(((REQUEST_ID_METADATA, request),))
        await context.abort(
            grpc.StatusCode.INTERNAL, f"{method} failed inside the server (request {request} in its log)"
        )
    finally:
        if metrics is not None:
            metrics.call_ended(method, code.name)

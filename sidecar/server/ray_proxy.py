"""What runs inside Serve's gRPC proxy: each function is named in ray_serve.SERVICER_FUNCTIONS,
which Serve's proxy calls as it adds the services, and adds no service but changes how the proxy
routes calls and reports their ends. They patch Ray Serve 2.60's private proxy, where it has no
option for what the sidecar needs."""

from __future__ import annotations

import dataclasses
import importlib
import inspect

import grpc

from sidecar.server import app

APPLICATION = "sidecar"
LOST_REPLICA = "the replica running this call was lost (its process or node went away): call again"
WRITTEN_FOR = "Ray 2.60"
# What the functions below replace or call in Serve's private proxy, with the parameters they
# pass on: another Ray may have moved or changed them, and its proxy would then route, cancel and
# report calls its own way without a word.
CHANGED_INTERNALS = (
    ("ray.serve._private.proxy_request_response", "gRPCProxyRequest.setup_variables", ("self",)),
    ("ray.serve._private.proxy_router", "ProxyRouter.get_handle_for_endpoint", ("self", "target_app_name")),
    ("ray.serve._private.proxy", "get_grpc_response_status", ("exc", "request_timeout_s", "request_id")),
    (
        "ray.serve._private.proxy",
        "gRPCProxy.send_request_to_replica",
        ("self", "request_id", "internal_request_id", "handle", "proxy_request"),
    ),
    ("ray.serve._private.proxy_request_response", "ResponseStatus", ("code", "is_error", "message")),
    ("ray.serve.exceptions", "gRPCStatusError.__init__", ("self", "original_exception", "code", "details")),
)


def changed_internals() -> list[str]:
    """The internals in CHANGED_INTERNALS that the installed Ray lacks, or has with other
    parameters: any of them and `sidecar serve --ray` refuses to start."""
    differ = []
    for module, path, parameters in CHANGED_INTERNALS:
        try:
            found = importlib.import_module(module)
            for name in path.split("."):
                found = getattr(found, name)
            given = list(inspect.signature(found).parameters)
        except (ImportError, AttributeError, TypeError, ValueError):
            given = []
        if given[: len(parameters)] != list(parameters):
            differ.append(f"{module}.{path}")
    return differ


def family_application(family: str) -> str:
    return f"{APPLICATION}-{family}"


def route_calls_to_their_familys_application(servicer, server) -> None:
    """In Serve's proxy: a call that names no application (the clients' calls: they know
    nothing of Ray) goes to the application of its service's family when there is one, else to
    the sidecar application. Serve 2.60's proxy routes by the "application" metadata alone, and
    without it finds no application once there are several."""
    from ray.serve._private.proxy_request_response import gRPCProxyRequest
    from ray.serve._private.proxy_router import ProxyRouter

    setup = gRPCProxyRequest.setup_variables
    if getattr(setup, "routes_by_family", False):
        return
    find = ProxyRouter.get_handle_for_endpoint

    def setup_variables(self) -> None:
        setup(self)
        if not self.app_name and not (self.is_route_request or self.is_health_request):
            service = self.service_method.strip("/").split("/")[0].rsplit(".", 1)[-1]  # "/pkg.Service/Method"
            family = app.SERVICE_FAMILIES.get(service)
            self.app_name = family_application(family) if family else APPLICATION

    def get_handle_for_endpoint(self, target_app_name: str):
        found = find(self, target_app_name)
        if found is None and target_app_name.startswith(f"{APPLICATION}-"):  # a family served by the sidecar's
            found = find(self, APPLICATION)
        return found

    setup_variables.routes_by_family = True
    gRPCProxyRequest.setup_variables = setup_variables
    ProxyRouter.get_handle_for_endpoint = get_handle_for_endpoint


class AbortedWithMetadata(grpc.aio.AbortError):
    """A replica's abort, with the trailing metadata its call set (the request id, the retry
    delay of RESOURCE_EXHAUSTED): Serve 2.60 carries only the code and details of a failed call
    to the proxy, in an exception that wraps this one."""

    def __init__(self, details: str, trailing_metadata) -> None:
        super().__init__(details, tuple(trailing_metadata))

    @property
    def trailing_metadata(self) -> tuple:
        return self.args[1]


def report_lost_replicas_as_unavailable(servicer, server) -> None:
    """In Serve's proxy: a call whose replica died with its node ends UNAVAILABLE, the status
    that says calling again may work, where Serve 2.60 says INTERNAL in Ray's own words ("The
    actor ... is unavailable"). Serve calls each servicer function in the proxy before it serves; this one
    adds no service, it wraps the proxy's mapping of exceptions to statuses."""
    from ray.exceptions import RayActorError
    from ray.serve._private import proxy
    from ray.serve._private.proxy_request_response import ResponseStatus

    mapped = proxy.get_grpc_response_status
    if getattr(mapped, "reports_lost_replicas", False):
        return

    @dataclasses.dataclass(frozen=True)
    class StatusWithMetadata(ResponseStatus):
        trailing_metadata: tuple = ()

    def status_of(exc, request_timeout_s, request_id):
        if isinstance(exc, RayActorError):  # ActorDiedError, ActorUnavailableError
            return ResponseStatus(code=grpc.StatusCode.UNAVAILABLE, is_error=True, message=LOST_REPLICA)
        status = mapped(exc, request_timeout_s, request_id)
        aborted = getattr(exc, "original_exception", None)  # Serve's gRPCStatusError
        if isinstance(aborted, AbortedWithMetadata) and aborted.trailing_metadata:
            fields = {field.name: getattr(status, field.name) for field in dataclasses.fields(status)}
            return StatusWithMetadata(**fields, trailing_metadata=aborted.trailing_metadata)
        return status

    status_of.reports_lost_replicas = True
    proxy.get_grpc_response_status = status_of


def cancel_replica_calls_with_their_rpcs(servicer, server) -> None:
    """In Serve's proxy: a call the client cancels cancels its replica's work, and a failed
    call's trailing metadata reaches the client. Serve 2.60's proxy cancels it only when the
    cancel finds the proxy waiting on the replica; when it finds it writing a response to the
    client, the replica's job ran on to its end, holding the replica (1 cancel in 3 in the
    issue's runs). Here the cancel is tied to the gRPC call's end instead, whatever the proxy is
    doing then."""
    from ray.serve._private.proxy import gRPCProxy

    send = gRPCProxy.send_request_to_replica
    if getattr(send, "cancels_with_the_rpc", False):
        return

    async def send_request_to_replica(self, request_id, internal_request_id, handle, proxy_request, *args, **kwargs):
        handle = _CancelledWithTheRpc(handle, proxy_request.context)
        async for message in send(self, request_id, internal_request_id, handle, proxy_request, *args, **kwargs):
            trailing = getattr(message, "trailing_metadata", None)  # a failed call's (report_lost_replicas_...)
            if isinstance(trailing, tuple) and trailing:
                proxy_request.context.set_trailing_metadata(trailing)
            yield message

    send_request_to_replica.cancels_with_the_rpc = True
    gRPCProxy.send_request_to_replica = send_request_to_replica


class _CancelledWithTheRpc:
    """A deployment handle whose calls are cancelled when the gRPC call `rpc` is."""

    def __init__(self, handle, rpc) -> None:
        self._handle = handle
        self._rpc = rpc

    def remote(self, *args, **kwargs):
        response = self._handle.remote(*args, **kwargs)

        def on_rpc_done(rpc) -> None:
            if rpc.cancelled() and not response.cancelled():
                response.cancel()

        self._rpc.add_done_callback(on_rpc_done)
        return response

    def __getattr__(self, name: str):
        return getattr(self._handle, name)

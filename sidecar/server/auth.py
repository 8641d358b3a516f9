"""Bearer-token check for every call, compared in constant time."""

from __future__ import annotations

import hmac

import grpc

HEALTH_PREFIX = "/grpc.health.v1.Health/"  # probes stay open, as load balancers expect


class TokenInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, token: str) -> None:
        self._expected = f"Bearer {token}".encode()

    async def intercept_service(self, continuation, details: grpc.HandlerCallDetails):
        if details.method.startswith(HEALTH_PREFIX):
            return await continuation(details)
        sent = dict(details.invocation_metadata or ()).get("authorization", "")
        if hmac.compare_digest(sent.encode() if isinstance(sent, str) else sent, self._expected):
            return await continuation(details)
        handler = await continuation(details)
        return _refusal(handler, "missing token" if not sent else "wrong token")


def _refusal(handler: grpc.RpcMethodHandler | None, reason: str) -> grpc.RpcMethodHandler:
    async def refuse(request_or_iterator, context: grpc.aio.ServicerContext):
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, f"{reason}: send 'authorization: Bearer <token>' metadata")

    async def refuse_stream(request_or_iterator, context):
        await refuse(request_or_iterator, context)
        yield  # never reached; makes this an async generator for streaming responses

    if handler is None:
        return grpc.unary_unary_rpc_method_handler(refuse)
    if handler.response_streaming:
        factory = (
            grpc.stream_stream_rpc_method_handler if handler.request_streaming else grpc.unary_stream_rpc_method_handler
        )
        return factory(refuse_stream, handler.request_deserializer, handler.response_serializer)
    factory = grpc.stream_unary_rpc_method_handler if handler.request_streaming else grpc.unary_unary_rpc_method_handler
    return factory(refuse, handler.request_deserializer, handler.response_serializer)

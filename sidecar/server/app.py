"""Builds and runs the gRPC server: services, health, reflection, auth, TLS, shutdown."""

from __future__ import annotations

import asyncio
import functools
import logging
import signal
from collections.abc import Awaitable, Callable

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from sidecar.config import ServerConfig
from sidecar.runtime import threads
from sidecar.runtime.runtime import Runtime
from sidecar.server import (
    auth,
    cues,
    diarization,
    enhancement,
    events,
    models,
    separation,
    streaming_recognition,
    synthesis,
    transcription,
    translation,
)

log = logging.getLogger(__name__)
QUICK_CALL_ROOM = 16  # concurrent calls beyond the job and stream limits
# A worker thread still in a model call when the process exits aborts it (CTranslate2).
WORKER_EXIT_SECONDS = 10.0

# Each module registers its servicer and returns the service's full name. Later capabilities
# add their module here.
SERVICE_MODULES = [
    transcription,
    models,
    enhancement,
    streaming_recognition,
    synthesis,
    separation,
    diarization,
    cues,
    events,
    translation,
]


class Sidecar:
    """A started server; `port` is the bound port (useful when config.port is 0)."""

    def __init__(
        self, server: grpc.aio.Server, runtime: Runtime, port: int, health_servicer: health.aio.HealthServicer
    ) -> None:
        self.server = server
        self.runtime = runtime
        self.port = port
        self._health = health_servicer

    async def stop(self, grace: float | None = None) -> None:
        """Jobs in flight get the grace period; live streams end at once with UNAVAILABLE (their
        clients resume elsewhere or later), and the threads decoding them are waited for."""
        self.runtime.stopping.set()
        await self._health.enter_graceful_shutdown()
        await self.server.stop(self.runtime.config.shutdown_grace_seconds if grace is None else grace)
        await asyncio.to_thread(threads.wait_for_workers, WORKER_EXIT_SECONDS)


async def start(config: ServerConfig, runtime: Runtime | None = None) -> Sidecar:
    config.validate()
    runtime = runtime or Runtime(config)
    interceptors = [auth.TokenInterceptor(config.token)] if config.token else []
    server = grpc.aio.server(
        interceptors=interceptors,
        # Calls past what the queues and stream limits admit, plus room for quick calls
        # (ListModels, health), get RESOURCE_EXHAUSTED from gRPC before any handler runs.
        maximum_concurrent_rpcs=config.max_running_jobs
        + config.max_waiting_jobs
        + 2 * config.max_live_streams
        + QUICK_CALL_ROOM,
        options=[
            ("grpc.max_receive_message_length", config.max_message_bytes),
            ("grpc.max_send_message_length", config.max_message_bytes),
            ("grpc.so_reuseport", 0),
        ],
    )
    names = [module.register(server, runtime) for module in SERVICE_MODULES]
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        [*names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME], server
    )
    if config.tls_cert:
        with open(config.tls_key, "rb") as k, open(config.tls_cert, "rb") as c:
            credentials = grpc.ssl_server_credentials([(k.read(), c.read())])
        port = server.add_secure_port(config.address, credentials)
    else:
        port = server.add_insecure_port(config.address)
    if port == 0:
        raise OSError(f"could not bind {config.address}")
    await server.start()
    for name in ["", *names]:
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    log.info(
        "serving %s on %s:%d%s (device preference %s, %d job(s) at once, %d waiting)",
        ", ".join(names),
        config.host,
        port,
        " with TLS" if config.tls_cert else "",
        config.device,
        config.max_running_jobs,
        config.max_waiting_jobs,
    )
    return Sidecar(server, runtime, port, health_servicer)


async def preload(runtime: Runtime) -> None:
    for name in runtime.config.preload:
        await asyncio.to_thread(functools.partial(runtime.whisper, name, requested=False))


async def serve(config: ServerConfig, on_ready: Callable[[Sidecar], Awaitable[None] | None] | None = None) -> None:
    """Runs until SIGTERM or SIGINT, then lets in-flight calls finish within the grace period."""
    sidecar = await start(config)
    await preload(sidecar.runtime)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if on_ready is not None:
        result = on_ready(sidecar)
        if asyncio.iscoroutine(result):
            await result
    await stop.wait()
    log.info("shutting down: %.0f s for calls in flight", config.shutdown_grace_seconds)
    await sidecar.stop()
    log.info("stopped")

"""Builds and runs the gRPC server: services, health, reflection, auth, TLS, shutdown."""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from sidecar.config import ServerConfig
from sidecar.runtime import memory, threads
from sidecar.runtime.runtime import MODEL_FAMILIES, Runtime
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
# A worker thread still in a model call when the interpreter exits crashes it (CTranslate2):
# after the calls have ended, their threads get this long to reach a safe point and stop.
WORKER_EXIT_SECONDS = 10.0
SHUTTING_DOWN = "the sidecar is shutting down"

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
# The model family each service needs: its health is NOT_SERVING while that family's default
# model cannot load (a missing extra, weights not installed, a licence not agreed to).
SERVICE_FAMILIES = {
    "TranscriptionService": "whisper",
    "StreamingRecognitionService": "whisper",
    "EnhancementService": "deepfilternet",
    "SynthesisService": "xtts",
    "SeparationService": "demucs",
    "DiarizationService": "silero-ge2e",
    "CueGenerationService": "musicgen",
    "EventDetectionService": "audio-events",
    "TranslationService": "translation",
}


class Sidecar:
    """A started server; `port` is the bound port (useful when config.port is 0)."""

    def __init__(
        self,
        server: grpc.aio.Server,
        runtime: Runtime,
        port: int,
        health_servicer: health.aio.HealthServicer,
        metrics_server=None,
        http_server=None,
    ) -> None:
        self.server = server
        self.runtime = runtime
        self.port = port
        self._health = health_servicer
        self._metrics_server = metrics_server
        self.metrics_port = metrics_server.server_port if metrics_server is not None else None
        self._http_server = http_server
        self.http_port = http_server.port if http_server is not None else None
        self.families_checked: asyncio.Task | None = None
        self.releasing_memory: asyncio.Task | None = None

    async def stop(self, grace: float | None = None) -> int:
        """New calls are refused at once; live streams end at once with UNAVAILABLE (their
        clients resume elsewhere or later); jobs in flight get the grace period, then end with
        UNAVAILABLE saying why, and their threads stop at their next step. Returns how many
        worker threads were still inside a model call WORKER_EXIT_SECONDS later."""
        grace = self.runtime.config.shutdown_grace_seconds if grace is None else grace
        self.runtime.stopping.set()
        self.runtime.jobs.close(f"{SHUTTING_DOWN} and takes no new jobs; try again once it is back")
        await self._health.enter_graceful_shutdown()
        # gRPC's own end of the grace period cancels calls with "Cancelling all calls"; the
        # jobs are interrupted first, so that their clients learn why.
        stopped = asyncio.ensure_future(self.server.stop(grace + 1.0))
        await asyncio.wait({stopped}, timeout=grace)
        if not stopped.done():
            self.runtime.jobs.interrupt(
                f"{SHUTTING_DOWN}: the job was stopped after the {grace:g} s it had to finish; "
                "send it again once the sidecar is back"
            )
        await stopped
        if self._http_server is not None:
            await self._http_server.stop()
        if self._metrics_server is not None:
            await asyncio.to_thread(self._metrics_server.shutdown)
        for task in (self.families_checked, self.releasing_memory):
            if task is not None:
                task.cancel()
        return len(await asyncio.to_thread(threads.wait_for_workers, WORKER_EXIT_SECONDS))


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
    metrics_server = runtime.metrics.serve(config.metrics_host, config.metrics_port) if config.metrics_port else None
    http_server = await start_http(runtime) if config.http_port else None
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
    follow_family_health(runtime, health_servicer, names)
    sidecar = Sidecar(server, runtime, port, health_servicer, metrics_server, http_server)
    sidecar.releasing_memory = asyncio.create_task(memory.keep_releasing())
    return sidecar


async def start_http(runtime: Runtime):
    try:
        from sidecar.server import http_api

        return await http_api.HttpServer(runtime).start()
    except ImportError as exc:
        raise OSError(f"--http-port needs the sidecar's `http` extra ({exc.name} is missing)") from None


# Checked when first used instead: finding Demucs' default imports torch (about 3 s and some
# hundreds of MiB), which a server that only captions never needs.
CHECKED_WHEN_USED = {"demucs"}


async def check_every_family(runtime: Runtime) -> None:
    """Each family's default once, in the background (a check may import a library): a
    long-running server's health tells which services cannot load before a request tries."""
    for family in MODEL_FAMILIES:
        if family.name in SERVICE_FAMILIES.values() and family.name not in CHECKED_WHEN_USED:
            await asyncio.to_thread(runtime.check_family, family)


def follow_family_health(runtime: Runtime, health_servicer: health.aio.HealthServicer, names: list[str]) -> None:
    """Keeps each service's health at NOT_SERVING while its family's default model cannot load,
    as found by a check or by loading that default."""
    loop = asyncio.get_running_loop()
    services = {name: SERVICE_FAMILIES.get(name.rsplit(".", 1)[-1]) for name in names}

    def report(family: str, problem: str | None) -> None:
        status = health_pb2.HealthCheckResponse.NOT_SERVING if problem else health_pb2.HealthCheckResponse.SERVING
        for name, needs in services.items():
            if needs == family:
                if problem:
                    log.info("%s: NOT_SERVING until %s can load: %s", name, family, problem)
                asyncio.run_coroutine_threadsafe(health_servicer.set(name, status), loop)

    runtime.on_family_health = report


async def preload(runtime: Runtime) -> None:
    for name in runtime.config.preload:
        await asyncio.to_thread(functools.partial(runtime.whisper, name, requested=False))


async def serve(config: ServerConfig, on_ready: Callable[[Sidecar], Awaitable[None] | None] | None = None) -> None:
    """Runs until SIGTERM or SIGINT, then lets in-flight calls finish within the grace period."""
    sidecar = await start(config)
    await preload(sidecar.runtime)
    sidecar.families_checked = asyncio.ensure_future(check_every_family(sidecar.runtime))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if on_ready is not None:
        result = on_ready(sidecar)
        if asyncio.iscoroutine(result):
            await result
    await stop.wait()
    log.info("shutting down: new calls refused, %g s for jobs in flight", config.shutdown_grace_seconds)
    stuck = await sidecar.stop()
    if stuck:
        # Exiting the interpreter under a thread still inside a model call crashes it (SIGSEGV,
        # SIGABRT); every call has ended and its files are closed, so leave without that.
        log.warning("stopped; %d worker thread(s) still inside a model call were left to the exit", stuck)
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    log.info("stopped")

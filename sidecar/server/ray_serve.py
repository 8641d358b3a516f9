"""The v1 services on a Ray Serve cluster: the same servicers behind Serve's gRPC proxy.

Serve's proxy takes each call and invokes the method named after the RPC on the ingress
deployment. Here the deployment gets one such method per RPC of every v1 service and of
grpc.health.v1, each calling the very handler `sidecar serve` registers on its grpc.aio
server (recorded from the same `register` functions), with a context adapted to Serve's.
Only the transport differs: options, limits, errors and jobs are the servicers' own.

Serve's proxy listens on every interface and has no interceptors, so the token is checked
here, on every call but health, as auth.TokenInterceptor does. Serve sends each call to one
replica, so ListModels answers for all of them (ray_models): each replica posts its own answer
to a small named actor every few seconds, and the one that takes the call merges the others'
into its own.

A model family the config names (ray_families) is served by a Serve application of its own,
"sidecar-<family>", with its own replicas, CPUs and GPUs: the proxy sends the calls of that
family's services there, and every other call to the "sidecar" application. Each application's
replicas run the same Ingress, and load only the models of the calls they get. Needs the `ray`
extra.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hmac
import logging
import os
from collections.abc import AsyncIterator
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2_grpc
from grpc_health.v1.health_pb2 import HealthCheckResponse

from sidecar.config import RayFamily, ServerConfig
from sidecar.runtime import memory
from sidecar.runtime.runtime import Runtime
from sidecar.server import app, models, ray_proxy
from sidecar.server.ray_models import (
    MODELS_BOARD,
    POST_BOARD_SECONDS,
    POST_SECONDS,
    READ_BOARD_SECONDS,
    ModelsBoard,
    merged_models,
)
from sidecar.server.ray_proxy import APPLICATION, family_application
from sidecar.v1 import models_pb2

log = logging.getLogger(__name__)

# Serve's proxy imports these itself to route each service's calls.
SERVICER_FUNCTIONS = [
    *(
        f"sidecar.v1.{module.__name__.rsplit('.', 1)[-1]}_pb2_grpc.add_{service}Servicer_to_server"
        for module, service in (
            (app.transcription, "TranscriptionService"),
            (app.models, "ModelService"),
            (app.enhancement, "EnhancementService"),
            (app.streaming_recognition, "StreamingRecognitionService"),
            (app.synthesis, "SynthesisService"),
            (app.separation, "SeparationService"),
            (app.diarization, "DiarizationService"),
            (app.cues, "CueGenerationService"),
            (app.events, "EventDetectionService"),
            (app.translation, "TranslationService"),
        )
    ),
    "grpc_health.v1.health_pb2_grpc.add_HealthServicer_to_server",
    # Not services: these run in the proxy as the services are added (see the functions).
    "sidecar.server.ray_proxy.report_lost_replicas_as_unavailable",
    "sidecar.server.ray_proxy.cancel_replica_calls_with_their_rpcs",
    "sidecar.server.ray_proxy.route_calls_to_their_familys_application",
]
FAMILIES = sorted(set(app.SERVICE_FAMILIES.values()))
SCALE_UP_SECONDS = 15.0  # calls in flight over the target this long add a replica (Serve looks every 10 s)


def unknown_families(config: ServerConfig) -> list[str]:
    """The families config.ray_families names that no service needs."""
    return [family.family for family in config.ray_families if family.family not in FAMILIES]


def unfit_ray() -> str | None:
    """Why the installed Ray cannot serve the sidecar, or None: ray_proxy changes parts of Serve's
    private proxy, and on a Ray that moved or changed them calls would be routed, cancelled and
    reported Ray's own way, with no word."""
    changed = ray_proxy.changed_internals()
    if not changed:
        return None
    import ray

    return (
        f"the sidecar changes parts of Serve's gRPC proxy that Ray {ray.__version__} has moved or changed "
        f"({', '.join(changed)}): install {ray_proxy.WRITTEN_FOR} (the ray extra's pin in uv.lock)"
    )


class _Recorder:
    """Stands in for a grpc.aio server while the services register: keeps their handlers."""

    def __init__(self) -> None:
        self.handlers: dict[str, grpc.RpcMethodHandler] = {}
        self.services: list[str] = []

    def add_generic_rpc_handlers(self, handlers) -> None:
        pass  # the same handlers come by name below

    def add_registered_method_handlers(self, service: str, handlers: dict[str, grpc.RpcMethodHandler]) -> None:
        self.services.append(service)
        for method, handler in handlers.items():
            if method in self.handlers:
                raise RuntimeError(f"two services have an RPC named {method}: Serve routes by the name alone")
            self.handlers[method] = handler


def record(runtime: Runtime, health_servicer: health.aio.HealthServicer) -> _Recorder:
    recorder = _Recorder()
    for module in app.SERVICE_MODULES:
        module.register(recorder, runtime)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, recorder)
    return recorder


class ServeContext:
    """What the servicers use of grpc.aio.ServicerContext, over Serve's RayServegRPCContext:
    abort() sets the code and details and raises, and Serve's proxy sends that status, with the
    trailing metadata the call set (ray_proxy.AbortedWithMetadata)."""

    def __init__(self, serve_context) -> None:
        self._context = serve_context
        self._trailing: tuple = ()

    def invocation_metadata(self):
        return tuple(self._context.invocation_metadata() or ())

    def set_trailing_metadata(self, metadata) -> None:
        self._trailing = tuple(metadata)
        self._context.set_trailing_metadata(list(metadata))

    async def abort(self, code: grpc.StatusCode, details: str = "", trailing_metadata=()) -> None:
        self._context.set_code(code)
        self._context.set_details(details)
        if trailing_metadata:
            self.set_trailing_metadata(trailing_metadata)
        raise ray_proxy.AbortedWithMetadata(details, self._trailing)


class Ingress:
    """The ingress deployment's class; `ingress_class()` adds one method per RPC."""

    def __init__(self, config_fields: dict[str, Any], family: str | None = None) -> None:
        memory.limit_malloc_arenas()
        self.family = family
        self.config = ServerConfig(**config_fields)
        self.config.validate()
        self.runtime = Runtime(self.config)
        self.health = health.aio.HealthServicer()
        self.recorded = record(self.runtime, self.health)
        self._expected = f"Bearer {self.config.token}".encode() if self.config.token else None
        self._serving = False
        self._board = None
        # --preload names Whisper models: loaded by the replicas that get the Whisper calls,
        # before Serve sends them any.
        whisper_split_off = any(f.family == "whisper" for f in self.config.ray_families)
        if family == ("whisper" if whisper_split_off else None):
            for name in self.config.preload:
                self.runtime.whisper(name, requested=False)
        log.info("Serve replica of %s: %s", family or "the sidecar", ", ".join(self.recorded.services))

    async def _ready(self) -> None:
        if not self._serving:  # set on the replica's event loop, which __init__ does not run on
            import ray

            self._serving = True
            self._replica = ray.get_runtime_context().get_actor_id()
            self._releasing_memory = asyncio.create_task(memory.keep_releasing())
            self._posting_models = asyncio.create_task(self._keep_posting_models())
            for name in ["", *self.recorded.services]:
                await self.health.set(name, HealthCheckResponse.SERVING)
            if self.family is None and self.config.ray_families:  # health calls come to this application
                self._following_families = asyncio.create_task(self._keep_following_families())

    async def _keep_following_families(self) -> None:
        """Keeps the health of the services of each family with an application of its own at
        SERVING while that application has a replica running, else at NOT_SERVING."""
        from ray import serve

        services = {name: app.SERVICE_FAMILIES.get(name.rsplit(".", 1)[-1]) for name in self.recorded.services}
        while True:
            try:
                applications = (await asyncio.to_thread(serve.status)).applications
            except Exception:  # Serve's controller restarting: the last statuses stand
                log.debug("no Serve status", exc_info=True)
                await asyncio.sleep(POST_SECONDS)
                continue
            for family in self.config.ray_families:
                application = applications.get(family_application(family.family))
                running = application is not None and any(
                    d.replica_states.get("RUNNING", 0) for d in application.deployments.values()
                )
                status = HealthCheckResponse.SERVING if running else HealthCheckResponse.NOT_SERVING
                for name, needs in services.items():
                    if needs == family.family:
                        await self.health.set(name, status)
            await asyncio.sleep(POST_SECONDS)

    async def _keep_posting_models(self) -> None:
        while True:
            listed = await asyncio.to_thread(models.listed_models, self.runtime)
            await self._on_board(POST_BOARD_SECONDS, "post", self._replica, listed.SerializeToString())
            await asyncio.sleep(POST_SECONDS)

    async def _on_board(self, seconds: float, method: str, *args):
        """Calls the models board, which the first replica to call makes; None when it does
        not answer within `seconds`."""
        import ray
        from ray import exceptions

        if self._board is None:
            board = ray.remote(num_cpus=0)(ModelsBoard)
            self._board = board.options(name=MODELS_BOARD, namespace=APPLICATION, get_if_exists=True).remote()
        try:
            return await asyncio.wait_for(getattr(self._board, method).remote(*args), seconds)
        except exceptions.RayActorError:  # it died with the replica that made it, or its node
            self._board = None
        except (TimeoutError, exceptions.RayError):
            log.debug("the models board did not answer", exc_info=True)
        return None

    async def check_health(self) -> None:
        """Serve asks every few seconds, from the replica's start: so a replica posts its models
        before its first call."""
        await self._ready()

    async def ListModels(self, request, grpc_context):
        context = ServeContext(grpc_context)
        await self._ready()
        await self._authorized("ListModels", context)
        own = await self._behaviour("ListModels")(request, context)  # refuses a bad capability
        posts = await self._on_board(READ_BOARD_SECONDS, "others", self._replica) or []
        others = [models_pb2.ListModelsResponse.FromString(post) for post in posts]
        return merged_models(own, others, request.capability)

    async def _authorized(self, method: str, context: ServeContext) -> None:
        if self._expected is None or method in ("Check", "Watch"):
            return
        sent = dict(context.invocation_metadata()).get("authorization", "")
        sent = sent.encode() if isinstance(sent, str) else sent
        if not hmac.compare_digest(sent, self._expected):
            reason = "wrong token" if sent else "missing token"
            await context.abort(
                grpc.StatusCode.UNAUTHENTICATED, f"{reason}: send 'authorization: Bearer <token>' metadata"
            )

    def _behaviour(self, method: str):
        handler = self.recorded.handlers[method]
        return handler.unary_unary or handler.unary_stream or handler.stream_unary or handler.stream_stream


def _rpc(method: str, response_streaming: bool):
    """The deployment method Serve calls for RPC `method`."""
    if response_streaming:

        async def streaming(self: Ingress, request, grpc_context) -> AsyncIterator[Any]:
            context = ServeContext(grpc_context)
            await self._ready()
            await self._authorized(method, context)
            async for response in self._behaviour(method)(request, context):
                yield response

        streaming.__name__ = method
        return streaming

    async def unary(self: Ingress, request, grpc_context):
        context = ServeContext(grpc_context)
        await self._ready()
        await self._authorized(method, context)
        return await self._behaviour(method)(request, context)

    unary.__name__ = method
    return unary


def ingress_class(config: ServerConfig) -> type:
    """Ingress with a method per RPC, as Serve's proxy calls them."""
    probe = record(Runtime(config), health.aio.HealthServicer())  # which RPCs stream responses
    methods = {name: _rpc(name, handler.response_streaming) for name, handler in probe.handlers.items()}
    del methods["ListModels"]  # Ingress's own: it answers for every replica
    return type("SidecarIngress", (Ingress,), methods)


def deployment(config: ServerConfig, cls: type, family: RayFamily | None = None):
    """The Serve deployment of `cls` for `serve.run`: the sidecar's, or with `family` that
    family's application's, with its replicas and resources."""
    from ray import serve

    # Each open stream holds one of a replica's max_ongoing_requests for its whole life: the
    # replica takes as many calls as its runtime admits, and Serve spreads the rest.
    own = family or RayFamily("")
    min_replicas = config.ray_min_replicas if own.min_replicas is None else own.min_replicas
    max_replicas = config.ray_max_replicas if own.max_replicas is None else own.max_replicas
    options: dict[str, Any] = {
        "max_ongoing_requests": config.max_running_jobs + config.max_waiting_jobs + config.max_live_streams,
        "ray_actor_options": {
            "num_cpus": config.ray_cpus_per_replica if own.cpus is None else own.cpus,
            "num_gpus": config.ray_gpus_per_replica if own.gpus is None else own.gpus,
        },
    }
    if max_replicas > min_replicas:
        options["autoscaling_config"] = {
            "min_replicas": min_replicas,
            "max_replicas": max_replicas,
            # Live streams are what fills a replica: a stream lasts hours, and a full replica
            # refuses the next. A target just under its streams adds a replica once the ones
            # running are full, before one refuses; at max_live_streams itself Serve would add
            # one only for calls past it, which a replica refuses at once, so never for streams.
            "target_ongoing_requests": config.max_live_streams - 0.5,
            # Serve's 30 s and 30 s kept a burst of streams waiting a minute for a replica; a
            # replica goes away only after Serve's 10 minutes below the target.
            "look_back_period_s": SCALE_UP_SECONDS,
            "upscale_delay_s": SCALE_UP_SECONDS,
        }
    else:
        options["num_replicas"] = min_replicas
    return serve.deployment(cls, name="SidecarIngress", **options)


def applications(config: ServerConfig) -> dict[str, Any]:
    """Each Serve application by name, bound: the sidecar's, and one per family in
    config.ray_families."""
    fields, cls = dataclasses.asdict(config), ingress_class(config)
    bound = {APPLICATION: deployment(config, cls).bind(fields)}
    for family in config.ray_families:
        bound[family_application(family.family)] = deployment(config, cls, family).bind(fields, family.family)
    return bound


def serve(config: ServerConfig, address: str | None, on_ready) -> None:
    """Deploys the services on the Ray cluster at `address` (None: a local single-node Ray
    started here), calls on_ready(port) once Serve's proxy takes calls, and runs until
    SIGTERM or SIGINT. Then a cluster loses the application; a local Ray goes whole."""
    import signal
    import threading

    try:
        import ray
        from ray import serve as ray_serve
        from ray.serve.config import gRPCOptions
    except ImportError:
        raise SystemExit("sidecar serve --ray needs Ray Serve: install the sidecar's `ray` extra") from None
    if address is None:
        # The proxy's own limit is 2 GiB; a local Ray's processes inherit ours. On a cluster the
        # operator sets it where `ray start` runs (docs/scaling.md).
        os.environ.setdefault("RAY_SERVE_GRPC_MAX_MESSAGE_SIZE", str(config.max_message_bytes))
    ray.init(address=address, include_dashboard=False, logging_level=logging.WARNING)
    try:
        ray_serve.start(
            # One proxy, on the head node, where the clients connect: it outlives lost workers.
            proxy_location="HeadOnly",
            http_options={"host": "127.0.0.1", "port": config.port + 1},
            grpc_options=gRPCOptions(port=config.port, grpc_servicer_functions=SERVICER_FUNCTIONS),
        )
        deployed = applications(config)
        for name, bound in deployed.items():  # the routes are unused: calls come through the gRPC proxy
            ray_serve.run(bound, name=name, route_prefix=f"/{name}")
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        on_ready(config.port)
        while not stop.wait(1.0):
            pass
        if address is not None:
            # Ctrl-C reaches a local Ray's own processes too, so only a cluster, which outlives
            # this process, is asked to remove the application.
            log.info("shutting down: removing the Serve applications")
            for name in deployed:
                ray_serve.delete(name)
    finally:
        ray.shutdown()

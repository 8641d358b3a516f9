"""ModelService: what this server can load."""

from __future__ import annotations

import asyncio

import grpc

from sidecar.engines.catalogue import ModelDescription
from sidecar.errors import InvalidOptionsError
from sidecar.runtime import model_cache, model_catalogue, model_downloads
from sidecar.runtime.runtime import Runtime
from sidecar.runtime.threads import CancelToken, from_callbacks, in_thread
from sidecar.server.status import mapped_errors
from sidecar.v1 import models_pb2 as pb
from sidecar.v1 import models_pb2_grpc


def to_proto(m: ModelDescription) -> pb.ModelInfo:
    info = pb.ModelInfo(
        name=m.name,
        family=m.family,
        capabilities=[pb.Capability.Value(f"CAPABILITY_{c}") for c in m.capabilities],
        source=m.source,
        path=m.path,
        loaded=m.loaded,
        device=m.device,
        is_default=m.is_default,
        memory_bytes=m.memory_bytes,
    )
    if m.last_used is not None:
        info.last_use_time.FromNanoseconds(int(m.last_used * 1e9))
    return info


def listed_models(runtime: Runtime, capability: int = pb.CAPABILITY_UNSPECIFIED) -> pb.ListModelsResponse:
    """What ListModels answers: the runtime's models with the capability (any when unspecified)."""
    described = runtime.describe_models()
    wanted = pb.Capability.Name(capability).removeprefix("CAPABILITY_")
    if capability != pb.CAPABILITY_UNSPECIFIED:
        described = [m for m in described if wanted in m.capabilities]
    described.sort(key=lambda m: (m.family, m.name))
    return pb.ListModelsResponse(models=[to_proto(m) for m in described])


class ModelServicer(models_pb2_grpc.ModelServiceServicer):
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def ListModels(self, request: pb.ListModelsRequest, context: grpc.aio.ServicerContext):
        async with mapped_errors(context, "ListModels", self.runtime.metrics):
            if request.capability not in pb.Capability.values():
                raise InvalidOptionsError(
                    f"capability {request.capability} is not a sidecar.v1.Capability: use one of "
                    + ", ".join(pb.Capability.keys())
                )
            return await asyncio.to_thread(listed_models, self.runtime, request.capability)

    async def ListDownloadableModels(self, request, context: grpc.aio.ServicerContext):
        async with mapped_errors(context, "ListDownloadableModels", self.runtime.metrics):
            return pb.ListDownloadableModelsResponse(models=await asyncio.to_thread(downloadable_models))

    async def PullModel(self, request: pb.PullModelRequest, context: grpc.aio.ServicerContext):
        async with mapped_errors(context, "PullModel", self.runtime.metrics):
            model = model_catalogue.known(request.name)

            def pulling(token: CancelToken):
                def pull(report):
                    return model_downloads.pull(
                        model,
                        agree_licence=request.accept_license,
                        on_progress=report,
                        cancelled=lambda: token.cancelled,
                    )

                yield from from_callbacks(f"pull-{model.name}", pull)

            total = 0
            async for progress in in_thread(f"pull-{model.name}", pulling):
                total = progress.total_bytes
                yield pb.PullModelResponse(done_bytes=progress.done_bytes, total_bytes=total, file=progress.file)
            yield pb.PullModelResponse(done_bytes=total, total_bytes=total, done=True)


def downloadable_models() -> list[pb.DownloadableModel]:
    return [
        pb.DownloadableModel(
            name=m.name,
            family=m.family,
            approximate_size=m.about_size,
            license=m.licence,
            license_to_accept=m.agreement,
            downloaded=model_cache.here(m) != "",
        )
        for m in sorted(model_catalogue.CATALOGUE.values(), key=lambda m: (m.family, m.name))
    ]


def register(server: grpc.aio.Server, runtime: Runtime) -> str:
    models_pb2_grpc.add_ModelServiceServicer_to_server(ModelServicer(runtime), server)
    return pb.DESCRIPTOR.services_by_name["ModelService"].full_name

"""Client calls for the sidecar's services, with chunked uploads and progress callbacks."""

from __future__ import annotations

import dataclasses
import os
from typing import BinaryIO, Callable, Iterable, Iterator

import grpc
from google.protobuf import duration_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from sidecar.v1 import audio_pb2, models_pb2, models_pb2_grpc, transcription_pb2, transcription_pb2_grpc

DEFAULT_ADDRESS = "127.0.0.1:50051"
CHUNK_BYTES = 1 << 20  # well under the server's 4 MiB message limit


class SidecarError(Exception):
    """A call failed; `code` is the gRPC status code and the message the server's."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.details = message


@dataclasses.dataclass
class Transcript:
    info: transcription_pb2.TranscriptionInfo
    segments: list[transcription_pb2.Segment]
    summary: transcription_pb2.TranscriptionSummary


def seconds(d: duration_pb2.Duration) -> float:
    return d.seconds + d.nanos / 1e9


def audio_format_for(filename: str = "", pcm: audio_pb2.PcmFormat | None = None) -> audio_pb2.AudioFormat:
    if pcm is not None:
        return audio_pb2.AudioFormat(pcm=pcm)
    return audio_pb2.AudioFormat(encoded_file=audio_pb2.EncodedFile(filename=os.path.basename(filename)))


def iter_chunks(source: str | os.PathLike | bytes | BinaryIO, chunk_bytes: int = CHUNK_BYTES) -> Iterator[bytes]:
    """Reads a path, bytes or a binary file object in chunks, so no file must fit one message."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = memoryview(source)
        for i in range(0, len(data), chunk_bytes):
            yield bytes(data[i:i + chunk_bytes])
        return
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as f:
            yield from iter_chunks(f, chunk_bytes)
        return
    while chunk := source.read(chunk_bytes):
        yield chunk


class SidecarClient:
    """One channel to a sidecar. Use as a context manager, or call close()."""

    def __init__(self, address: str = DEFAULT_ADDRESS, *, token: str | None = None,
                 root_certificates: bytes | None = None, max_message_bytes: int = 4 << 20) -> None:
        self.address = address
        options = [("grpc.max_receive_message_length", max_message_bytes),
                   ("grpc.max_send_message_length", max_message_bytes)]
        if root_certificates is not None:
            credentials = grpc.ssl_channel_credentials(root_certificates)
            self.channel = grpc.secure_channel(address, credentials, options=options)
        else:
            self.channel = grpc.insecure_channel(address, options=options)
        self._metadata = (("authorization", f"Bearer {token}"),) if token else ()
        self.transcription = transcription_pb2_grpc.TranscriptionServiceStub(self.channel)
        self.models = models_pb2_grpc.ModelServiceStub(self.channel)
        self.health = health_pb2_grpc.HealthStub(self.channel)

    def __enter__(self) -> "SidecarClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.channel.close()

    @property
    def metadata(self) -> tuple:
        return self._metadata

    def wait_ready(self, timeout: float = 10.0) -> None:
        """Blocks until the server answers its health check, or raises SidecarError."""
        try:
            grpc.channel_ready_future(self.channel).result(timeout=timeout)
            reply = self.health.Check(health_pb2.HealthCheckRequest(), timeout=timeout)
        except grpc.FutureTimeoutError:
            raise SidecarError(grpc.StatusCode.UNAVAILABLE,
                               f"no sidecar answers at {self.address} (is it running?)") from None
        except grpc.RpcError as exc:
            raise _error(exc) from None
        if reply.status != health_pb2.HealthCheckResponse.SERVING:
            raise SidecarError(grpc.StatusCode.UNAVAILABLE, f"the sidecar at {self.address} is not serving")

    def list_models(self, capability: int = 0) -> list[models_pb2.ModelInfo]:
        try:
            reply = self.models.ListModels(models_pb2.ListModelsRequest(capability=capability),
                                           metadata=self._metadata)
        except grpc.RpcError as exc:
            raise _error(exc) from None
        return list(reply.models)

    def transcribe_stream(self, audio: str | os.PathLike | bytes | BinaryIO, *,
                          options: transcription_pb2.TranscriptionOptions | None = None,
                          audio_format: audio_pb2.AudioFormat | None = None,
                          timeout: float | None = None) -> "Call":
        """Starts TranscribeFile and returns the call: iterate it for responses, cancel() to stop."""
        if audio_format is None:
            audio_format = audio_format_for(os.fspath(audio) if isinstance(audio, (str, os.PathLike)) else "")
        config = transcription_pb2.TranscriptionConfig(audio_format=audio_format, options=options)

        def requests() -> Iterator[transcription_pb2.TranscribeFileRequest]:
            yield transcription_pb2.TranscribeFileRequest(config=config)
            for chunk in iter_chunks(audio):
                yield transcription_pb2.TranscribeFileRequest(audio_content=chunk)

        return Call(self.transcription.TranscribeFile(requests(), metadata=self._metadata, timeout=timeout))

    def transcribe(self, audio, *, options=None, audio_format=None,
                   on_progress: Callable[[audio_pb2.Progress], None] | None = None,
                   on_segment: Callable[[transcription_pb2.Segment], None] | None = None) -> Transcript:
        """Transcribes to the end and returns info, segments and summary."""
        info = summary = None
        segments = []
        for response in self.transcribe_stream(audio, options=options, audio_format=audio_format):
            kind = response.WhichOneof("event")
            if kind == "progress" and on_progress:
                on_progress(response.progress)
            elif kind == "info":
                info = response.info
            elif kind == "segment":
                segments.append(response.segment)
                if on_segment:
                    on_segment(response.segment)
            elif kind == "summary":
                summary = response.summary
        return Transcript(info, segments, summary)


class Call:
    """A server-streaming call whose errors surface as SidecarError."""

    def __init__(self, call) -> None:
        self._call = call

    def __iter__(self) -> Iterator:
        try:
            yield from self._call
        except grpc.RpcError as exc:
            raise _error(exc) from None

    def cancel(self) -> None:
        self._call.cancel()


def _error(exc: grpc.RpcError) -> SidecarError:
    code = exc.code() if hasattr(exc, "code") else grpc.StatusCode.UNKNOWN
    details = exc.details() if hasattr(exc, "details") else str(exc)
    return SidecarError(code, details or code.name)


def chunk_requests(config_message, wrap: Callable, audio: Iterable[bytes]) -> Iterator:
    """For other config-first RPCs: wrap(config=...) first, then wrap(audio_content=chunk)."""
    yield wrap(config=config_message)
    for chunk in audio:
        yield wrap(audio_content=chunk)

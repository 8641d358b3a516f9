"""A small client for the audio sidecar. Needs only grpcio, protobuf and the stubs in sidecar.v1."""

from sidecar_client.client import (
    DEFAULT_ADDRESS,
    Connection,
    DiarizationResult,
    SidecarClient,
    SidecarError,
    Transcript,
    audio_format_for,
    speaker_reference,
    streaming_config,
)

__all__ = [
    "Connection",
    "DEFAULT_ADDRESS",
    "DiarizationResult",
    "SidecarClient",
    "SidecarError",
    "Transcript",
    "audio_format_for",
    "speaker_reference",
    "streaming_config",
]

"""Domain errors. Engines and the media layer raise these; servicers map them to gRPC codes."""


class SidecarError(Exception):
    """Base class: the message is shown to the user as it is, so it names the problem."""


class InvalidAudioError(SidecarError):
    """The audio cannot be decoded or is not what its description says."""


class InvalidOptionsError(SidecarError):
    """An option is out of range or contradicts another one."""


class LimitExceededError(SidecarError):
    """The request is larger or longer than the server's configured limits."""


class ModelNotFoundError(SidecarError):
    """No installed or local model answers to the requested name."""


class ModelUnavailableError(SidecarError):
    """The model exists but cannot be used here (missing extra, corrupt file, no device)."""


class PermissionDeniedError(SidecarError):
    """The server's operator does not allow what the request asks for (a model location)."""


class BusyError(SidecarError):
    """The server's job queue is full; the client may retry after `retry_after` seconds."""

    def __init__(self, message: str, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class IdleStreamError(SidecarError):
    """A live stream sent nothing for longer than the server waits."""


class ShuttingDownError(SidecarError):
    """The server is stopping; the client may try again when it is back (or elsewhere)."""


class CancelledError(SidecarError):
    """The job was cancelled by its caller."""

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


class BusyError(SidecarError):
    """The server's job queue is full; the client may retry later."""


class CancelledError(SidecarError):
    """The job was cancelled by its caller."""

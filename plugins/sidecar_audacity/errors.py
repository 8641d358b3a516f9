"""What can go wrong between the plugin, Audacity and the sidecar, each with a message for the user."""

from __future__ import annotations


class PluginError(Exception):
    """Base of the plugin's errors; str() is a message fit for the panel or the terminal."""

    status = None  # the gRPC status code when a sidecar call failed, for callers that fall back


class AudacityUnreachableError(PluginError):
    """No Audacity answers on the pipe: it is not running, or mod-script-pipe is not enabled."""


class AudacityStalledError(PluginError):
    """Audacity took a command but did not answer in time, usually because a dialog is open."""


class AudacityDialogError(PluginError):
    """A dialog is open in Audacity: the action stopped before it changed anything."""


class AudacityCommandError(PluginError):
    """Audacity answered a command with `BatchCommand finished: Failed`."""


class EmptySelectionError(PluginError):
    """The selection (or the whole project) holds no audio to work on."""


class SidecarUnavailableError(PluginError):
    """The sidecar is unreachable or lacks the service an action needs."""


class CancelledError(PluginError):
    """The user cancelled the action; nothing was added to the project."""

"""Audacity plugin for the audio sidecar: captions, speakers, denoise, stems, cloned speech, cues, events.

Talks to Audacity through mod-script-pipe and to the sidecar through `sidecar_client` only
(grpcio, protobuf, the generated stubs); the panel uses Tk from the standard library.
"""

from sidecar_audacity import errors  # every error the plugin raises, each a PluginError
from sidecar_audacity.actions import CaptionOptions, DenoiseOptions, Job, Outcome, StemsOptions
from sidecar_audacity.audacity import Audacity, Label, Selection, Track
from sidecar_audacity.creative import CueOptions, EventOptions, FixPhraseOptions, SayOptions
from sidecar_audacity.errors import PluginError
from sidecar_audacity.pipe import PipeConnection

__all__ = [
    "Audacity",
    "CaptionOptions",
    "CueOptions",
    "DenoiseOptions",
    "EventOptions",
    "FixPhraseOptions",
    "Job",
    "Label",
    "Outcome",
    "PipeConnection",
    "PluginError",
    "SayOptions",
    "Selection",
    "StemsOptions",
    "Track",
    "errors",
]

"""pyannote.audio 4.0.x speaker-diarization pipelines, fed in-memory waveforms.

A pipeline loads from a local directory (its `config.yaml` and model folders) with the
Hugging Face hub switched off, since with the hub unreachable pyannote's default retries
cost about 45 s, or from a hub id when the server is online (token from $HF_TOKEN, which
huggingface_hub reads itself). pyannote's telemetry is switched off before it is imported.
The pipeline runs on CUDA when one is there and allowed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pathlib
import threading
from collections.abc import Iterator

import numpy as np

from sidecar.engines.catalogue import ModelFamily, ModelSettings, ResolvedModel
from sidecar.engines.diarization import (
    SAMPLE_RATE,
    Diarization,
    DiarizationOptions,
    SpeakerTurn,
    Step,
    finish,
)
from sidecar.errors import CancelledError, InvalidOptionsError, ModelNotFoundError, ModelUnavailableError
from sidecar.runtime import devices
from sidecar.runtime.threads import from_callbacks

log = logging.getLogger(__name__)

FAMILY = "pyannote"
CAPABILITIES = ("DIARIZATION",)
DEFAULT_PIPELINE = "pyannote/speaker-diarization-community-1"
PIPELINE_FILE = "config.yaml"
# Share of the job each pipeline step ends at, for progress; pyannote reports these steps
# through its hook, the long ones with completed/total counts.
_STEP_ENDS = {"segmentation": 0.35, "speaker_counting": 0.4, "embeddings": 0.9, "discrete_diarization": 1.0}


class PyannoteDiarizer:
    """One loaded pyannote pipeline. Calls run one at a time: pipelines keep state."""

    def __init__(self, pipeline, name: str, device: str) -> None:
        self._pipeline = pipeline
        self.name = name
        self.device = device
        self._lock = threading.Lock()

    def diarize(self, audio: np.ndarray, options: DiarizationOptions) -> Iterator[Step | Diarization]:
        """Diarizes 16 kHz mono float32 audio: yields Steps, then one Diarization.

        The pipeline runs in a helper thread that reports through pyannote's hook
        (runtime.threads.from_callbacks); closing this generator early stops the pipeline at its
        next hook call.
        """
        options.validate()
        import torch

        duration = len(audio) / SAMPLE_RATE
        waveform = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32)).unsqueeze(0)
        counts = dict(
            num_speakers=options.speaker_count, min_speakers=options.min_speakers, max_speakers=options.max_speakers
        )

        def call(report):
            def hook(step, artefact, file=None, completed=None, total=None):
                begin = _step_begin(step)
                share = completed / total if completed is not None and total else 1.0
                if report(Step(step.replace("_", " "), float(begin + (_STEP_ENDS.get(step, begin) - begin) * share))):
                    raise CancelledError("the diarization was cancelled")

            with self._lock:
                return self._pipeline({"waveform": waveform, "sample_rate": SAMPLE_RATE}, hook=hook, **counts)

        yield Step("segmentation", 0.0)
        output = yield from from_callbacks("pyannote", call)
        # A DiarizeOutput also has the turns with overlapped speech given to one speaker, for
        # captions; a pipeline in legacy mode returns the Annotation alone.
        exclusive = getattr(output, "exclusive_speaker_diarization", None)
        yield finish(
            _turns(getattr(output, "speaker_diarization", output)),
            duration,
            exclusive_turns=_turns(exclusive) if exclusive is not None else (),
        )


def _step_begin(step: str) -> float:
    names = list(_STEP_ENDS)
    return _STEP_ENDS[names[names.index(step) - 1]] if step in names[1:] else 0.0


def _turns(annotation) -> list[SpeakerTurn]:
    """A pyannote Annotation as turns; pyannote gives no confidence."""
    return [
        SpeakerTurn(float(segment.start), float(segment.end), str(label))
        for segment, _, label in annotation.itertracks(yield_label=True)
    ]


def resolve(name: str | None, settings: ModelSettings) -> ResolvedModel:
    """A pipeline directory (holding config.yaml, or that file itself) or a hub id."""
    name = (name or DEFAULT_PIPELINE).strip()
    local = pathlib.Path(name).expanduser()
    if local.exists():
        if not (local / PIPELINE_FILE).is_file() and local.name != PIPELINE_FILE:
            raise ModelNotFoundError(f"{local} holds no pyannote pipeline ({PIPELINE_FILE} is missing)")
        return ResolvedModel(FAMILY, ResolvedModel.real_path(local), name, "local", str(local), CAPABILITIES)
    if name.startswith((".", "/", "~")) or name.count("/") != 1:
        raise ModelNotFoundError(
            f"no pyannote pipeline at {name!r}: give a directory holding {PIPELINE_FILE} "
            "or a Hugging Face hub id such as 'pyannote/speaker-diarization-community-1'"
        )
    cached = _hub_cache_dir(name)
    return ResolvedModel(FAMILY, name, name, "hub-cache" if cached else "hub", cached or "", CAPABILITIES)


def installed(settings: ModelSettings) -> list[ResolvedModel]:
    """The default pipeline when the Hugging Face cache holds it."""
    cached = _hub_cache_dir(DEFAULT_PIPELINE)
    return (
        [ResolvedModel(FAMILY, DEFAULT_PIPELINE, DEFAULT_PIPELINE, "hub-cache", cached, CAPABILITIES)] if cached else []
    )


def _hub_cache_dir(hub_id: str) -> str | None:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    found = try_to_load_from_cache(hub_id, PIPELINE_FILE)
    return os.path.dirname(found) if isinstance(found, str) else None


def load(resolved: ResolvedModel, settings: ModelSettings) -> tuple[PyannoteDiarizer, str]:
    """Loads a pipeline; returns (PyannoteDiarizer, device)."""
    os.environ["PYANNOTE_METRICS_ENABLED"] = "false"  # read when pyannote.audio is imported
    try:
        import torch
        from huggingface_hub.errors import GatedRepoError
        from pyannote.audio import Pipeline
    except ImportError:
        raise ModelUnavailableError(
            "the pyannote backend needs pyannote.audio: install the sidecar's `diarize` extra"
        ) from None
    device = devices.torch_device(settings.device)
    name, is_local = resolved.name, resolved.source == "local"
    try:
        with hub_offline(is_local):
            pipeline = Pipeline.from_pretrained(resolved.path if is_local else name)
    except GatedRepoError as exc:  # pyannote prints advice to stdout, then re-raises this
        gated = exc.repo_id or name  # the pipeline's repository or one of its models'
        raise ModelUnavailableError(
            f"pyannote pipeline {name!r} is gated on Hugging Face: accept the user conditions of "
            f"https://huggingface.co/{gated} with your account and set $HF_TOKEN to one of its "
            "access tokens, or give a local pipeline directory"
        ) from None
    except (OSError, ValueError, KeyError, TypeError, ImportError) as exc:
        raise ModelUnavailableError(f"pyannote pipeline {name!r} failed to load: {exc}") from None
    if not hasattr(pipeline, "apply") or "num_speakers" not in _parameters(pipeline.apply):
        raise InvalidOptionsError(f"{name!r} is not a speaker-diarization pipeline")
    pipeline.to(torch.device(device))
    log.info("pyannote pipeline %s on %s", name, device)
    return PyannoteDiarizer(pipeline, name, device), device


MODEL_FAMILY = ModelFamily(
    FAMILY, resolve=resolve, load=load, installed=installed, default=lambda settings: DEFAULT_PIPELINE
)


def _parameters(function) -> set[str]:
    import inspect

    return set(inspect.signature(function).parameters)


@contextlib.contextmanager
def hub_offline(offline: bool):
    """Keeps huggingface_hub offline while a local pipeline loads.

    huggingface_hub reads $HF_HUB_OFFLINE once, at import (faster-whisper has usually
    imported it already), so its module constant is switched too, and both are restored.
    """
    if not offline:
        yield
        return
    from huggingface_hub import constants

    saved_env, saved_flag = os.environ.get("HF_HUB_OFFLINE"), constants.HF_HUB_OFFLINE
    os.environ["HF_HUB_OFFLINE"], constants.HF_HUB_OFFLINE = "1", True
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = saved_flag
        if saved_env is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = saved_env

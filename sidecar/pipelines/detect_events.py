"""Sound-event regions on a file's timeline (AST or CLAP windows, merged into regions)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

from sidecar.engines import audio_events
from sidecar.runtime.events import Finished, Info, Item, JobEvent, Progress
from sidecar.runtime.threads import CancelToken


@dataclasses.dataclass(frozen=True)
class DetectionStarted:
    """What an EventDetectionInfo reports: the model, its labels and the options in force."""

    model: str
    device: str
    labels: tuple[str, ...]
    audio_seconds: float
    options: audio_events.EventOptions
    threshold: float


def detect_events(runtime, upload, options: audio_events.EventOptions, model_name: str, max_seconds: float):
    """The DetectEvents job: Info(DetectionStarted), an Item per Region, Finished(window count)."""

    def pipeline(token: CancelToken) -> Iterator[JobEvent]:
        try:
            yield Progress("loading model")
            classifier = runtime.model(audio_events.MODEL_FAMILY, model_name)
            labels = classifier.labels_for(options)
            yield Progress("decoding")
            audio = upload.decode(
                sample_rate=classifier.sample_rate,
                mono=True,
                max_seconds=max_seconds,
                between_blocks=token.raise_if_cancelled,
            )
        finally:
            upload.close()
        token.raise_if_cancelled()
        duration = audio.duration
        threshold = classifier.default_threshold() if options.threshold is None else options.threshold
        yield Info(DetectionStarted(classifier.name, classifier.device, tuple(labels), duration, options, threshold))
        windows = 0
        for found in audio_events.detect(classifier, audio.mono(), options, labels):
            token.raise_if_cancelled()
            if isinstance(found, audio_events.WindowsDone):
                windows = found.done
                yield Progress("classifying", found.processed, duration, fraction=found.done / found.total)
            else:
                yield Item(found)
        yield Finished(duration, windows)

    return pipeline

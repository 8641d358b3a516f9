"""Sound-event markers: audio classified over sliding windows, merged into labelled regions.

Two kinds of classifier, both through transformers: an Audio Spectrogram Transformer (AST)
fine-tuned on AudioSet scores its fixed classes independently (sigmoid), and CLAP scores the
caller's own labels zero-shot (a softmax over the labels' text embeddings). Each window
stands for the hop around its centre; windows whose score for a label reaches the threshold
become hits, and hits of one label closer than the merge gap join into a region. Regions are
yielded as soon as no later window can extend them, so a long file's markers arrive while it
is still being classified.
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
import math
from collections.abc import Iterable, Iterator, Sequence
from typing import ClassVar

import numpy as np

from sidecar.engines import hub_models
from sidecar.engines.bounds import Bounded, Length, Range
from sidecar.engines.catalogue import ModelFamily, ModelSettings, ResolvedModel
from sidecar.errors import InvalidOptionsError, ModelUnavailableError
from sidecar.runtime import devices

log = logging.getLogger(__name__)

FAMILY = "audio-events"
EXTRA = "music"
AST, CLAP = "ast", "clap"
DEFAULT_MODEL = "ast-audioset"
MODELS = {
    "ast-audioset": "MIT/ast-finetuned-audioset-10-10-0.4593",
    "clap": "laion/clap-htsat-unfused",
}
_MODEL_TYPES = {"audio-spectrogram-transformer": AST, "clap": CLAP}
# AudioSet classes marked when the caller names none (those the model has).
DEFAULT_LABELS = ("Speech", "Music", "Laughter", "Applause", "Silence")
DEFAULT_THRESHOLDS = {AST: 0.3, CLAP: 0.5}
DEFAULT_WINDOW_SECONDS = 2.0
MIN_WINDOW_SECONDS, MAX_WINDOW_SECONDS = 0.1, 30.0
MIN_HOP_SECONDS = 0.05  # at most 20 windows a second: the work per second of audio stays bounded
DEFAULT_MERGE_GAP_SECONDS = 0.5
MAX_SPAN_SECONDS = 600.0  # for the minimum region length and the merge gap
MAX_LABELS = 64
MAX_LABEL_CHARS = 200
MIN_ZERO_SHOT_LABELS = 2  # CLAP's scores are shared among the labels
BATCH_WINDOWS = 8  # windows classified per forward pass


@dataclasses.dataclass(frozen=True)
class EventOptions(Bounded):
    # Labels to mark: AST class names (empty: DEFAULT_LABELS), or CLAP's zero-shot labels.
    labels: tuple[str, ...] = ()
    # Length of each classified window, MIN_WINDOW_SECONDS to MAX_WINDOW_SECONDS.
    window_seconds: float = DEFAULT_WINDOW_SECONDS
    # Step between windows, above 0 and at most the window; None: half the window.
    hop_seconds: float | None = None
    # Smallest score that marks a window, 0..1; None: the family's DEFAULT_THRESHOLDS entry.
    threshold: float | None = None
    # Regions shorter than this are dropped, 0..MAX_SPAN_SECONDS.
    min_region_seconds: float = 0.0
    # Regions of one label closer than this are joined, 0..MAX_SPAN_SECONDS.
    merge_gap_seconds: float = DEFAULT_MERGE_GAP_SECONDS

    @property
    def hop(self) -> float:
        return self.window_seconds / 2 if self.hop_seconds is None else self.hop_seconds

    BOUNDS: ClassVar[dict] = {
        "labels": Length(MAX_LABEL_CHARS, "labels", max_items=MAX_LABELS),
        "window_seconds": Range(MIN_WINDOW_SECONDS, MAX_WINDOW_SECONDS, "the window", " s"),
        "hop_seconds": Range(MIN_HOP_SECONDS, MAX_WINDOW_SECONDS, "the hop", " s"),
        "threshold": Range(0.0, 1.0, "the threshold"),
        "min_region_seconds": Range(0.0, MAX_SPAN_SECONDS, "the minimum region length", " s"),
        "merge_gap_seconds": Range(0.0, MAX_SPAN_SECONDS, "the merge gap", " s"),
    }

    def validate(self) -> None:
        if self.hop > self.window_seconds:
            raise InvalidOptionsError(
                f"the hop must be at most the window ({self.window_seconds:g} s), not {self.hop:g} s"
            )
        for label in self.labels:
            if not label.strip():
                raise InvalidOptionsError("a label is empty: give each label some text")
        if len(set(self.labels)) != len(self.labels):
            raise InvalidOptionsError("the labels repeat: give each label once")


@dataclasses.dataclass(frozen=True)
class Hit:
    """A window whose score for a label reached the threshold, over the span it stands for."""

    label: str
    start: float
    end: float
    score: float


@dataclasses.dataclass(frozen=True)
class Region:
    label: str
    start: float  # seconds from the start of the media
    end: float
    score: float  # the highest hit score within the region
    mean_score: float


@dataclasses.dataclass(frozen=True)
class WindowsDone:
    """Progress: windows classified so far, of how many, and the media time they reach."""

    done: int
    total: int
    processed: float


@dataclasses.dataclass
class _Open:
    label: str
    start: float
    end: float
    best: float
    total: float
    count: int

    def region(self, duration: float) -> Region:
        return Region(self.label, max(0.0, self.start), min(self.end, duration), self.best, self.total / self.count)


class RegionMerger:
    """Joins hits (given in start order) into regions, handing each back once complete."""

    def __init__(self, *, merge_gap: float, min_length: float, duration: float) -> None:
        self.merge_gap = merge_gap
        self.min_length = min_length
        self.duration = duration
        self._open: dict[str, _Open] = {}

    def add(self, hits: Iterable[Hit], now: float) -> list[Region]:
        """Adds one window's hits; `now` is where its span starts: regions ending more than
        the merge gap before it are complete and returned."""
        ended = []
        for hit in hits:
            current = self._open.get(hit.label)
            if current is not None and hit.start <= current.end + self.merge_gap:
                current.end = max(current.end, hit.end)
                current.best = max(current.best, hit.score)
                current.total += hit.score
                current.count += 1
                continue
            if current is not None:  # the same label after a longer gap: a new region
                ended.append(current)
            self._open[hit.label] = _Open(hit.label, hit.start, hit.end, hit.score, hit.score, 1)
        ended += [r for r in self._open.values() if r.end + self.merge_gap < now]
        for r in ended:
            if self._open.get(r.label) is r:
                del self._open[r.label]
        return self._close(ended)

    def finish(self) -> list[Region]:
        ended = list(self._open.values())
        self._open.clear()
        return self._close(ended)

    def _close(self, ended: Sequence[_Open]) -> list[Region]:
        regions = [r.region(self.duration) for r in sorted(ended, key=lambda r: (r.start, r.label))]
        return [r for r in regions if r.end > r.start and r.end - r.start >= self.min_length]


def merge_regions(hits: Iterable[Hit], *, merge_gap: float, min_length: float, duration: float) -> list[Region]:
    """All regions of time-ordered hits, sorted by start: the pure form of RegionMerger."""
    merger = RegionMerger(merge_gap=merge_gap, min_length=min_length, duration=duration)
    regions = []
    for hit in sorted(hits, key=lambda h: h.start):
        regions += merger.add([hit], hit.start)
    regions += merger.finish()
    return sorted(regions, key=lambda r: (r.start, r.label))


def window_starts(duration: float, window: float, hop: float) -> list[float]:
    """Window starts covering the media: at least one, the last reaching its end."""
    count = 1 if duration <= window else math.ceil((duration - window) / hop - 1e-9) + 1
    return [i * hop for i in range(count)]


def span_of(index: int, starts: Sequence[float], window: float, hop: float, duration: float) -> tuple[float, float]:
    """The stretch window `index` stands for: the hop around its centre, the first from 0 and
    the last to the end of the media."""
    centre = starts[index] + window / 2
    start = 0.0 if index == 0 else centre - hop / 2
    end = duration if index == len(starts) - 1 else centre + hop / 2
    return max(0.0, start), min(duration, max(start, end))


class EventClassifier:
    """A loaded AST or CLAP model that scores windows of mono audio for a list of labels."""

    def __init__(self, name: str, family: str, model, feature_extractor, tokenizer, device: str) -> None:
        self.name = name
        self.family = family
        self.model = model
        self.feature_extractor = feature_extractor
        self.tokenizer = tokenizer
        self.device = device
        self.sample_rate = int(feature_extractor.sampling_rate)
        self.classes = (
            tuple(model.config.id2label[i] for i in range(len(model.config.id2label))) if family == AST else ()
        )

    def default_threshold(self) -> float:
        return DEFAULT_THRESHOLDS[self.family]

    def labels_for(self, options: EventOptions) -> tuple[str, ...]:
        """The labels to score: checked against the model's classes (AST) or as given (CLAP)."""
        if self.family == CLAP:
            if len(options.labels) < MIN_ZERO_SHOT_LABELS:
                raise InvalidOptionsError(
                    f"{self.name} is a zero-shot model: give at least {MIN_ZERO_SHOT_LABELS} labels "
                    "to choose between, e.g. laughter,applause,music,speech,silence"
                )
            return tuple(label.strip() for label in options.labels)
        by_folded = {c.casefold(): c for c in self.classes}
        if not options.labels:
            chosen = tuple(by_folded[c.casefold()] for c in DEFAULT_LABELS if c.casefold() in by_folded)
            return chosen or self.classes
        chosen = []
        for label in options.labels:
            found = by_folded.get(label.strip().casefold())
            if found is None:
                near = difflib.get_close_matches(label, self.classes, n=3)
                hint = f" (did you mean {', '.join(repr(n) for n in near)}?)" if near else ""
                raise InvalidOptionsError(f"{self.name} has no class {label!r}{hint}")
            chosen.append(found)
        return tuple(chosen)

    def score(self, windows: Sequence[np.ndarray], labels: Sequence[str]) -> np.ndarray:
        """Scores (windows, labels), 0..1, for mono float32 windows at sample_rate."""
        import torch

        features = self.feature_extractor(
            [w.astype(np.float32) for w in windows], sampling_rate=self.sample_rate, return_tensors="pt"
        )
        with torch.inference_mode():
            if self.family == AST:
                logits = self.model(**features.to(self.model.device)).logits
                index = [self.classes.index(label) for label in labels]
                return torch.sigmoid(logits[:, index]).float().cpu().numpy()
            text = self.tokenizer(list(labels), padding=True, return_tensors="pt")
            output = self.model(**text.to(self.model.device), **features.to(self.model.device))
            return output.logits_per_audio.softmax(dim=-1).float().cpu().numpy()


def detect(
    classifier: EventClassifier, audio: np.ndarray, options: EventOptions, labels: Sequence[str]
) -> Iterator[Region | WindowsDone]:
    """Yields regions as they complete, and progress after each batch of windows.

    `audio` is mono float32 at the classifier's rate; `labels` come from labels_for().
    """
    options.validate()
    rate = classifier.sample_rate
    duration = audio.size / rate
    threshold = classifier.default_threshold() if options.threshold is None else options.threshold
    window, hop = options.window_seconds, options.hop
    starts = window_starts(duration, window, hop)
    merger = RegionMerger(merge_gap=options.merge_gap_seconds, min_length=options.min_region_seconds, duration=duration)
    size = round(window * rate)
    for first in range(0, len(starts), BATCH_WINDOWS):
        batch = range(first, min(first + BATCH_WINDOWS, len(starts)))
        windows = [audio[round(starts[i] * rate) : round(starts[i] * rate) + size] for i in batch]
        scores = classifier.score(windows, labels)
        for i, row in zip(batch, scores):
            start, end = span_of(i, starts, window, hop, duration)
            hits = [Hit(label, start, end, float(s)) for label, s in zip(labels, row) if s >= threshold]
            yield from merger.add(hits, start)
        yield WindowsDone(batch[-1] + 1, len(starts), min(duration, starts[batch[-1]] + window))
    yield from merger.finish()


def load(resolved: ResolvedModel, settings: ModelSettings) -> tuple[EventClassifier, str]:
    """Loads an AST or CLAP model directory; returns (classifier, device)."""
    try:
        from transformers import ASTForAudioClassification, AutoFeatureExtractor, AutoTokenizer, ClapModel
    except ImportError as exc:
        raise ModelUnavailableError(
            f"event markers need transformers and torch ({exc.name} is missing): install the sidecar's `{EXTRA}` extra"
        ) from None
    device = devices.torch_device(settings.device)
    config = hub_models.read_config(resolved)
    family = _MODEL_TYPES.get(config.model_type)
    if family is None:
        raise ModelUnavailableError(
            f"{resolved.name} holds a {config.model_type!r} model, not an AST audio classifier or CLAP"
        )
    try:
        if family == AST:
            model, tokenizer = ASTForAudioClassification.from_pretrained(resolved.path), None
        else:
            model, tokenizer = ClapModel.from_pretrained(resolved.path), AutoTokenizer.from_pretrained(resolved.path)
        feature_extractor = AutoFeatureExtractor.from_pretrained(resolved.path)
    except (OSError, ValueError) as exc:
        raise ModelUnavailableError(f"cannot load the {family.upper()} model in {resolved.path}: {exc}") from None
    model = model.to(device).eval()
    log.info("event classifier %s (%s) on %s at %d Hz", resolved.name, family, device, feature_extractor.sampling_rate)
    return EventClassifier(resolved.name, family, model, feature_extractor, tokenizer, device), device


CAPABILITIES = ("EVENT_DETECTION",)


def resolve(name: str | None, settings: ModelSettings | None = None) -> ResolvedModel:
    return hub_models.resolve(
        name or DEFAULT_MODEL,
        MODELS,
        family=FAMILY,
        what="event detection",
        extra=EXTRA,
        capabilities=CAPABILITIES,
        downloads=settings is None or settings.downloads,
    )


def installed(settings: ModelSettings) -> list[ResolvedModel]:
    return hub_models.installed(MODELS, family=FAMILY, capabilities=CAPABILITIES)


MODEL_FAMILY = ModelFamily(
    FAMILY, resolve=resolve, load=load, installed=installed, default=lambda settings: DEFAULT_MODEL
)

"""Speaker diarization: options, typed turns, and the offline default backend.

The offline default needs no network and no gated weights: Silero VAD (the ONNX model inside
faster-whisper) finds speech, resemblyzer's GE2E encoder (its `pretrained.pt` ships in the
wheel) embeds 1.6 s windows sliding over it, and agglomerative clustering on cosine distance
groups the windows into speakers, with the count detected from a distance threshold unless
the caller fixes it or bounds it. Each stretch of speech then goes to the speaker of the
nearest window centre. It finds no overlapping speech. The pyannote.audio backend lives in
pyannote_backend.py and returns the same types.

Backends are generators: `Step` items while they work, then one `Diarization`.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Iterator, Sequence
from typing import ClassVar

import numpy as np

from sidecar.engines import diarization_models
from sidecar.engines.bounds import Bounded, Length, Range
from sidecar.engines.catalogue import ModelFamily, ModelSettings, ResolvedModel
from sidecar.errors import InvalidOptionsError, ModelUnavailableError
from sidecar.runtime import devices

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000  # what Silero VAD, GE2E and pyannote's models take
OFFLINE, PYANNOTE = "offline", "pyannote"
BACKENDS = (OFFLINE, PYANNOTE)
MAX_SPEAKERS = 64
MAX_MODEL_NAME_CHARS = 4096  # a path
LABEL_PREFIX = "SPEAKER_"

# GE2E looks at 160 mel frames of 10 ms (resemblyzer's `partials_n_frames`).
MEL_HOP_SECONDS = 0.010
WINDOW_FRAMES = 160  # 1.6 s
STEP_FRAMES = 40  # 0.4 s between window starts: the resolution of speaker changes
EMBED_BATCH = 64  # windows per forward pass
# Cosine distance (1 - similarity) between two clusters' mean embeddings below which they
# are one speaker. Chosen on the AMI excerpts (bench/diarization.py): between windows of
# the same speaker the median distance is about 0.2, between speakers 0.3-0.4.
DISTANCE_THRESHOLD = 0.30
SMOOTH_NEIGHBOURS = 1  # windows each side averaged into a window's embedding: 2.4 s of voice
MAX_CLUSTERED_WINDOWS = 3000  # about 20 min of speech; longer audio clusters a sample
MIN_CLUSTER_WINDOWS = 4  # a cluster of fewer windows (under 3 s of voice) joins its nearest
REASSIGN_ROUNDS = 2  # nearest-centroid passes after clustering, to fix early merges
TARGET_DBFS = -30  # resemblyzer's volume normalisation target
# Silero VAD settings for speaker turns: short pauses keep turns apart, a small pad keeps
# word onsets.
VAD_THRESHOLD = 0.25  # not Silero's 0.5: quiet meeting speech (AMI: 14% vs 22% missed)
VAD_MIN_SILENCE_MS = 300
VAD_SPEECH_PAD_MS = 100
VAD_MIN_SPEECH_MS = 200
MERGE_GAP_SECONDS = 0.3  # a same-speaker pause shorter than this does not end a turn


@dataclasses.dataclass(frozen=True)
class DiarizationOptions(Bounded):
    # OFFLINE (Silero VAD + GE2E, no network) or PYANNOTE (a pyannote.audio pipeline).
    backend: str = OFFLINE
    # PYANNOTE only: a pipeline directory, or a hub id when online; None: the default pipeline.
    model: str | None = None
    # The exact number of speakers; None detects it. Excludes min_speakers and max_speakers.
    speaker_count: int | None = None
    # Bounds on the detected number of speakers; None: 1 and MAX_SPEAKERS.
    min_speakers: int | None = None
    max_speakers: int | None = None

    BOUNDS: ClassVar[dict] = {
        "backend": Length(16, "backend name"),
        "model": Length(MAX_MODEL_NAME_CHARS, "model name"),
        "speaker_count": Range(1, MAX_SPEAKERS, "speaker count"),
        "min_speakers": Range(1, MAX_SPEAKERS, "min speakers"),
        "max_speakers": Range(1, MAX_SPEAKERS, "max speakers"),
    }

    def validate(self) -> None:
        if self.backend not in BACKENDS:
            raise InvalidOptionsError(f"diarization backend must be one of {', '.join(BACKENDS)}, not {self.backend!r}")
        if self.backend == OFFLINE and self.model:
            raise InvalidOptionsError(
                f"the offline diarization backend takes no model; choose the pyannote backend to use {self.model!r}"
            )
        if self.speaker_count is not None and (self.min_speakers or self.max_speakers):
            raise InvalidOptionsError("give either an exact speaker count or minimum/maximum speakers, not both")
        if self.min_speakers and self.max_speakers and self.min_speakers > self.max_speakers:
            raise InvalidOptionsError(f"minimum speakers ({self.min_speakers}) exceeds maximum ({self.max_speakers})")

    def bounds(self) -> tuple[int, int]:
        """(fewest, most) speakers the clustering may return."""
        if self.speaker_count is not None:
            return self.speaker_count, self.speaker_count
        return self.min_speakers or 1, self.max_speakers or MAX_SPEAKERS


@dataclasses.dataclass(frozen=True)
class SpeakerTurn:
    start: float  # seconds from the media start
    end: float
    speaker: str  # "SPEAKER_1", ... in order of first appearance
    confidence: float | None = None  # 0..1 where the backend has one


@dataclasses.dataclass(frozen=True)
class Step:
    """Progress of a running diarization."""

    stage: str
    fraction: float  # 0..1 of the whole job


@dataclasses.dataclass(frozen=True)
class Diarization:
    turns: tuple[SpeakerTurn, ...]  # sorted by start
    duration: float  # of the audio, seconds

    @property
    def speakers(self) -> tuple[str, ...]:
        """Labels in order of first appearance."""
        return tuple(dict.fromkeys(t.speaker for t in self.turns))

    @property
    def speech_duration(self) -> float:
        """Time covered by at least one turn."""
        total, reached = 0.0, 0.0
        for turn in self.turns:
            if turn.end > reached:
                total += turn.end - max(turn.start, reached)
                reached = turn.end
        return total


def finish(turns: Iterable[SpeakerTurn], duration: float) -> Diarization:
    """Sorts turns, clamps them into the audio, drops empty ones and renumbers the speakers
    SPEAKER_1, SPEAKER_2, ... in order of first appearance (backends name them arbitrarily)."""
    clamped = sorted(
        (dataclasses.replace(t, start=max(0.0, t.start), end=min(duration, t.end)) for t in turns),
        key=lambda t: (t.start, t.end),
    )
    clamped = [t for t in clamped if t.end > t.start]
    names: dict[str, str] = {}
    for turn in clamped:
        names.setdefault(turn.speaker, f"{LABEL_PREFIX}{len(names) + 1}")
    return Diarization(tuple(dataclasses.replace(t, speaker=names[t.speaker]) for t in clamped), duration)


class OfflineDiarizer:
    """Silero VAD + resemblyzer GE2E + agglomerative clustering; thread-safe."""

    name = "offline (silero-vad + resemblyzer GE2E)"

    def __init__(self, encoder, device: str) -> None:
        self._encoder = encoder
        self.device = device

    def diarize(self, audio: np.ndarray, options: DiarizationOptions) -> Iterator[Step | Diarization]:
        """Diarizes 16 kHz mono float32 audio: yields Steps, then one Diarization."""
        options.validate()
        audio = np.ascontiguousarray(audio, dtype=np.float32)
        duration = len(audio) / SAMPLE_RATE
        yield Step("finding speech", 0.0)
        regions = speech_regions(audio)
        if not regions:
            yield finish((), duration)
            return
        yield Step("embedding speakers", 0.2)
        starts, embeddings = self._embed_windows(audio, regions)
        yield Step("clustering", 0.8)
        embeddings = smooth(starts, embeddings)
        labels = cluster(embeddings, *options.bounds())
        centres = (starts + WINDOW_FRAMES / 2) * MEL_HOP_SECONDS
        turns = _turns(regions, centres, labels, embeddings)
        yield finish(turns, duration)

    def _embed_windows(self, audio: np.ndarray, regions: list[tuple[float, float]]):
        """(window start frames, unit-norm GE2E embeddings) for windows over the speech."""
        import torch
        from resemblyzer.audio import normalize_volume, wav_to_mel_spectrogram

        wav = normalize_volume(audio, TARGET_DBFS, increase_only=True)
        mel = wav_to_mel_spectrogram(wav)
        if len(mel) < WINDOW_FRAMES:  # audio shorter than one window: pad with silence
            mel = np.pad(mel, ((0, WINDOW_FRAMES - len(mel)), (0, 0)))
        frame_count = len(mel)
        starts = window_starts(regions, frame_count)
        chunks = []
        with torch.inference_mode():
            for i in range(0, len(starts), EMBED_BATCH):  # windows made per batch: hours of them take GBs
                windows = np.stack([mel[s : s + WINDOW_FRAMES] for s in starts[i : i + EMBED_BATCH]])
                chunks.append(self._encoder(torch.from_numpy(windows).to(self._encoder.device)).cpu().numpy())
        return starts, np.concatenate(chunks)


def speech_regions(audio: np.ndarray) -> list[tuple[float, float]]:
    """(start, end) seconds of speech found by Silero VAD."""
    try:
        from faster_whisper.vad import VadOptions, get_speech_timestamps
    except ImportError:
        raise ModelUnavailableError(
            "diarization needs Silero VAD from faster-whisper: install the sidecar's `asr` extra"
        ) from None
    vad = VadOptions(
        threshold=VAD_THRESHOLD,
        min_silence_duration_ms=VAD_MIN_SILENCE_MS,
        speech_pad_ms=VAD_SPEECH_PAD_MS,
        min_speech_duration_ms=VAD_MIN_SPEECH_MS,
    )
    return [
        (c["start"] / SAMPLE_RATE, c["end"] / SAMPLE_RATE)
        for c in get_speech_timestamps(audio, vad, sampling_rate=SAMPLE_RATE)
    ]


def window_starts(regions: Sequence[tuple[float, float]], frame_count: int) -> np.ndarray:
    """Start frames of GE2E windows: STEP_FRAMES apart across each region, and one window
    centred on a region shorter than a window (its edges then hear some context)."""
    last = max(0, frame_count - WINDOW_FRAMES)
    starts: list[int] = []
    for start, end in regions:
        first, stop = int(start / MEL_HOP_SECONDS), int(end / MEL_HOP_SECONDS)
        if stop - first <= WINDOW_FRAMES:
            starts.append((first + stop - WINDOW_FRAMES) // 2)
            continue
        span = range(first, stop - WINDOW_FRAMES + 1, STEP_FRAMES)
        starts.extend(span)
        if span[-1] + WINDOW_FRAMES < stop:
            starts.append(stop - WINDOW_FRAMES)  # cover the region's tail
    return np.clip(np.array(sorted(set(starts))), 0, last)


def smooth(starts: np.ndarray, embeddings: np.ndarray) -> np.ndarray:
    """Averages each embedding with its SMOOTH_NEIGHBOURS neighbours on each side that
    overlap it; one 1.6 s window is a noisy sample of a voice."""
    smoothed = np.empty_like(embeddings)
    for i, start in enumerate(starts):
        lo, hi = max(0, i - SMOOTH_NEIGHBOURS), i + SMOOTH_NEIGHBOURS + 1
        near = [j for j in range(lo, min(hi, len(starts))) if abs(starts[j] - start) <= SMOOTH_NEIGHBOURS * STEP_FRAMES]
        smoothed[i] = embeddings[near].mean(axis=0)
    return _unit(smoothed)


def cluster(embeddings: np.ndarray, fewest: int, most: int) -> np.ndarray:
    """Speaker index per embedding: average-linkage agglomerative clustering on cosine
    distance, cut at DISTANCE_THRESHOLD unless that gives a count outside [fewest, most],
    then refined by nearest-centroid passes."""
    from sklearn.cluster import AgglomerativeClustering

    n = len(embeddings)
    if n == 1 or most == 1:
        return np.zeros(n, dtype=int)
    if n > MAX_CLUSTERED_WINDOWS:
        # Pairwise distances grow with the square of the windows (hours of speech: gigabytes),
        # so an even sample is clustered and every window joins its nearest speaker.
        sample = np.unique(np.linspace(0, n - 1, MAX_CLUSTERED_WINDOWS).round().astype(int))
        sampled = cluster(embeddings[sample], fewest, most)
        centroids = _unit(np.stack([embeddings[sample][sampled == k].mean(axis=0) for k in range(sampled.max() + 1)]))
        labels = np.unique((embeddings @ centroids.T).argmax(axis=1), return_inverse=True)[1]
        return _refined(embeddings, labels, fewest)

    def agglomerate(**how) -> np.ndarray:
        return AgglomerativeClustering(metric="cosine", linkage="average", **how).fit_predict(embeddings)

    labels = agglomerate(n_clusters=None, distance_threshold=DISTANCE_THRESHOLD)
    sizes = np.bincount(labels)
    if (sizes >= MIN_CLUSTER_WINDOWS).any():  # a few stray windows are not a speaker
        labels = _nearest(embeddings, labels, np.flatnonzero(sizes >= MIN_CLUSTER_WINDOWS))
    found = labels.max() + 1
    if not fewest <= found <= most:
        labels = agglomerate(n_clusters=min(max(found, fewest), most, n))
    return _refined(embeddings, labels, fewest)


def _refined(embeddings: np.ndarray, labels: np.ndarray, fewest: int) -> np.ndarray:
    """Nearest-centroid passes until nothing moves."""
    for _ in range(REASSIGN_ROUNDS):
        moved = _nearest(embeddings, labels, np.arange(labels.max() + 1))
        if moved.max() + 1 < min(fewest, len(embeddings)) or np.array_equal(moved, labels):
            break  # converged, or a speaker the caller asked for would vanish
        labels = moved
    return labels


def _nearest(embeddings: np.ndarray, labels: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Gives every embedding the nearest centroid among the clusters in `keep`, renumbered
    0, 1, ... without gaps."""
    centroids = _unit(np.stack([embeddings[labels == k].mean(axis=0) for k in keep]))
    nearest = (embeddings @ centroids.T).argmax(axis=1)
    return np.unique(nearest, return_inverse=True)[1]


def _unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-12)


def _turns(regions, centres: np.ndarray, labels: np.ndarray, embeddings: np.ndarray) -> list[SpeakerTurn]:
    """Splits each speech region between the speakers of the nearest window centres, merges
    same-speaker pieces across short pauses and scores each turn against its speaker."""
    pieces: list[tuple[float, float, int, list[int]]] = []
    for start, end in regions:
        inside = np.flatnonzero((centres >= start) & (centres <= end))
        if len(inside) == 0:  # a short region: its one window is centred on it
            inside = np.array([np.abs(centres - (start + end) / 2).argmin()])
        cut, windows = start, []
        for a, b in zip(inside[:-1], inside[1:]):
            windows.append(int(a))
            if labels[a] != labels[b]:
                middle = (centres[a] + centres[b]) / 2
                pieces.append((cut, middle, labels[a], windows))
                cut, windows = middle, []
        pieces.append((cut, end, labels[inside[-1]], windows + [int(inside[-1])]))
    merged: list[list] = []
    for start, end, label, windows in pieces:
        if merged and merged[-1][2] == label and start - merged[-1][1] < MERGE_GAP_SECONDS:
            merged[-1][1] = end
            merged[-1][3].extend(windows)
        else:
            merged.append([start, end, label, list(windows)])
    centroids = {k: _unit(embeddings[labels == k].mean(axis=0)) for k in np.unique(labels)}
    turns = []
    for start, end, label, windows in merged:
        confidence = None
        if windows:
            similarity = float(_unit(embeddings[windows].mean(axis=0)) @ centroids[label])
            confidence = min(max(similarity, 0.0), 1.0)
        turns.append(SpeakerTurn(float(start), float(end), f"cluster{label}", confidence))
    return turns


def load_offline(resolved: ResolvedModel, settings: ModelSettings) -> tuple[OfflineDiarizer, str]:
    """Loads the GE2E encoder; returns (OfflineDiarizer, device)."""
    encoder_class = _voice_encoder_class()
    device = devices.torch_device(settings.device)
    encoder = encoder_class(device=device, verbose=False)
    encoder.eval()
    log.info(
        "offline diarizer: GE2E encoder on %s%s", device, "" if device == devices.CUDA else " (no CUDA GPU in use)"
    )
    return OfflineDiarizer(encoder, device), device


MODEL_FAMILY = ModelFamily(
    diarization_models.FAMILY,
    resolve=diarization_models.resolve,
    load=load_offline,
    installed=diarization_models.installed,
    default=lambda settings: diarization_models.OFFLINE_NAME,
)


def _voice_encoder_class():
    """resemblyzer.VoiceEncoder, or ModelUnavailableError saying how to fix the install.

    resemblyzer imports webrtcvad (for a silence trimmer we do not use). Its pinned
    `webrtcvad` 2.0.10 and `webrtcvad-wheels` install the same `webrtcvad.py`; 2.0.10's copy
    needs `pkg_resources`, gone from current setuptools, so whichever installed last decides
    whether resemblyzer imports at all.
    """
    try:
        import webrtcvad  # noqa: F401  (checked first for a precise message)
    except ImportError as exc:
        raise ModelUnavailableError(
            f"the offline diarizer needs resemblyzer, whose `webrtcvad` import fails ({exc}): "
            "run `pip install --force-reinstall --no-deps webrtcvad-wheels`"
        ) from None
    try:
        from resemblyzer import VoiceEncoder
    except ImportError as exc:
        raise ModelUnavailableError(
            f"the offline diarizer needs resemblyzer ({exc}): install the sidecar's `diarize` extra"
        ) from None
    return VoiceEncoder

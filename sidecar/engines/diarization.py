"""Speaker diarization: options, typed turns, and the offline default backend.

About 700 lines on purpose: the offline backend's stages share their constants and were tuned
together, on the AMI dev excerpts and tuning mixtures (bench/diarization.py).

The offline default needs no network and no gated weights. The audio is levelled (a gain that
follows the speech lifts quiet voices), Silero VAD (the ONNX model inside faster-whisper) finds
speech, resemblyzer's GE2E encoder (its `pretrained.pt` ships in the wheel; bfloat16 on CPUs
that compute it) embeds 1.6 s windows sliding over it, each brought to one loudness, and
agglomerative clustering on cosine distance groups the windows into speakers, with the count
detected from a distance threshold unless the caller fixes it or bounds it. A Viterbi pass then
re-segments: each window goes to the speaker whose centroid it is closest to unless the change of
speaker costs more than it gains, so turns change inside continuous speech; a speaker left with a
few windows, or whose windows hardly prefer their own centroid to another speaker's (a voice
split in two), joins the nearest. Those turns hold one speaker at a time; pyannote's
segmentation-3.0 then counts the voices (engines/overlap.py): speech the VAD missed beside a turn
joins it, and where two people speak the nearest other turn's speaker is added. Hours of audio go
through the levelling, the VAD and the mel frames a chunk at a time, and clustering takes a
sample past MAX_CLUSTERED_WINDOWS: beside the audio, memory grows by about its size again (4 h:
1.2 GB). The pyannote.audio backend lives in pyannote_backend.py and returns the same types;
engines/speakers.py names the speakers who match known people's voices, whichever backend found
them.

Backends are generators: `Step` items while they work, then one `Diarization`.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import ClassVar

import numpy as np

from sidecar.engines import diarization_models, levels, overlap
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
HOP_SAMPLES = 160
MEL_CHANNELS = 40
MEL_CHUNK_FRAMES = 6000  # a minute
WINDOW_FRAMES = 160  # 1.6 s
STEP_FRAMES = 40  # 0.4 s between window starts: the resolution of speaker changes
EMBED_BATCH = 64  # windows per forward pass
# Loudness (engines/levels.py): a slow gain brings quiet stretches (a far speaker, a quiet
# meeting) up to the level of loud ones before the VAD hears them, and each window is brought
# to one level before GE2E embeds it: GE2E takes mel power, not its log, so its embeddings
# move with the level.
# Cosine distance (1 - similarity) between two clusters' mean embeddings below which they
# are one speaker. Chosen on the AMI dev excerpts (bench/diarization.py): between windows of
# the same speaker the median distance is about 0.2, between speakers 0.3-0.4.
DISTANCE_THRESHOLD = 0.30
SMOOTH_NEIGHBOURS = 1  # windows each side averaged into a window's embedding: 2.4 s of voice
MAX_CLUSTERED_WINDOWS = 3000  # about 20 min of speech; longer audio clusters a sample
MIN_CLUSTER_WINDOWS = 4  # a cluster of fewer windows (under 3 s of voice) joins its nearest
MAX_STRAY_CLUSTERS = 8  # clusters of stray windows passed over to reach a forced count
REASSIGN_ROUNDS = 2  # nearest-centroid passes after clustering, to fix early merges
# Re-segmentation: a Viterbi pass over the windows, each scored against every speaker's
# centroid, where changing speaker costs SWITCH_COST: turns follow speaker changes inside
# speech without flickering on one odd window.
SHARPNESS = 20.0  # log-likelihood per unit of cosine similarity
SWITCH_COST = 2.0
RESEGMENT_ROUNDS = 2
# A speaker this small is folded into the nearest: chosen on tuning mixtures (bench/diarization.py),
# where 5 % took the right count from 57 % to 79 %; the seconds keep a quiet participant of a
# long meeting.
MINOR_SPEAKER_SHARE = 0.05
MINOR_SPEAKER_SECONDS = 15.0
# A voice split in two: a speaker whose windows, summed, are hardly closer to their own
# centroid than to the nearest other (by cosine similarity) joins it. Summed, not averaged,
# so that the evidence for a real speaker grows with their speech. Chosen on the AMI dev
# excerpts and the tuning mixtures (bench/diarization.py): 20 -> 25 of 28 right counts on
# the mixtures, dev unchanged; at 1.75 a dev speaker is lost.
SPLIT_VOICE_MARGIN = 1.5
# Silero VAD settings for speaker turns: short pauses keep turns apart, a small pad keeps
# word onsets.
VAD_THRESHOLD = 0.25  # not Silero's 0.5: quiet meeting speech (AMI: 14% vs 22% missed)
VAD_MIN_SILENCE_MS = 300
VAD_SPEECH_PAD_MS = 100
VAD_MIN_SPEECH_MS = 200
VAD_CHUNK_SAMPLES = 300 * SAMPLE_RATE
MERGE_GAP_SECONDS = 0.3  # a same-speaker pause shorter than this does not end a turn
CHANGE_SPAN_SECONDS = 0.8  # windows this near a speaker change place it: half a window's width
# Known speakers: a person's voiceprint is the mean embedding of their reference; a found
# speaker whose centroid is this similar takes their name (same person: about 0.9, different
# people mostly 0.45-0.65), and their voiceprint then anchors the re-segmentation.
NAME_THRESHOLD = 0.65
MIN_SPEAKER_REFERENCE_SECONDS = 3.0
MAX_SPEAKER_REFERENCE_SECONDS = 60.0  # of a reference, the start is used
MAX_KNOWN_SPEAKERS = 64
MAX_NAME_CHARS = 200


@dataclasses.dataclass(frozen=True)
class KnownSpeaker:
    """A person to name: their name and their voice alone (16 kHz mono)."""

    name: str
    audio: np.ndarray = dataclasses.field(compare=False, repr=False)

    def validate(self) -> None:
        if not self.name.strip() or len(self.name) > MAX_NAME_CHARS:
            raise InvalidOptionsError(f"a known speaker's name must be 1 to {MAX_NAME_CHARS} characters")
        if len(self.audio) < MIN_SPEAKER_REFERENCE_SECONDS * SAMPLE_RATE:
            raise InvalidOptionsError(
                f"the reference audio of {self.name!r} is {len(self.audio) / SAMPLE_RATE:.1f} s long: "
                f"give at least {MIN_SPEAKER_REFERENCE_SECONDS:g} s of them speaking alone"
            )


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
    # People whose names label the speakers that sound like them (each name at most once).
    known_speakers: tuple[KnownSpeaker, ...] = ()
    # Cosine similarity of voiceprints a speaker needs to take a name; None: NAME_THRESHOLD.
    name_threshold: float | None = None

    BOUNDS: ClassVar[dict] = {
        "name_threshold": Range(0.0, 1.0, "name threshold"),
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
        if len(self.known_speakers) > MAX_KNOWN_SPEAKERS:
            raise InvalidOptionsError(f"{len(self.known_speakers)} known speakers given; at most {MAX_KNOWN_SPEAKERS}")
        names = [k.name for k in self.known_speakers]
        if len(set(names)) < len(names):
            raise InvalidOptionsError(f"known speakers must have different names: {', '.join(names)}")
        for known in self.known_speakers:
            known.validate()

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
    turns: tuple[SpeakerTurn, ...]  # sorted by start; overlap where two people speak at once
    duration: float  # of the audio, seconds
    # The same speakers, at most one at any instant (sorted, same labels); () when the backend
    # has none: the offline backend without its overlap model never overlaps turns.
    exclusive_turns: tuple[SpeakerTurn, ...] = ()

    @property
    def caption_turns(self) -> tuple[SpeakerTurn, ...]:
        """The turns to label transcript words by: a caption line has one speaker."""
        return self.exclusive_turns or self.turns

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


def finish(
    turns: Iterable[SpeakerTurn],
    duration: float,
    named: Mapping[str, str] | None = None,
    exclusive_turns: Iterable[SpeakerTurn] = (),
) -> Diarization:
    """Sorts turns, clamps them into the audio, drops empty ones and labels the speakers: by
    `named` (backend label -> a known speaker's name), the others SPEAKER_1, SPEAKER_2, ... in
    order of first appearance in `turns` (backends name them arbitrarily). Exclusive turns get
    the same treatment and the same labels, so captions and turns agree on who is who."""

    def clamped(some: Iterable[SpeakerTurn]) -> list[SpeakerTurn]:
        inside = (dataclasses.replace(t, start=max(0.0, t.start), end=min(duration, t.end)) for t in some)
        return sorted((t for t in inside if t.end > t.start), key=lambda t: (t.start, t.end))

    turns, exclusive_turns = clamped(turns), clamped(exclusive_turns)
    labels: dict[str, str] = dict(named or {})
    for turn in [*turns, *exclusive_turns]:
        if turn.speaker not in labels:
            labels[turn.speaker] = f"{LABEL_PREFIX}{len(set(labels) - set(named or {})) + 1}"

    def relabelled(some: list[SpeakerTurn]) -> tuple[SpeakerTurn, ...]:
        return tuple(dataclasses.replace(t, speaker=labels[t.speaker]) for t in some)

    return Diarization(relabelled(turns), duration, relabelled(exclusive_turns))


class OfflineDiarizer:
    """Silero VAD + resemblyzer GE2E + agglomerative clustering; thread-safe."""

    def __init__(self, encoder, device: str, segmentation=None) -> None:
        self._encoder = encoder
        self._segmentation = segmentation  # finds overlapping speech where given (engines/overlap.py)
        self.device = device
        self.name = "offline (silero-vad + resemblyzer GE2E" + (" + segmentation-3.0)" if segmentation else ")")
        self._bfloat16 = device == devices.CPU and cpu_computes_bfloat16()

    def diarize(self, audio: np.ndarray, options: DiarizationOptions) -> Iterator[Step | Diarization]:
        """Diarizes 16 kHz mono float32 audio: yields Steps, then one Diarization."""
        options.validate()
        given, audio = audio, levels.levelled(np.ascontiguousarray(audio, dtype=np.float32))
        duration = len(audio) / SAMPLE_RATE
        yield Step("finding speech", 0.0)
        regions = speech_regions(audio)
        if not regions:
            yield finish((), duration)
            return
        yield Step("embedding speakers", 0.2)
        starts, embeddings = self._embed_windows(audio, regions)
        yield Step("clustering", 0.8)
        labels = cluster(smooth(starts, embeddings), *options.bounds())
        fewest = options.bounds()[0]
        labels = without_minor_speakers(embeddings, resegment(embeddings, labels, fewest), fewest)
        labels = without_split_voices(embeddings, labels, fewest)
        names: dict[str, str] = {}
        if options.known_speakers:
            yield Step("naming speakers", 0.9)
            anchors = np.stack([self.reference_print(k) for k in options.known_speakers])
            threshold = NAME_THRESHOLD if options.name_threshold is None else options.name_threshold
            labels = anchored(embeddings, labels, anchors, threshold)
            names = {f"cluster{i}": k.name for i, k in enumerate(options.known_speakers)}
        centres = (starts + WINDOW_FRAMES / 2) * MEL_HOP_SECONDS
        turns, exclusive = _turns(regions, centres, labels, embeddings), []
        if self._segmentation is not None:
            yield Step("finding overlapping speech", 0.95)
            turns, exclusive = _overlap_aware(turns, self._segmentation, given)
        yield finish(turns, duration, names, exclusive)

    def reference_print(self, known: KnownSpeaker) -> np.ndarray:
        """A known person's voiceprint, from the start of their reference. InvalidOptionsError
        when it holds under MIN_SPEAKER_REFERENCE_SECONDS of speech: a voiceprint of a few words
        matches nobody well, the person included."""
        spoken, found = self._spoken_print(known.audio[: int(MAX_SPEAKER_REFERENCE_SECONDS * SAMPLE_RATE)])
        if found is None:
            raise InvalidOptionsError(f"no speech was found in the reference audio of {known.name!r}")
        if spoken < MIN_SPEAKER_REFERENCE_SECONDS:
            raise InvalidOptionsError(
                f"the reference audio of {known.name!r} holds {spoken:.1f} s of speech: "
                f"give at least {MIN_SPEAKER_REFERENCE_SECONDS:g} s of them speaking alone"
            )
        return found

    def voiceprint(self, audio: np.ndarray) -> np.ndarray | None:
        """The unit-norm mean embedding of the speech in 16 kHz mono audio; None without speech."""
        return self._spoken_print(audio)[1]

    def _spoken_print(self, audio: np.ndarray) -> tuple[float, np.ndarray | None]:
        """(seconds of speech in the audio, their voiceprint or None without speech)."""
        audio = levels.levelled(np.ascontiguousarray(audio, dtype=np.float32))
        regions = speech_regions(audio)
        if not regions:
            return 0.0, None
        _, embeddings = self._embed_windows(audio, regions)
        return sum(end - start for start, end in regions), _unit(embeddings.mean(axis=0))

    def _embed_windows(self, audio: np.ndarray, regions: list[tuple[float, float]]):
        """(window start frames, unit-norm GE2E embeddings) for windows over the speech, each
        window brought to the same loudness."""
        import torch

        mel = mel_frames(audio)
        if len(mel) < WINDOW_FRAMES:  # audio shorter than one window: pad with silence
            mel = np.pad(mel, ((0, WINDOW_FRAMES - len(mel)), (0, 0)))
        starts = window_starts(regions, len(mel))
        gains = levels.window_power_gains(audio, starts, WINDOW_FRAMES, HOP_SAMPLES)
        chunks = []
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=self._bfloat16):
            for i in range(0, len(starts), EMBED_BATCH):  # windows made per batch: hours of them take GBs
                batch = starts[i : i + EMBED_BATCH]
                windows = np.stack([mel[s : s + WINDOW_FRAMES] for s in batch]) * gains[i : i + EMBED_BATCH, None, None]
                embedded = self._encoder(torch.from_numpy(windows).to(self._encoder.device))
                chunks.append(embedded.float().cpu().numpy())
        return starts, _unit(np.concatenate(chunks))


def cpu_computes_bfloat16() -> bool:
    """Whether this CPU has bfloat16 instructions (AVX512-BF16 or AMX). There GE2E runs 2.6
    times faster in bfloat16, its embeddings within 0.3 % (cosine) of float32's; elsewhere
    bfloat16 is emulated, and slower."""
    import torch

    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, check, lambda: False)() for check in checks)


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
    regions: list[tuple[float, float]] = []
    # A chunk at a time: the VAD's buffers are twice the audio it is given.
    for offset in range(0, len(audio), VAD_CHUNK_SAMPLES):
        chunk = get_speech_timestamps(audio[offset : offset + VAD_CHUNK_SAMPLES], vad, sampling_rate=SAMPLE_RATE)
        for i, found in enumerate(chunk):
            start, end = (offset + found["start"]) / SAMPLE_RATE, (offset + found["end"]) / SAMPLE_RATE
            if i == 0 and regions and start - regions[-1][1] < VAD_MIN_SILENCE_MS / 1000:
                start = regions.pop()[0]  # one region, cut by the chunk's edge
            regions.append((start, end))
    return regions


def mel_frames(audio: np.ndarray) -> np.ndarray:
    """GE2E's input, resemblyzer's mel power frames (10 ms hop, 25 ms windows centred on
    each hop), computed MEL_CHUNK_FRAMES at a time: librosa's STFT of a whole recording
    takes 16 times its size."""
    from resemblyzer.audio import wav_to_mel_spectrogram

    count = 1 + len(audio) // HOP_SAMPLES
    context = 2  # hops each side, covering a 25 ms window's half
    frames = np.empty((count, MEL_CHANNELS), dtype=np.float32)
    for first in range(0, count, MEL_CHUNK_FRAMES):
        last = min(first + MEL_CHUNK_FRAMES, count)
        begin = max(0, first - context)
        mel = wav_to_mel_spectrogram(audio[begin * HOP_SAMPLES : (last + context) * HOP_SAMPLES])
        frames[first:last] = mel[first - begin : last - begin]
    return frames


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
        wanted = min(max(found, fewest), most, n)
        # The tree is cut finer until `wanted` clusters are speakers, not stray windows (a
        # cough, a chair): a forced count otherwise spends a speaker on the most distant few.
        for count in range(wanted, min(n, wanted + MAX_STRAY_CLUSTERS) + 1):
            labels = agglomerate(n_clusters=count)
            speakers = np.flatnonzero(np.bincount(labels) >= MIN_CLUSTER_WINDOWS)
            if len(speakers) >= wanted:
                labels = _nearest(embeddings, labels, speakers)
                break
        else:
            labels = agglomerate(n_clusters=wanted)
    return _refined(embeddings, labels, fewest)


def _refined(embeddings: np.ndarray, labels: np.ndarray, fewest: int) -> np.ndarray:
    """Nearest-centroid passes until nothing moves."""
    for _ in range(REASSIGN_ROUNDS):
        moved = _nearest(embeddings, labels, np.arange(labels.max() + 1))
        if moved.max() + 1 < min(fewest, len(embeddings)) or np.array_equal(moved, labels):
            break  # converged, or a speaker the caller asked for would vanish
        labels = moved
    return labels


def resegment(embeddings: np.ndarray, labels: np.ndarray, fewest: int = 1) -> np.ndarray:
    """Window labels from a Viterbi pass: each window scored against each speaker's centroid,
    a change of speaker costing SWITCH_COST; repeated with the centroids of the new labels."""
    for _ in range(RESEGMENT_ROUNDS):
        count = labels.max() + 1
        path = viterbi(embeddings, _unit(np.stack([embeddings[labels == k].mean(axis=0) for k in range(count)])))
        if len(np.unique(path)) < min(fewest, count) or np.array_equal(path, labels):
            break  # converged, or a speaker the caller asked for would vanish
        labels = np.unique(path, return_inverse=True)[1]
    return labels


def without_minor_speakers(embeddings: np.ndarray, labels: np.ndarray, fewest: int = 1) -> np.ndarray:
    """Window labels where a speaker with under MINOR_SPEAKER_SHARE of the windows (and under
    MINOR_SPEAKER_SECONDS of them) joins the nearest other, smallest first, each followed by a
    re-segmentation: such a speaker is mostly a voice the clustering split in two."""
    longest = MINOR_SPEAKER_SECONDS / (STEP_FRAMES * MEL_HOP_SECONDS)
    while labels.max() + 1 > fewest:
        sizes = np.bincount(labels)
        smallest = int(sizes.argmin())
        if sizes[smallest] >= min(MINOR_SPEAKER_SHARE * len(labels), longest):
            break
        keep = np.flatnonzero(np.arange(len(sizes)) != smallest)
        labels = resegment(embeddings, _nearest(embeddings, labels, keep), fewest)
    return labels


def without_split_voices(embeddings: np.ndarray, labels: np.ndarray, fewest: int = 1) -> np.ndarray:
    """Window labels where the speaker with the least evidence of being someone else (the sum
    over their windows of the similarity to their own centroid minus that to the nearest
    other) joins the nearest while that sum is under SPLIT_VOICE_MARGIN, each merge followed
    by a re-segmentation."""
    while labels.max() + 1 > fewest:
        count = labels.max() + 1
        similarity = embeddings @ _unit(np.stack([embeddings[labels == k].mean(axis=0) for k in range(count)])).T
        rows = np.arange(len(labels))
        own = similarity[rows, labels]
        similarity[rows, labels] = -np.inf
        margins = np.bincount(labels, own - similarity.max(axis=1), minlength=count)
        weakest = int(margins.argmin())
        if margins[weakest] >= SPLIT_VOICE_MARGIN:
            break
        keep = np.flatnonzero(np.arange(count) != weakest)
        labels = resegment(embeddings, _nearest(embeddings, labels, keep), fewest)
    return labels


def viterbi(embeddings: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """The most likely centroid index per window, where a window scores SHARPNESS times its
    cosine similarity to a centroid and each change of centroid costs SWITCH_COST."""
    count = len(centroids)
    scores = SHARPNESS * (embeddings @ centroids.T)
    best = scores[0].copy()
    back = np.zeros(scores.shape, dtype=int)
    switch = SWITCH_COST * (1 - np.eye(count))
    for i in range(1, len(scores)):
        stay_or_switch = best[None, :] - switch  # [to, from]
        back[i] = stay_or_switch.argmax(axis=1)
        best = stay_or_switch.max(axis=1) + scores[i]
    path = np.empty(len(scores), dtype=int)
    path[-1] = int(best.argmax())
    for i in range(len(scores) - 1, 0, -1):
        path[i - 1] = back[i, path[i]]
    return path


def anchored(embeddings: np.ndarray, labels: np.ndarray, anchors: np.ndarray, threshold: float) -> np.ndarray:
    """Window labels where known people's voiceprints (`anchors`) are fixed speakers: clusters
    that match one (see match_names) give way to it, the other clusters stay, and a Viterbi pass
    over all of them places every window; labels >= len(anchors) are unknown speakers."""
    count = labels.max() + 1
    centroids = _unit(np.stack([embeddings[labels == k].mean(axis=0) for k in range(count)]))
    matched = match_names(centroids @ anchors.T, threshold)
    unknown = [k for k in range(count) if k not in matched]
    path = viterbi(embeddings, np.concatenate([anchors, centroids[unknown]]))
    return path


def match_names(similarity: np.ndarray, threshold: float) -> dict[int, int]:
    """Speaker (row) -> known person (column) for similarities at least `threshold`: one to one
    first, the best pairs first; a speaker left over then takes the person it matches best,
    so a person the clustering split in two is joined again."""
    from scipy.optimize import linear_sum_assignment

    rows, columns = linear_sum_assignment(-similarity)
    matched = {int(r): int(c) for r, c in zip(rows, columns) if similarity[r, c] >= threshold}
    for row in range(len(similarity)):
        best = int(similarity[row].argmax())
        if row not in matched and similarity[row, best] >= threshold:
            matched[row] = best
    return matched


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
    same-speaker pieces across short pauses and scores each turn against its speaker. Where the
    speaker changes between two windows, the turn ends at _change_time."""
    centroids = {k: _unit(embeddings[labels == k].mean(axis=0)) for k in np.unique(labels)}
    pieces: list[tuple[float, float, int, list[int]]] = []
    for start, end in regions:
        inside = np.flatnonzero((centres >= start) & (centres <= end))
        if len(inside) == 0:  # a short region: its one window is centred on it
            inside = np.array([np.abs(centres - (start + end) / 2).argmin()])
        cut, windows = start, []
        for j, (a, b) in enumerate(zip(inside[:-1], inside[1:])):
            windows.append(int(a))
            if labels[a] != labels[b]:
                leans = embeddings[inside] @ (centroids[labels[a]] - centroids[labels[b]])
                middle = max(_change_time(centres[inside], leans, labels[inside], j), cut)
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
    turns = []
    for start, end, label, windows in merged:
        confidence = None
        if windows:
            similarity = float(_unit(embeddings[windows].mean(axis=0)) @ centroids[label])
            confidence = min(max(similarity, 0.0), 1.0)
        turns.append(SpeakerTurn(float(start), float(end), f"cluster{label}", confidence))
    return turns


def _overlap_aware(turns: list[SpeakerTurn], segmentation, audio: np.ndarray):
    """(turns, exclusive turns) with what the voices the segmentation model hears change and
    add (overlap.with_overlap)."""
    plain = [overlap.Turn(*dataclasses.astuple(t)) for t in turns]
    changes = [time for _, time in overlap.changes_of_speaker(plain)]
    found, exclusive = overlap.with_overlap(plain, overlap.voices(segmentation, audio, changes))
    return [SpeakerTurn(*t) for t in found], [SpeakerTurn(*t) for t in exclusive]


def _change_time(centres: np.ndarray, leans: np.ndarray, labels: np.ndarray, j: int) -> float:
    """Where the speaker changes between windows j and j + 1 of a region: where the windows'
    leaning from the first speaker towards the second crosses zero. A window straddling the
    change leans by the share of each voice in it, so the leans fall along a line over a
    window's width; one fitted through the windows around the change, not just the two beside
    it, averages out their noise (tuning mixtures 5.7 -> 5.2 % DER)."""
    lean_a, lean_b = leans[j], leans[j + 1]
    share = lean_a / (lean_a - lean_b) if lean_a > 0 > lean_b else 0.5
    middle = centres[j] + share * (centres[j + 1] - centres[j])
    first, last = j, j + 1
    while first > 0 and labels[first - 1] == labels[j] and centres[first - 1] >= middle - CHANGE_SPAN_SECONDS:
        first -= 1
    while (
        last < len(labels) - 1
        and labels[last + 1] == labels[j + 1]
        and centres[last + 1] <= middle + CHANGE_SPAN_SECONDS
    ):
        last += 1
    if last - first < 2:
        return float(middle)
    slope, intercept = np.polyfit(centres[first : last + 1] - middle, leans[first : last + 1], 1)
    if slope >= 0:  # no fall from one voice to the other to follow
        return float(middle)
    return float(np.clip(middle - intercept / slope, centres[j], centres[j + 1]))


def load_offline(resolved: ResolvedModel, settings: ModelSettings) -> tuple[OfflineDiarizer, str]:
    """Loads the GE2E encoder; returns (OfflineDiarizer, device)."""
    encoder_class = _voice_encoder_class()
    device = devices.torch_device(settings.device)
    encoder = encoder_class(device=device, verbose=False)
    encoder.eval()
    log.info(
        "offline diarizer: GE2E encoder on %s%s", device, "" if device == devices.CUDA else " (no CUDA GPU in use)"
    )
    return OfflineDiarizer(encoder, device, overlap.load(device)), device


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

"""Test material for diarization: a pyannote pipeline directory with random weights, and a
two-speaker clip joined from two real voices."""

from __future__ import annotations

import dataclasses
import pathlib
from collections.abc import Sequence

import numpy as np

SEGMENTATION_SECONDS = 5.0  # the segmentation model's window
EMBEDDING_DIMENSION = 32
PLDA_DIMENSION = 16
SAMPLE_RATE = 16_000

PIPELINE_YAML = """\
pipeline:
  name: pyannote.audio.pipelines.SpeakerDiarization
  params:
    segmentation: $model/segmentation
    embedding: $model/embedding
    plda: $model/plda
    clustering: VBxClustering
    segmentation_step: 0.5
params:
  segmentation:
    min_duration_off: 0.0
  clustering:
    threshold: 0.6
    Fa: 0.07
    Fb: 0.8
"""


def _save_checkpoint(model, directory: pathlib.Path) -> None:
    """Writes a model as pyannote's `pytorch_model.bin` (a Lightning checkpoint)."""
    import lightning
    import torch

    checkpoint = {
        "state_dict": model.state_dict(),
        "hyper_parameters": dict(model.hparams),
        "pytorch-lightning_version": lightning.__version__,
    }
    model.on_save_checkpoint(checkpoint)
    directory.mkdir(parents=True, exist_ok=True)
    torch.save(checkpoint, directory / "pytorch_model.bin")


def build_random_pipeline(directory: pathlib.Path, seed: int = 0) -> pathlib.Path:
    """A speaker-diarization pipeline directory whose models have small random weights:
    pyannote's real code runs end to end, its output means nothing."""
    import torch
    from pyannote.audio.core.task import Problem, Resolution, Specifications
    from pyannote.audio.models.embedding import XVectorSincNet
    from pyannote.audio.models.segmentation import PyanNet

    torch.manual_seed(seed)
    segmentation = PyanNet(lstm={"hidden_size": 16, "num_layers": 1}, linear={"hidden_size": 16, "num_layers": 1})
    segmentation.specifications = Specifications(
        problem=Problem.MONO_LABEL_CLASSIFICATION,
        resolution=Resolution.FRAME,
        duration=SEGMENTATION_SECONDS,
        classes=["speaker#1", "speaker#2", "speaker#3"],
        powerset_max_classes=2,
        permutation_invariant=True,
    )
    segmentation.build()
    _save_checkpoint(segmentation, directory / "segmentation")
    embedding = XVectorSincNet(dimension=EMBEDDING_DIMENSION)
    embedding.specifications = Specifications(
        problem=Problem.REPRESENTATION, resolution=Resolution.CHUNK, duration=SEGMENTATION_SECONDS
    )
    _save_checkpoint(embedding, directory / "embedding")
    rng = np.random.default_rng(seed)
    (directory / "plda").mkdir(parents=True, exist_ok=True)
    np.savez(
        directory / "plda" / "xvec_transform.npz",
        mean1=rng.normal(size=EMBEDDING_DIMENSION),
        mean2=rng.normal(size=PLDA_DIMENSION),
        lda=rng.normal(size=(EMBEDDING_DIMENSION, PLDA_DIMENSION)),
    )
    np.savez(
        directory / "plda" / "plda.npz",
        mu=rng.normal(size=PLDA_DIMENSION),
        tr=np.eye(PLDA_DIMENSION) + 0.1 * rng.normal(size=(PLDA_DIMENSION, PLDA_DIMENSION)),
        psi=rng.uniform(0.5, 2.0, size=PLDA_DIMENSION),
    )
    (directory / "config.yaml").write_text(PIPELINE_YAML)
    return directory


DATA = pathlib.Path(__file__).parent / "data"
AMI = DATA / "ami"
AMI_FILES = ("dev00", "dev01", "tst00", "tst01")
# In dev00 only MEE009 speaks from 1.44 s to 13.15 s (ami-excerpts.rttm): a second real
# voice to join to LibriSpeech's speaker 1089, the only speaker in tests/data.
AMI_SOLO = ("dev00", 1.5, 13.1)


def two_speaker_clip(
    librispeech_uid: str = "1089-134686-0000", ami_seconds: float | None = None
) -> tuple[np.ndarray, float]:
    """(16 kHz mono samples, boundary seconds): a LibriSpeech utterance of speaker 1089,
    then MEE009 alone in an AMI meeting, brought to the same loudness."""
    from sidecar.media.audio import decode_file

    first = decode_file(DATA / f"{librispeech_uid}.flac", sample_rate=SAMPLE_RATE, mono=True).mono()
    name, start, end = AMI_SOLO
    if ami_seconds is not None:
        end = start + ami_seconds
    meeting = decode_file(AMI / f"{name}.flac", sample_rate=SAMPLE_RATE, mono=True).mono()
    second = meeting[int(start * SAMPLE_RATE) : int(end * SAMPLE_RATE)]
    second = second * (np.sqrt(np.mean(first**2)) / np.sqrt(np.mean(second**2)))
    return np.concatenate([first, second]).astype(np.float32), len(first) / SAMPLE_RATE


def write_flac(samples: np.ndarray, path: pathlib.Path) -> pathlib.Path:
    """16 kHz mono samples as a 16-bit file, through the sidecar's own writer."""
    from sidecar.media.writers import S16, write_audio

    return write_audio(path, samples, SAMPLE_RATE, overwrite=True, sample_format=S16)


def ami_reference(uri: str):
    """pyannote Annotation of the reference turns of one AMI excerpt, and its UEM Timeline."""
    from pyannote.core import Annotation, Segment, Timeline

    from sidecar_common import rttm

    reference = Annotation(uri=uri)
    for turn in rttm.parse_rttm((AMI / "ami-excerpts.rttm").read_text())[uri]:
        reference[Segment(turn.start, turn.end)] = turn.speaker
    uem = Timeline(uri=uri)
    for line in (AMI / "ami-excerpts.uem").read_text().splitlines():
        fields = line.split()
        if fields[0] == uri:
            uem.add(Segment(float(fields[2]), float(fields[3])))
    return reference, uem


def score_ami(results: dict):
    """pyannote.metrics DiarizationErrorRate accumulated over {AMI uri: Diarization}."""
    from pyannote.core import Annotation, Segment
    from pyannote.metrics.diarization import DiarizationErrorRate

    metric = DiarizationErrorRate()
    for uri, result in results.items():
        hypothesis = Annotation(uri=uri)
        for turn in result.turns:
            hypothesis[Segment(turn.start, turn.end)] = turn.speaker
        reference, uem = ami_reference(uri)
        metric(reference, hypothesis, uem=uem)
    return metric


# --- speaker mixtures whose truth is known ------------------------------------------------------

ES2004 = DATA / "ami-es2004"
# Each ES2004 headset signal was peak-normalised on its own; these gains rebuild the mixture
# (ATTRIBUTION.md). Speaker -> (source file, gain, seconds where they speak, by mixture.rttm).
ES2004_SPEAKERS = {
    "MEO015": ("source0.flac", 0.1225, ((5.18, 8.06), (44.46, 60.0))),
    "FEE013": ("source1.flac", 0.0826, ((7.43, 29.79),)),
    "FEE016": ("source3.flac", 0.9994, ((0.0, 5.29), (29.78, 44.48), (53.8, 55.92))),
}
MIXTURE_DBFS = -26.0  # loudness of the louder speaker in a mixture
LONGEST_PAUSE = 0.3  # silences longer than this inside a voice are cut to PAUSE_KEPT
PAUSE_KEPT = 0.15
SILENCE_DB = -35.0  # a 20 ms frame this far below the voice's loud frames is silence
# A recording's lead-in and tail before and after its first and last frame this close to its loud
# frames are not the voice: FLEURS-de opens with 4.3 s of room noise 20 dB under its speech,
# which the silence rule above keeps (it would be taken for speech, and for a reference).
SPEECH_DB = -15.0


def voices() -> dict[str, np.ndarray]:
    """Eight voices, each its own speech alone with long pauses cut: LibriSpeech's reader
    1089, the LJ Speech reader, three FLEURS readers (de, es, fr) and three ES2004 meeting
    participants from their own headsets."""
    from sidecar.media.audio import decode_file

    def load(path: pathlib.Path) -> np.ndarray:
        return decode_file(path, sample_rate=SAMPLE_RATE, mono=True).mono()

    found = {"LS1089": np.concatenate([load(p) for p in sorted(DATA.glob("1089-*.flac"))])}
    found["LJ"] = load(DATA / "ljspeech-lj001.ogg")[: 60 * SAMPLE_RATE]
    for language in ("de", "es", "fr"):
        found[f"FLEURS-{language}"] = load(next((DATA / "fleurs").glob(f"fleurs-{language}-*.ogg")))
    for speaker, (name, gain, spans) in ES2004_SPEAKERS.items():
        signal = load(ES2004 / name) * gain
        found[speaker] = np.concatenate([signal[int(a * SAMPLE_RATE) : int(b * SAMPLE_RATE)] for a, b in spans])
    return {speaker: _without_long_pauses(_trimmed(signal)) for speaker, signal in found.items()}


def _frame_db(signal: np.ndarray, frame: int) -> np.ndarray:
    frames = signal[: len(signal) // frame * frame].reshape(-1, frame)
    return 10 * np.log10(np.mean(frames**2, axis=1) + 1e-12)


def _trimmed(signal: np.ndarray) -> np.ndarray:
    """The signal from its first to its last frame within -SPEECH_DB of its loud frames."""
    frame = SAMPLE_RATE // 50
    level = _frame_db(signal, frame)
    voiced = np.flatnonzero(level > np.percentile(level, 95) + SPEECH_DB)
    return signal[voiced[0] * frame : (voiced[-1] + 1) * frame]


def _without_long_pauses(signal: np.ndarray) -> np.ndarray:
    frame = SAMPLE_RATE // 50
    level = _frame_db(signal, frame)
    loud = level > np.percentile(level, 95) + SILENCE_DB
    kept, quiet = [], 0
    for i, is_loud in enumerate(loud):
        quiet = 0 if is_loud else quiet + 1
        if quiet * frame <= PAUSE_KEPT * SAMPLE_RATE or is_loud:
            kept.append(signal[i * frame : (i + 1) * frame])
    return np.concatenate(kept)


@dataclasses.dataclass(frozen=True)
class Mixture:
    name: str
    samples: np.ndarray  # 16 kHz mono
    turns: tuple[tuple[float, float, str], ...]  # (start, end, speaker), the truth

    @property
    def speakers(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(t[2] for t in self.turns))


def mixture(
    voices: dict[str, np.ndarray],
    speakers: Sequence[str],
    seconds: float,
    seed: int,
    *,
    turn_seconds: tuple[float, float] = (1.0, 5.0),
    level_spread_db: float = 20.0,
    overlap_seconds: tuple[float, float] | None = None,
) -> Mixture:
    """Turns of `speakers` taken in a random order, each `turn_seconds` long (cut at the
    quietest 20 ms near the drawn length), joined with no pause between them; every speaker
    but the first is up to `level_spread_db` quieter. With `overlap_seconds`, every other
    turn on average starts that long before the previous one ends (cut in, talked over)."""
    rng = np.random.default_rng(seed)
    frame = SAMPLE_RATE // 50
    gains = {
        s: 10 ** ((MIXTURE_DBFS - (0.0 if i == 0 else rng.uniform(0, level_spread_db))) / 20)
        for i, s in enumerate(speakers)
    }
    read = {s: int(rng.integers(0, len(voices[s]))) for s in speakers}
    pieces, turns, at, previous = [], [], 0.0, None
    while at < seconds:
        if overlap_seconds and turns and rng.random() < 0.5:
            at = max(turns[-1][0] + 0.2, at - rng.uniform(*overlap_seconds))
        speaker = rng.choice([s for s in speakers if s != previous] if len(speakers) > 1 else list(speakers))
        voice = voices[speaker]
        length = int(rng.uniform(*turn_seconds) * SAMPLE_RATE)
        start = read[speaker] % len(voice)
        piece = np.concatenate([voice[start:], voice[: max(0, start + length + frame * 25 - len(voice))]])
        piece = piece[: length + frame * 25]
        near = piece[max(0, length - frame * 12) : length + frame * 12]  # +-0.24 s around the cut
        quietest = int(np.argmin(_frame_db(near, frame))) if len(near) >= frame else 0
        cut = max(frame, min(len(piece), max(0, length - frame * 12) + quietest * frame))
        piece = piece[:cut]
        read[speaker] = start + cut
        rms = np.sqrt(np.mean(voice**2))
        pieces.append((int(round(at * SAMPLE_RATE)), piece / max(rms, 1e-9) * gains[speaker]))
        turns.append((at, at + cut / SAMPLE_RATE, str(speaker)))
        at += cut / SAMPLE_RATE
        previous = speaker
    samples = np.zeros(max(first + len(piece) for first, piece in pieces), dtype=np.float32)
    for first, piece in pieces:
        samples[first : first + len(piece)] += piece
    return Mixture(f"{'+'.join(speakers)}#{seed}", samples, tuple(turns))


def two_speaker_mixtures(count: int = 12, seconds: float = 30.0, found: dict | None = None) -> list[Mixture]:
    """`count` two-speaker mixtures of different voices, levels up to 20 dB apart."""
    found = found or voices()
    names = sorted(found)
    rng = np.random.default_rng(2026)
    pairs = [tuple(rng.choice(names, 2, replace=False)) for _ in range(count)]
    return [mixture(found, pair, seconds, seed) for seed, pair in enumerate(pairs)]


def counting_mixtures(found: dict | None = None) -> list[Mixture]:
    """Two mixtures each of 1, 2, 3, 4, 6 and 8 voices, 12 s per voice (plus 12 s)."""
    found = found or voices()
    names = sorted(found)
    rng = np.random.default_rng(7)
    return [
        mixture(found, tuple(rng.choice(names, k, replace=False)), 12.0 * k + 12, 100 + k * 10 + j)
        for k in (1, 2, 3, 4, 6, 8)
        for j in range(2)
    ]


def tuning_mixtures(found: dict | None = None) -> list[Mixture]:
    """Mixtures to tune on, apart from the reported ones (other seeds, so other voice sets,
    orders, turns and levels; the same 8 voices): 12 of two voices, 30 s, and two each of 1 to
    8 voices, 12 s per voice (plus 12 s)."""
    found = found or voices()
    names = sorted(found)
    rng = np.random.default_rng(31)
    pairs = [mixture(found, tuple(rng.choice(names, 2, replace=False)), 30.0, 500 + i) for i in range(12)]
    return pairs + [
        mixture(found, tuple(rng.choice(names, k, replace=False)), 12.0 * k + 12, 700 + k * 10 + j)
        for k in range(1, 9)
        for j in range(2)
    ]


def overlapping_mixtures(found: dict | None = None, *, tuning: bool = False) -> list[Mixture]:
    """Eight mixtures of 2 to 4 voices, 40 s, where every other turn on average cuts in 0.3 to
    1.5 s before the previous one ends. `tuning`: another eight, made with other seeds, to tune
    on."""
    found = found or voices()
    names = sorted(found)
    rng = np.random.default_rng(61 if tuning else 41)
    first_seed = 900 if tuning else 800
    return [
        mixture(
            found, tuple(rng.choice(names, 2 + i % 3, replace=False)), 40.0, first_seed + i, overlap_seconds=(0.3, 1.5)
        )
        for i in range(8)
    ]


def held_out(found: dict[str, np.ndarray], seconds: float = 5.0) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(voices without their first `seconds`, those first seconds): references to enrol that
    the mixtures made from the rest never contain."""
    cut = int(seconds * SAMPLE_RATE)
    return {s: v[cut:] for s, v in found.items()}, {s: v[:cut] for s, v in found.items()}


def named_share(truth: Sequence[tuple[float, float, str]], turns, step: float = 0.01, collar: float = 0.0) -> float:
    """Share of the speech time in `truth` whose hypothesis turn carries the true speaker's
    name; time within `collar` of a true turn's start or end is not scored."""
    edges = np.array([edge for start, end, _ in truth for edge in (start, end)])
    right = total = 0
    for start, end, speaker in truth:
        for t in np.arange(start, end, step):
            if collar and np.min(np.abs(edges - t)) < collar:
                continue
            total += 1
            right += any(turn.start <= t < turn.end and turn.speaker == speaker for turn in turns)
    return right / max(total, 1)


def score(items: dict[str, tuple[tuple[tuple[float, float, str], ...], object]], collar: float = 0.25):
    """pyannote.metrics DiarizationErrorRate over {name: (reference turns, Diarization)}."""
    from pyannote.core import Annotation, Segment
    from pyannote.metrics.diarization import DiarizationErrorRate

    metric = DiarizationErrorRate(collar=collar)
    for name, (truth, result) in items.items():
        reference, hypothesis = Annotation(uri=name), Annotation(uri=name)
        for start, end, speaker in truth:
            reference[Segment(start, end)] = speaker
        for turn in result.turns:
            hypothesis[Segment(turn.start, turn.end)] = turn.speaker
        metric(reference, hypothesis)
    return metric

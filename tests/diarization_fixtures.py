"""Test material for diarization: a pyannote pipeline directory with random weights, and a
two-speaker clip joined from two real voices."""

from __future__ import annotations

import pathlib

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

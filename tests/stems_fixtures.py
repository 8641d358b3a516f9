"""A tiny random HTDemucs saved as a Demucs model repository, and music to separate."""

from __future__ import annotations

import pathlib

TINY_NAME = "tiny_htdemucs"
TINY_SOURCES = ["drums", "bass", "other", "vocals"]
SAMPLE_RATE = 44_100
_SEED = 1234


TINY_KWARGS = dict(
    sources=TINY_SOURCES,
    samplerate=SAMPLE_RATE,
    segment=2,
    channels=4,
    depth=4,
    t_layers=1,
    t_heads=2,
    dconv_depth=1,
    dconv_comp=2,
)


def make_tiny_model(seed: int = _SEED):
    """A random HTDemucs that separates 4 s in well under a second of CPU."""
    import torch
    from demucs.htdemucs import HTDemucs

    torch.manual_seed(seed)
    return HTDemucs(**TINY_KWARGS).eval()


def make_tiny_repo(directory: pathlib.Path, name: str = TINY_NAME) -> pathlib.Path:
    """Writes DIR/NAME.th as Demucs' LocalRepo reads it; returns DIR.

    demucs.states.serialize_model needs omegaconf, so the package dict it would write
    ({"klass", "args", "kwargs", "state"}) is built here; demucs.states.load_model reads it.
    """
    import torch

    model = make_tiny_model()
    directory.mkdir(parents=True, exist_ok=True)
    package = {
        "klass": type(model),
        "args": [],
        "kwargs": TINY_KWARGS,
        "state": {k: v.clone() for k, v in model.state_dict().items()},
    }
    torch.save(package, directory / f"{name}.th")
    return directory


def make_tiny_hub_repo(directory: pathlib.Path, name: str = "htdemucs") -> pathlib.Path:
    """Writes the tiny model as Demucs publishes its models on the Hugging Face hub (demucs.hf):
    NAME.yaml naming a bag of one, and SIGNATURE.safetensors with the model's class and
    arguments in its metadata. Returns DIR, for a loopback hub to serve as adefossez's."""
    import json

    from safetensors.torch import save_file

    model = make_tiny_model()
    directory.mkdir(parents=True, exist_ok=True)
    signature = "0tiny000"
    (directory / f"{name}.yaml").write_text(f"models: ['{signature}']\n")
    metadata = {"klass": "demucs.htdemucs.HTDemucs", "args": "[]", "kwargs": json.dumps(TINY_KWARGS)}
    state = {k: v.contiguous().clone() for k, v in model.state_dict().items()}
    save_file(state, str(directory / f"{signature}.safetensors"), metadata=metadata)
    return directory


MUSIC = pathlib.Path(__file__).parent / "data" / "vibe_ace_12s.ogg"


def music(seconds: float | None = None, sample_rate: int = SAMPLE_RATE):
    """The test music decoded to float32 (channels, frames), its first `seconds` if given."""
    from sidecar.media import audio as media

    samples = media.decode_file(MUSIC, sample_rate=sample_rate).samples
    return samples if seconds is None else samples[:, : int(seconds * sample_rate)]


def direct_stems(model, samples, **kwargs):
    """demucs.apply.apply_model on the whole input, as the reference: name -> (2, frames)."""
    import torch
    from demucs.apply import apply_model

    out = apply_model(model, torch.from_numpy(samples)[None], shifts=0, **kwargs)[0]
    return dict(zip(model.sources, out.numpy()))


def joined_stems(pairs):
    """(stem, AudioChunk) pairs -> name -> float32 (channels, frames); checks they are contiguous."""
    import numpy as np

    from sidecar.media import audio as media
    from sidecar.server import convert

    parts: dict[str, list] = {}
    frames: dict[str, int] = {}
    rates = set()
    for stem, chunk in pairs:
        spec = convert.pcm_spec(chunk.format)
        rates.add(spec.sample_rate)
        start = round(convert.seconds(chunk.start_offset) * spec.sample_rate)
        assert start == frames.get(stem, 0), f"{stem}: a gap or overlap at frame {start}"
        samples = media.decode_pcm(chunk.data, spec).samples
        parts.setdefault(stem, []).append(samples)
        frames[stem] = start + samples.shape[1]
    assert len(rates) == 1
    return {stem: np.concatenate(p, axis=1) for stem, p in parts.items()}


def level_db(signal) -> float:
    import numpy as np

    return float(10 * np.log10(np.mean(np.square(signal, dtype=np.float64)) + 1e-20))

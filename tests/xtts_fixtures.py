"""A tiny random XTTS model saved as a model directory, and a sidecar that serves it.

The model is coqui-tts' own Xtts built from a small config (2 GPT layers of width 64; the
HiFi-GAN decoder and speaker encoder keep their real shapes, which XttsArgs does not size)
with a tokenizer made from the wheel's Tortoise vocabulary plus `[START]` and language
tokens. It is saved as config.json + model.pth + vocab.json, so the engine loads it through
its real loading code. A random model never emits its stop token: requests bound each
sentence with `max_sentence_duration`.
"""

from __future__ import annotations

import json
import pathlib

import pytest

LANGUAGES = ["en", "de"]
SEED = 1234
REFERENCE = "1089-134686-0000.flac"  # 10.4 s of one LibriSpeech speaker
SHORT_REFERENCE = "1089-134691-0000.flac"  # 2.1 s


def build_tiny_xtts(directory: pathlib.Path) -> pathlib.Path:
    """Writes a random tiny XTTS model directory (about 90 MB, a few seconds); returns it."""
    import torch
    import TTS
    from TTS.tts.configs.xtts_config import XttsArgs, XttsConfig
    from TTS.tts.layers.xtts.tokenizer import VoiceBpeTokenizer
    from TTS.tts.models.xtts import Xtts

    directory.mkdir(parents=True, exist_ok=True)
    vocab = json.loads(
        (pathlib.Path(TTS.__file__).parent / "tts" / "utils" / "assets" / "tortoise" / "tokenizer.json").read_text(
            encoding="utf-8"
        )
    )
    next_id = max(max(vocab["model"]["vocab"].values()), *(t["id"] for t in vocab["added_tokens"])) + 1
    for offset, token in enumerate(["[START]", *(f"[{lang}]" for lang in LANGUAGES)]):
        vocab["added_tokens"].append(
            {
                "id": next_id + offset,
                "content": token,
                "special": True,
                "single_word": False,
                "lstrip": False,
                "rstrip": False,
                "normalized": False,
            }
        )
    (directory / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    args = XttsArgs(
        gpt_layers=2,
        gpt_n_model_channels=64,
        gpt_n_heads=4,
        gpt_num_audio_tokens=1026,
        gpt_start_audio_token=1024,
        gpt_stop_audio_token=1025,
        gpt_use_perceiver_resampler=True,
        decoder_input_dim=64,
        d_vector_dim=512,
    )
    config = XttsConfig(model_args=args, languages=LANGUAGES)
    torch.manual_seed(SEED)
    model = Xtts(config)
    model.tokenizer = VoiceBpeTokenizer(vocab_file=str(directory / "vocab.json"))
    model.init_models()  # sizes the text embedding to the vocabulary
    torch.save({"model": model.state_dict()}, directory / "model.pth")
    config.save_json(str(directory / "config.json"))
    return directory


@pytest.fixture(scope="module")
def tiny_xtts_dir(tmp_path_factory) -> pathlib.Path:
    return build_tiny_xtts(tmp_path_factory.mktemp("xtts") / "tiny-xtts")


@pytest.fixture(scope="module")
def xtts_sidecar(tiny_xtts_dir, tmp_path_factory):
    """A sidecar whose user agreed to the CPML, with its own voices directory (both through the
    environment variables, the fallbacks that tests/test_server_settings.py checks beside the
    flags and the TOML keys)."""
    from sidecar import config
    from tests.harness import RunningSidecar

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(config.LICENSE_ENV, "1")
        patch.setenv(config.VOICES_DIR_ENV, str(tmp_path_factory.mktemp("voices")))
        server = RunningSidecar(max_waiting_jobs=4)
        try:
            yield server
        finally:
            server.stop()

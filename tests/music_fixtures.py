"""Tiny random MusicGen, AST and CLAP models saved as model directories, loaded by the engines'
real loading code.

MusicGen: a 2-layer T5 text encoder, an EnCodec at 16 kHz (hop 320: 50 frames per second, as
the real models) and a 2-layer decoder. Two measured pitfalls: EnCodec's codebook count,
1000 * bandwidth // (frame rate * bits per code), must equal the decoder's `num_codebooks`; and a random
EnCodec's codebook embeddings are all zero, so the audio would ignore the codes until they are
re-initialised. The T5 tokenizer is a small unigram model built offline with `tokenizers`
from a word list and saved into the directory like a real one.

AST and CLAP: 2-layer encoders with their feature extractors constructed offline; AST gets
AudioSet-like labels in its config.
"""

from __future__ import annotations

import pathlib

import pytest

SEED = 1234
CODEBOOKS = 4
CODEBOOK_BITS = 6
CODEBOOK_SIZE = 1 << CODEBOOK_BITS
SAMPLE_RATE = 16_000
WORDS = [
    "calm",
    "piano",
    "upbeat",
    "drums",
    "jazz",
    "guitar",
    "ambient",
    "bed",
    "cue",
    "sad",
    "happy",
    "strings",
    "synth",
    "bass",
    "slow",
    "fast",
    "music",
    "for",
    "a",
    "the",
    "with",
]
AST_LABELS = ["Speech", "Music", "Laughter", "Applause", "Silence"]


def build_tokenizer(directory: pathlib.Path) -> None:
    """A T5-style unigram tokenizer over WORDS (plus single letters), saved as tokenizer.json."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    special = ["<pad>", "</s>", "<unk>"]
    pieces = [(t, 0.0) for t in special]
    pieces += [("\u2581" + w, -2.0) for w in WORDS]
    pieces += [(c, -8.0) for c in "abcdefghijklmnopqrstuvwxyz"] + [("\u2581", -5.0)]
    tok = Tokenizer(models.Unigram(pieces, unk_id=2))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    from tokenizers.processors import TemplateProcessing

    tok.post_processor = TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    wrapped = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")
    wrapped.save_pretrained(directory)
    return len(pieces)


def build_tiny_musicgen(directory: pathlib.Path, *, melody: bool = False) -> pathlib.Path:
    """Writes a random tiny MusicGen model directory (about 1 MB, a second or two); returns it.
    melody=True makes a MusicGen Melody, conditioned on a reference's chromagram."""
    import torch
    from transformers import (
        EncodecConfig,
        EncodecFeatureExtractor,
        MusicgenConfig,
        MusicgenDecoderConfig,
        MusicgenForConditionalGeneration,
        MusicgenMelodyConfig,
        MusicgenMelodyDecoderConfig,
        MusicgenMelodyFeatureExtractor,
        MusicgenMelodyForConditionalGeneration,
        T5Config,
    )

    directory.mkdir(parents=True, exist_ok=True)
    vocab_size = build_tokenizer(directory)
    text = T5Config(
        vocab_size=vocab_size,
        d_model=32,
        d_kv=8,
        d_ff=64,
        num_layers=2,
        num_heads=4,
        decoder_start_token_id=0,
        pad_token_id=0,
        eos_token_id=1,
    )
    frame_rate = 50
    codec = EncodecConfig(
        sampling_rate=SAMPLE_RATE,
        upsampling_ratios=[8, 5, 4, 2],
        target_bandwidths=[CODEBOOKS * frame_rate * CODEBOOK_BITS / 1000],
        num_filters=4,
        hidden_size=16,
        codebook_size=CODEBOOK_SIZE,
        num_lstm_layers=1,
        chunk_length_s=None,
        overlap=None,
        use_causal_conv=False,
        normalize=False,
    )
    decoder_config, config_class, model_class = (
        (MusicgenMelodyDecoderConfig, MusicgenMelodyConfig, MusicgenMelodyForConditionalGeneration)
        if melody
        else (MusicgenDecoderConfig, MusicgenConfig, MusicgenForConditionalGeneration)
    )
    decoder = decoder_config(
        vocab_size=CODEBOOK_SIZE,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        ffn_dim=64,
        num_codebooks=CODEBOOKS,
        max_position_embeddings=1024,
        pad_token_id=CODEBOOK_SIZE,
        bos_token_id=CODEBOOK_SIZE,
        decoder_start_token_id=CODEBOOK_SIZE,
    )
    config = config_class(text_encoder=text.to_dict(), audio_encoder=codec.to_dict(), decoder=decoder.to_dict())
    torch.manual_seed(SEED)
    model = model_class(config)
    with torch.no_grad():  # a random EnCodec's codebooks are zeros: the codes would not matter
        for layer in model.audio_encoder.quantizer.layers:
            layer.codebook.embed.normal_()
    gen = model.generation_config
    gen.do_sample, gen.guidance_scale, gen.max_length = True, 3.0, 1500
    gen.decoder_start_token_id = gen.pad_token_id = gen.bos_token_id = CODEBOOK_SIZE
    model.save_pretrained(directory)
    if melody:  # chromagrams of 12 pitch classes, 1024-point FFTs every 512 samples
        MusicgenMelodyFeatureExtractor(
            feature_size=12, sampling_rate=SAMPLE_RATE, hop_length=512, chunk_length=30, n_fft=1024, num_chroma=12
        ).save_pretrained(directory)
    else:
        EncodecFeatureExtractor(
            feature_size=1, sampling_rate=SAMPLE_RATE, padding_value=0.0, chunk_length_s=None, overlap=None
        ).save_pretrained(directory)
    return directory


def build_tiny_ast(directory: pathlib.Path) -> pathlib.Path:
    """A random 2-layer AST classifier over AST_LABELS with 1 s inputs (100 frames of 64 mels)."""
    import torch
    from transformers import ASTConfig, ASTFeatureExtractor, ASTForAudioClassification

    config = ASTConfig(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        num_mel_bins=64,
        max_length=100,
        id2label=dict(enumerate(AST_LABELS)),
        label2id={label: i for i, label in enumerate(AST_LABELS)},
    )
    torch.manual_seed(SEED)
    ASTForAudioClassification(config).save_pretrained(directory)
    ASTFeatureExtractor(num_mel_bins=64, max_length=100, sampling_rate=SAMPLE_RATE).save_pretrained(directory)
    return directory


def build_tiny_clap(directory: pathlib.Path) -> pathlib.Path:
    """A random tiny CLAP (HTSAT audio encoder on 16 mels, 2-layer text encoder) with a
    word-level tokenizer, saved like laion/clap-htsat-unfused."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from tokenizers.processors import TemplateProcessing
    from transformers import (
        ClapAudioConfig,
        ClapConfig,
        ClapFeatureExtractor,
        ClapModel,
        ClapTextConfig,
        PreTrainedTokenizerFast,
    )

    special = ["<s>", "<pad>", "</s>", "<unk>"]
    vocab = {
        t: i for i, t in enumerate(special + sorted(set(WORDS) | {"laughter", "applause", "speech", "silence", "dog"}))
    }
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = TemplateProcessing(single="<s> $A </s>", special_tokens=[("<s>", 0), ("</s>", 2)])
    PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>"
    ).save_pretrained(directory)
    text = ClapTextConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=40,
        pad_token_id=1,
        projection_dim=16,
    )
    audio = ClapAudioConfig(
        spec_size=64,
        num_mel_bins=16,
        window_size=4,
        patch_size=4,
        patch_embeds_hidden_size=16,
        hidden_size=32,
        depths=[1, 1],
        num_attention_heads=[2, 2],
        projection_dim=16,
        projection_hidden_size=32,
    )
    config = ClapConfig(text_config=text.to_dict(), audio_config=audio.to_dict(), projection_dim=16)
    torch.manual_seed(SEED)
    ClapModel(config).save_pretrained(directory)
    ClapFeatureExtractor(
        feature_size=16,
        sampling_rate=SAMPLE_RATE,
        hop_length=160,
        max_length_s=2,
        frequency_min=50,
        frequency_max=SAMPLE_RATE // 2,
        fft_window_size=400,
        truncation="rand_trunc",
        padding="repeatpad",
    ).save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def tiny_musicgen_dir(tmp_path_factory) -> pathlib.Path:
    return build_tiny_musicgen(tmp_path_factory.mktemp("musicgen") / "tiny-musicgen")


@pytest.fixture(scope="module")
def tiny_melody_dir(tmp_path_factory) -> pathlib.Path:
    return build_tiny_musicgen(tmp_path_factory.mktemp("musicgen") / "tiny-melody", melody=True)


@pytest.fixture(scope="module")
def tiny_ast_dir(tmp_path_factory) -> pathlib.Path:
    return build_tiny_ast(tmp_path_factory.mktemp("ast") / "tiny-ast")


@pytest.fixture(scope="module")
def tiny_clap_dir(tmp_path_factory) -> pathlib.Path:
    return build_tiny_clap(tmp_path_factory.mktemp("clap") / "tiny-clap")


@pytest.fixture(scope="module")
def music_sidecar():
    """A sidecar with one torch thread: on a shared 2-core machine that is the fastest."""
    from tests.harness import RunningSidecar

    server = RunningSidecar(max_waiting_jobs=4, cpu_threads=1)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture()
def music_client(music_sidecar):
    from sidecar_client import SidecarClient

    with SidecarClient(music_sidecar.address) as c:
        yield c

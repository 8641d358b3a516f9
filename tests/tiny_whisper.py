"""Build a tiny CTranslate2 Whisper model for tests, with no download and no torch.

``build_tiny_whisper(directory)`` writes a complete model directory
(``model.bin``, ``config.json``, ``vocabulary.json``, ``tokenizer.json``,
``preprocessor_config.json``) in about 0.3 s. ``faster_whisper.WhisperModel``
loads it like any converted checkpoint, so tests run faster-whisper's real path
end to end: CTranslate2's encoder and decoder, language detection, beam search
with the timestamp rules, the temperature-fallback checks, word alignment, VAD.

Vocabulary: synthetic, but laid out exactly like OpenAI Whisper's, so every
special token sits at its real id:

* ids 0-255: the 256 GPT-2 byte tokens in GPT-2 order (the space "Ġ" is 220);
* then one merged token per "space + printable ASCII" pair (" -", " (" ...);
* then filler words ``Ġw<i>`` (decoding to " w<i>") up to id 50255, four of
  them renamed to the words of ``TEXT``;
* multilingual only: the empty token "" at id 50256, as in the real
  vocabulary. CTranslate2 4.8 decides ``is_multilingual`` by whether the
  vocabulary holds an empty token (not by its size);
* ``<|endoftext|>`` (50256 English-only, 50257 multilingual),
  ``<|startoftranscript|>``, the 99 language tokens ``<|en|>`` .. ``<|su|>``,
  ``<|translate|>``, ``<|transcribe|>``, ``<|startoflm|>``, ``<|startofprev|>``,
  ``<|nocaptions|>``, ``<|notimestamps|>`` and the 1501 timestamp tokens
  ``<|0.00|>`` .. ``<|30.00|>``: 51865 tokens (multilingual) or 51864
  (English-only), like tiny / tiny.en.

Weights: small random arrays (d_model 64, 2 heads, 1 encoder and 1 decoder
layer, 80 mel bins), except that the decoder's output projection is wired so
that decoding follows a fixed short path (see ``_weights``):

* language detection finds ``language`` with probability ~1;
* every decoding window yields ``<|0.00|> hello from tiny whisper
  <|endoftext|>`` with log-probability ~0, so no temperature fallback
  triggers and beam search ends after about ten steps.

So each window gives one segment whose text is ``TEXT`` and, with
``word_timestamps=True``, four words timed by CTranslate2's alignment of the
random cross-attention (the timings depend on the audio, the text does not).
With word timestamps faster-whisper moves the next window to the last word's
end, so a 30 s clip gives several segments; without them, one per 30 s.

``model.bin`` is written directly in CTranslate2's binary format (version 6,
byte for byte what ``ctranslate2.specs.WhisperSpec.save`` writes for these
variables): importing ``ctranslate2.specs`` imports torch, which costs seconds.
"""

from __future__ import annotations

import functools
import json
import pathlib
import struct

import numpy as np

__all__ = ["build_tiny_whisper", "speech_like_audio", "WHISPER_LANGUAGES", "TEXT"]

# Whisper's language tokens in token-id order (the 99 of the v1/v2 models).
WHISPER_LANGUAGES: tuple[str, ...] = (
    "en",
    "zh",
    "de",
    "es",
    "ru",
    "ko",
    "fr",
    "ja",
    "pt",
    "tr",
    "pl",
    "ca",
    "nl",
    "ar",
    "sv",
    "it",
    "id",
    "hi",
    "fi",
    "vi",
    "he",
    "uk",
    "el",
    "ms",
    "cs",
    "ro",
    "da",
    "hu",
    "ta",
    "no",
    "th",
    "ur",
    "hr",
    "bg",
    "lt",
    "la",
    "mi",
    "ml",
    "cy",
    "sk",
    "te",
    "fa",
    "lv",
    "bn",
    "sr",
    "az",
    "sl",
    "kn",
    "et",
    "mk",
    "br",
    "eu",
    "is",
    "hy",
    "ne",
    "mn",
    "bs",
    "kk",
    "sq",
    "sw",
    "gl",
    "mr",
    "pa",
    "si",
    "km",
    "sn",
    "yo",
    "so",
    "af",
    "oc",
    "ka",
    "be",
    "tg",
    "sd",
    "gu",
    "am",
    "yi",
    "lo",
    "uz",
    "fo",
    "ht",
    "ps",
    "tk",
    "nn",
    "mt",
    "sa",
    "lb",
    "my",
    "bo",
    "tl",
    "mg",
    "as",
    "tt",
    "haw",
    "ln",
    "ha",
    "ba",
    "jw",
    "su",
)
assert len(WHISPER_LANGUAGES) == 99

# What every window decodes to.
TEXT = " hello from tiny whisper"
_WORD_IDS = (1000, 1001, 1002, 1003)  # filler ids renamed to the words of TEXT
_DETOUR_IDS = tuple(range(2000, 2006))  # see _weights: where beam alternatives go

N_MELS = 80
D_MODEL = 64
N_HEADS = 2
FFN_DIM = 128
N_ENCODER_LAYERS = 1
N_DECODER_LAYERS = 1
MAX_SOURCE_POSITIONS = 1500
MAX_TARGET_POSITIONS = 448
N_TIMESTAMPS = 1501  # <|0.00|> .. <|30.00|>
N_TEXT_TOKENS = 50256  # ids 0..50255 are text tokens in GPT-2 and Whisper

_BINARY_VERSION = 6
_SPEC_NAME = "WhisperSpec"
_SPEC_REVISION = 3
_DTYPE_IDS = {"float32": 0, "int8": 1, "int16": 2, "int32": 3, "float16": 4}


# --------------------------------------------------------------------------
# Vocabulary and tokenizer.json


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte -> printable character table (insertion order = GPT-2 ids)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


@functools.cache
def _vocabulary(multilingual: bool):
    """Returns (tokens by id, BPE merges, special tokens); treat as read-only."""
    byte_chars = _bytes_to_unicode()
    tokens: list[str] = list(byte_chars.values())
    space = byte_chars[ord(" ")]  # "Ġ", id 220 as in GPT-2
    merges: list[tuple[str, str]] = []
    for b in range(ord("!"), ord("~") + 1):  # " -", " '", " (" ... as single tokens
        merges.append((space, byte_chars[b]))
        tokens.append(space + byte_chars[b])
    i = 0
    while len(tokens) < N_TEXT_TOKENS:
        tokens.append(f"{space}w{i}")  # unreachable by encode, decodes to " w<i>"
        i += 1
    for token_id, word in zip(_WORD_IDS, TEXT.split()):
        tokens[token_id] = space + word
    if multilingual:
        tokens.append("")  # the real multilingual vocabulary has "" at id 50256

    specials = ["<|endoftext|>", "<|startoftranscript|>"]
    specials += [f"<|{code}|>" for code in WHISPER_LANGUAGES]
    specials += [
        "<|translate|>",
        "<|transcribe|>",
        "<|startoflm|>",
        "<|startofprev|>",
        "<|nocaptions|>",
        "<|notimestamps|>",
    ]
    specials += ["<|%.2f|>" % (k * 0.02) for k in range(N_TIMESTAMPS)]
    tokens += specials
    assert len(tokens) == (51865 if multilingual else 51864), len(tokens)
    assert len(set(tokens)) == len(tokens)
    return tokens, merges, specials


def _tokenizer_json(tokens: list[str], merges, specials: list[str]) -> dict:
    """A Hugging Face ``tokenizers`` byte-level BPE tokenizer (tokenizer.json)."""
    first_special = len(tokens) - len(specials)
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [
            {
                "id": first_special + k,
                "content": token,
                "single_word": False,
                "lstrip": False,
                "rstrip": False,
                "normalized": False,
                "special": True,
            }
            for k, token in enumerate(specials)
        ],
        "normalizer": None,
        "pre_tokenizer": {
            "type": "ByteLevel",
            "add_prefix_space": False,
            "trim_offsets": True,
            "use_regex": True,
        },
        "post_processor": None,
        "decoder": {
            "type": "ByteLevel",
            "add_prefix_space": True,
            "trim_offsets": True,
            "use_regex": True,
        },
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": None,
            "continuing_subword_prefix": None,
            "end_of_word_suffix": None,
            "fuse_unk": False,
            "byte_fallback": False,
            "ignore_merges": False,
            "vocab": {token: idx for idx, token in enumerate(tokens) if token},
            "merges": [[a, b] for a, b in merges],
        },
    }


@functools.cache
def _vocabulary_files(multilingual: bool) -> tuple[str, str]:
    """The text of vocabulary.json (CTranslate2) and tokenizer.json (faster-whisper)."""
    tokens, merges, specials = _vocabulary(multilingual)
    return (
        json.dumps(tokens, ensure_ascii=False),
        json.dumps(_tokenizer_json(tokens, merges, specials), ensure_ascii=False),
    )


# --------------------------------------------------------------------------
# Weights


def _sinusoids(length: int, channels: int) -> np.ndarray:
    half = channels // 2
    inv = np.exp(-np.log(10000.0) / (half - 1) * np.arange(half))
    t = np.arange(length)[:, None] * inv[None, :]
    return np.concatenate([np.sin(t), np.cos(t)], axis=1).astype(np.float32)


def _weights(ids: dict[str, int], vocab_size: int, language: str, rng) -> dict:
    """Variables of a 1+1 layer Whisper, named as WhisperSpec names them."""
    d, f = D_MODEL, FFN_DIM
    v: dict[str, np.ndarray] = {}

    def normal(*shape, scale):
        return (rng.standard_normal(shape, dtype=np.float32) * scale).astype(np.float32)

    def layer_norm(prefix):
        v[f"{prefix}/gamma"] = np.ones(d, np.float32)
        v[f"{prefix}/beta"] = np.zeros(d, np.float32)

    def linear(prefix, out_dim, in_dim, scale=1.0):
        v[f"{prefix}/weight"] = normal(out_dim, in_dim, scale=scale / np.sqrt(in_dim))
        v[f"{prefix}/bias"] = np.zeros(out_dim, np.float32)

    def attention(prefix, cross, out_scale):
        layer_norm(f"{prefix}/layer_norm")
        if cross:
            linear(f"{prefix}/linear_0", d, d)  # queries
            linear(f"{prefix}/linear_1", 2 * d, d)  # fused keys, values (encoder)
            linear(f"{prefix}/linear_2", d, d, out_scale)
        else:
            linear(f"{prefix}/linear_0", 3 * d, d)  # fused queries, keys, values
            linear(f"{prefix}/linear_1", d, d, out_scale)

    def ffn(prefix, out_scale):
        layer_norm(f"{prefix}/layer_norm")
        linear(f"{prefix}/linear_0", f, d)
        linear(f"{prefix}/linear_1", d, f, out_scale)

    # Encoder: random, as read by CTranslate2's WhisperEncoder.
    v["encoder/num_heads"] = np.int16(N_HEADS)
    v["encoder/conv1/weight"] = normal(d, N_MELS, 3, scale=1 / np.sqrt(N_MELS * 3))
    v["encoder/conv1/bias"] = np.zeros(d, np.float32)
    v["encoder/conv2/weight"] = normal(d, d, 3, scale=1 / np.sqrt(d * 3))
    v["encoder/conv2/bias"] = np.zeros(d, np.float32)
    v["encoder/position_encodings/encodings"] = _sinusoids(MAX_SOURCE_POSITIONS, d)
    layer_norm("encoder/layer_norm")
    for i in range(N_ENCODER_LAYERS):
        attention(f"encoder/layer_{i}/self_attention", cross=False, out_scale=1.0)
        ffn(f"encoder/layer_{i}/ffn", out_scale=1.0)

    # Decoder. Token embeddings have zero mean and unit variance per row, and the
    # sublayers only add small outputs to the residual stream, so the final
    # layer norm returns roughly the embedding of the current token, and the
    # next token is decided by the output projection row that best matches it.
    # Rows are random (logits ~ N(0, 4^2)) except:
    # * each designed successor's row points along its predecessor's embedding
    #   (logit ~64): after a designed predecessor the successor has probability
    #   ~1, and from any other context the designed tokens are no likelier than
    #   the rest;
    # * a "detour" token gets a bias of 30: from any undesigned context it is
    #   the likeliest next token, and it starts a chain of len(_DETOUR_IDS)
    #   tokens ending in <|endoftext|>. Beam-search alternatives thus finish a
    #   few steps after the main path instead of running to max_length (448
    #   steps). They must not finish before it: a beam search stops once
    #   beam_size * patience hypotheses are finished, and the main path would
    #   then be lost. The detour (6 tokens) is longer than the text (4 words)
    #   and alternatives branch off at the earliest at the first timestamp.
    emb = rng.standard_normal((vocab_size, d), dtype=np.float32)
    emb -= emb.mean(axis=1, keepdims=True)
    emb /= emb.std(axis=1, keepdims=True)
    proj = normal(vocab_size, d, scale=0.5)
    bias = np.zeros(vocab_size, np.float32)

    def follows(successor: int, *predecessors: int, strength: float = 8.0):
        proj[successor] = sum(emb[p] for p in predecessors) * (strength / np.sqrt(d))

    sot, eot, ts0 = ids["<|startoftranscript|>"], ids["<|endoftext|>"], ids["<|0.00|>"]
    words = list(_WORD_IDS)
    detour = list(_DETOUR_IDS)
    follows(ids[f"<|{language}|>"], sot)  # language detection
    # The first sampled token comes after the task (multilingual), after sot
    # (English-only) or after <|notimestamps|>.
    follows(ts0, ids["<|transcribe|>"], ids["<|translate|>"], sot)
    follows(words[0], ts0, ids["<|notimestamps|>"])
    for previous, word in zip(words, words[1:]):
        follows(word, previous)
    proj[detour[0]] = 0.0
    bias[detour[0]] = 30.0
    for previous, token in zip(detour, detour[1:]):
        follows(token, previous)
    follows(eot, words[-1], detour[-1])

    v["decoder/num_heads"] = np.int16(N_HEADS)
    v["decoder/pre_norm"] = np.int8(1)
    v["decoder/activation"] = np.int8(3)  # GELU
    v["decoder/alignment_layer"] = np.int16(-1)
    v["decoder/alignment_heads"] = np.int16(1)
    v["decoder/scale_embeddings"] = np.int8(0)
    v["decoder/alibi"] = np.int8(0)
    v["decoder/alibi_use_positive_positions"] = np.int8(0)
    v["decoder/scale_alibi"] = np.int8(0)
    v["decoder/start_from_zero_embedding"] = np.int8(0)
    v["decoder/embeddings/weight"] = emb
    v["decoder/position_encodings/encodings"] = normal(MAX_TARGET_POSITIONS, d, scale=0.1)
    layer_norm("decoder/layer_norm")
    v["decoder/projection/weight"] = proj
    v["decoder/projection/bias"] = bias
    for i in range(N_DECODER_LAYERS):
        attention(f"decoder/layer_{i}/self_attention", cross=False, out_scale=0.05)
        attention(f"decoder/layer_{i}/attention", cross=True, out_scale=0.05)
        ffn(f"decoder/layer_{i}/ffn", out_scale=0.05)
    return v


def _write_model_bin(path: pathlib.Path, variables: dict[str, np.ndarray]) -> None:
    """Serializes variables like ctranslate2.specs.ModelSpec._serialize."""

    def string(s: str) -> bytes:
        raw = s.encode("utf-8")
        return struct.pack("<H", len(raw) + 1) + raw + b"\0"

    with open(path, "wb") as out:
        out.write(struct.pack("<I", _BINARY_VERSION))
        out.write(string(_SPEC_NAME))
        out.write(struct.pack("<I", _SPEC_REVISION))
        out.write(struct.pack("<I", len(variables)))
        for name in sorted(variables):
            value = np.asarray(variables[name])
            out.write(string(name))
            out.write(struct.pack("<B", value.ndim))
            for dim in value.shape:
                out.write(struct.pack("<I", dim))
            out.write(struct.pack("<B", _DTYPE_IDS[value.dtype.name]))
            out.write(struct.pack("<I", value.nbytes))
            out.write(value.tobytes())
        out.write(struct.pack("<I", 0))  # no aliases


# --------------------------------------------------------------------------


def build_tiny_whisper(
    directory: pathlib.Path,
    *,
    multilingual: bool = True,
    seed: int = 0,
    language: str = "en",
) -> pathlib.Path:
    """Writes a tiny CTranslate2 Whisper model into ``directory`` and returns it.

    Load it with ``faster_whisper.WhisperModel(str(path), device="cpu",
    compute_type="int8")`` (or "float32"). ``multilingual=False`` builds the
    English-only layout (like ``tiny.en``: ``is_multilingual`` is False).
    ``language`` is what language detection finds on any audio (multilingual
    only); ``seed`` changes the random weights, not the decoded text.
    """
    if language not in WHISPER_LANGUAGES:
        raise ValueError(f"unknown Whisper language {language!r}")
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)

    tokens = _vocabulary(multilingual)[0]
    ids = {token: idx for idx, token in enumerate(tokens) if token}
    rng = np.random.default_rng(seed)
    _write_model_bin(directory / "model.bin", _weights(ids, len(tokens), language, rng))

    symbols = '"#()*+/:;<=>@[\\]^_`{|}~'
    config = {
        "alignment_heads": [
            [layer, head] for layer in range(N_DECODER_LAYERS // 2, N_DECODER_LAYERS) for head in range(N_HEADS)
        ],
        "lang_ids": [ids[f"<|{code}|>"] for code in WHISPER_LANGUAGES],
        "suppress_ids": sorted({ids[c] for c in symbols} | {ids["Ġ" + c] for c in symbols}),
        "suppress_ids_begin": [ids["Ġ"], ids["<|endoftext|>"]],
    }
    vocabulary_json, tokenizer_json = _vocabulary_files(multilingual)
    files = {
        "config.json": json.dumps(config, indent=2, sort_keys=True),
        "vocabulary.json": vocabulary_json,
        "tokenizer.json": tokenizer_json,
        "preprocessor_config.json": json.dumps(
            {
                "chunk_length": 30,
                "feature_extractor_type": "WhisperFeatureExtractor",
                "feature_size": N_MELS,
                "hop_length": 160,
                "n_fft": 400,
                "n_samples": 480000,
                "nb_max_frames": 3000,
                "padding_side": "right",
                "padding_value": 0.0,
                "processor_class": "WhisperProcessor",
                "return_attention_mask": False,
                "sampling_rate": 16000,
            },
            indent=2,
        ),
    }
    for name, text in files.items():
        (directory / name).write_text(text + "\n", encoding="utf-8")
    return directory


def speech_like_audio(seconds: float, *, seed: int = 0, sample_rate: int = 16000) -> np.ndarray:
    """Synthetic voiced audio (float32 mono) that Silero VAD takes for speech.

    A 120 Hz harmonic source through vowel-like formants that change every
    0.25 s, in 2 Hz syllables, peaking at about -10 dBFS. Zeros or noise give no VAD
    speech at all, so tests of ``vad_filter=True`` need something like this.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    f0 = 120 * (1 + 0.08 * np.sin(2 * np.pi * 0.7 * t) + 0.03 * np.sin(2 * np.pi * 5.3 * t))
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate
    source = sum(np.sin(h * phase) / h for h in range(1, 20))
    vowels = ((700, 1200, 2600), (300, 2300, 3000), (500, 900, 2400), (400, 1900, 2600))
    voiced = np.zeros_like(t)
    step = int(0.25 * sample_rate)
    for start in range(0, len(t), step):
        chunk = source[start : start + step]
        formants = vowels[(start // step + int(rng.integers(4))) % 4]
        freqs = np.fft.rfftfreq(len(chunk), 1 / sample_rate)
        gain = sum(1 / (1 + ((freqs - f) / 100) ** 2) for f in formants)
        voiced[start : start + step] = np.fft.irfft(np.fft.rfft(chunk) * gain, n=len(chunk)) * np.hanning(len(chunk))
    envelope = np.clip(np.sin(2 * np.pi * 2 * t), 0, None) ** 0.5
    audio = voiced * envelope + 0.003 * rng.standard_normal(len(t))
    peak = np.abs(audio).max()
    return (0.3 * audio / (peak if peak > 0 else 1.0)).astype(np.float32)

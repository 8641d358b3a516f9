"""The tiny generated Whisper model runs faster-whisper's real decoding path.

No weights are downloaded: tests/tiny_whisper.py writes a random CTranslate2 model.
"""

from __future__ import annotations

import inspect
import json
import time

import numpy as np
import pytest

faster_whisper = pytest.importorskip("faster_whisper")

from tests.tiny_whisper import TEXT, build_tiny_whisper, speech_like_audio  # noqa: E402

SR = 16_000


@pytest.fixture(scope="module")
def multilingual_dir(tmp_path_factory):
    return build_tiny_whisper(tmp_path_factory.mktemp("tiny-whisper"))


@pytest.fixture(scope="module")
def english_dir(tmp_path_factory):
    return build_tiny_whisper(tmp_path_factory.mktemp("tiny-whisper-en"), multilingual=False)


@pytest.fixture(scope="module")
def multilingual(multilingual_dir):
    return faster_whisper.WhisperModel(str(multilingual_dir), device="cpu", compute_type="int8")


@pytest.fixture(scope="module")
def english(english_dir):
    return faster_whisper.WhisperModel(str(english_dir), device="cpu", compute_type="int8")


def test_build_writes_a_complete_model_directory_quickly(tmp_path):
    start = time.perf_counter()
    path = build_tiny_whisper(tmp_path / "m", seed=3)
    elapsed = time.perf_counter() - start
    assert path == tmp_path / "m"
    for name in ("model.bin", "config.json", "vocabulary.json", "tokenizer.json", "preprocessor_config.json"):
        assert (path / name).is_file(), name
    assert elapsed < 10, elapsed  # ~0.3 s on an idle machine
    vocabulary = json.loads((path / "vocabulary.json").read_text(encoding="utf-8"))
    assert len(vocabulary) == 51865 and vocabulary[50256] == ""
    assert vocabulary[50257] == "<|endoftext|>" and vocabulary[-1] == "<|30.00|>"


def test_special_tokens_sit_at_whisper_ids(multilingual, english):
    from faster_whisper.tokenizer import Tokenizer

    tok = Tokenizer(multilingual.hf_tokenizer, True, task="transcribe", language="en")
    assert (tok.eot, tok.sot, tok.language, tok.translate, tok.transcribe) == (50257, 50258, 50259, 50358, 50359)
    assert (tok.sot_lm, tok.sot_prev, tok.no_speech, tok.no_timestamps, tok.timestamp_begin) == (
        50360,
        50361,
        50362,
        50363,
        50364,
    )
    assert tok.decode(tok.encode("Hello, world! -(x)")) == "Hello, world! -(x)"
    assert tok.non_speech_tokens  # the symbol lookups faster-whisper does at start-up

    en = Tokenizer(english.hf_tokenizer, False)
    assert (en.eot, en.sot, en.transcribe, en.no_timestamps, en.timestamp_begin) == (50256, 50257, 50358, 50362, 50363)
    assert en.sot_sequence == [50257]


def test_multilingual_transcription_is_lazy_and_detects_the_language(multilingual):
    assert multilingual.model.is_multilingual
    segments, info = multilingual.transcribe(np.zeros(5 * SR, np.float32), vad_filter=False, word_timestamps=False)
    assert inspect.isgenerator(segments)  # nothing decoded yet
    assert info.language == "en" and info.language_probability > 0.99
    assert info.duration == pytest.approx(5.0)
    assert len(info.all_language_probs) == 99
    segments = list(segments)
    assert [s.text for s in segments] == [TEXT]
    seg = segments[0]
    assert seg.start == 0.0 and seg.end == pytest.approx(5.0, abs=0.05)
    assert seg.words is None
    assert seg.avg_logprob > -0.01 and seg.temperature == 0.0  # no fallback
    assert seg.no_speech_prob < 0.01


def test_detected_language_comes_from_the_model(tmp_path):
    model = faster_whisper.WhisperModel(
        str(build_tiny_whisper(tmp_path, language="de")), device="cpu", compute_type="int8"
    )
    segments, info = model.transcribe(np.zeros(2 * SR, np.float32), vad_filter=False)
    assert info.language == "de" and info.language_probability > 0.99
    assert [s.text for s in segments] == [TEXT]


def test_word_timestamps(multilingual):
    segments, info = multilingual.transcribe(speech_like_audio(8), vad_filter=False, word_timestamps=True)
    segments = list(segments)
    assert segments
    for seg in segments:
        assert seg.text == TEXT
        assert "".join(w.word for w in seg.words) == TEXT
        assert all(0 <= w.start <= w.end for w in seg.words)
        assert all(w.probability > 0.99 for w in seg.words)
        assert seg.start <= seg.words[0].start and seg.words[-1].end <= seg.end + 1e-6


def test_forced_language_translate_and_options(multilingual):
    segments, info = multilingual.transcribe(
        np.zeros(3 * SR, np.float32),
        language="fr",
        task="translate",
        vad_filter=False,
        beam_size=1,
        without_timestamps=True,
        initial_prompt="Bonjour, tout le monde.",
    )
    assert info.language == "fr" and info.language_probability == 1
    assert [s.text for s in segments] == [TEXT]


def test_vad_filter(multilingual):
    segments, info = multilingual.transcribe(np.zeros(5 * SR, np.float32), vad_filter=True)
    assert inspect.isgenerator(segments)
    assert list(segments) == [] and info.duration_after_vad == 0

    audio = np.concatenate([np.zeros(3 * SR, np.float32), speech_like_audio(4)])
    segments, info = multilingual.transcribe(audio, vad_filter=True, word_timestamps=True)
    segments = list(segments)
    assert 3.0 < info.duration_after_vad <= 4.5
    assert segments and all(s.text == TEXT for s in segments)
    assert segments[0].start >= 2.5  # timestamps mapped back past the leading silence


def test_batched_pipeline(multilingual):
    pipeline = faster_whisper.BatchedInferencePipeline(model=multilingual)
    segments, info = pipeline.transcribe(speech_like_audio(6), batch_size=4, vad_filter=True, word_timestamps=True)
    assert inspect.isgenerator(segments)
    segments = list(segments)
    assert info.language == "en"
    assert segments and all(s.text == TEXT and s.words for s in segments)


def test_english_only_model(english):
    assert not english.model.is_multilingual
    segments, info = english.transcribe(np.zeros(5 * SR, np.float32), vad_filter=False, word_timestamps=True)
    assert inspect.isgenerator(segments)
    assert info.language == "en" and info.language_probability == 1
    segments = list(segments)
    assert segments and all(s.text == TEXT for s in segments)
    assert all(s.words for s in segments)
    with pytest.raises(RuntimeError):
        english.detect_language(np.zeros(SR, np.float32))


def test_long_audio_and_float32_terminate_quickly(multilingual_dir):
    model = faster_whisper.WhisperModel(str(multilingual_dir), device="cpu", compute_type="float32")
    start = time.perf_counter()
    segments, info = model.transcribe(np.zeros(65 * SR, np.float32), vad_filter=False)
    segments = list(segments)
    elapsed = time.perf_counter() - start
    assert [s.text for s in segments] == [TEXT] * 3  # one per 30 s window
    assert segments[-1].end == pytest.approx(65.0, abs=0.05)
    assert elapsed < 15, elapsed  # ~0.5 s on an idle machine


def test_model_bin_matches_ctranslate2_spec_serialization(tmp_path):
    """model.bin is byte-identical to what ctranslate2.specs.WhisperSpec writes."""
    from tests import tiny_whisper

    model_spec = pytest.importorskip("ctranslate2.specs.model_spec")  # imports torch if present
    from ctranslate2.specs import whisper_spec

    tokens = tiny_whisper._vocabulary(True)[0]
    ids = {t: i for i, t in enumerate(tokens) if t}
    variables = tiny_whisper._weights(ids, len(tokens), "en", np.random.default_rng(0))

    spec = whisper_spec.WhisperSpec(
        tiny_whisper.N_ENCODER_LAYERS, tiny_whisper.N_HEADS, tiny_whisper.N_DECODER_LAYERS, tiny_whisper.N_HEADS
    )
    for name, value in variables.items():
        scope, attr = model_spec._parent_scope(name)
        setattr(model_spec.index_spec(spec, scope), attr, value)
    spec.register_vocabulary(tokens)
    spec.validate()  # every required variable is set, and the vocabulary size matches
    spec._serialize(str(tmp_path / "reference.bin"))

    tiny_whisper._write_model_bin(tmp_path / "model.bin", variables)
    assert (tmp_path / "model.bin").read_bytes() == (tmp_path / "reference.bin").read_bytes()

"""Zero-shot voice cloning with XTTS v2 (coqui-tts): reference checks, conditioning, and speech
generated sentence by sentence as typed chunks.

The engine takes mono float32 reference audio at 22050 Hz (the rate XTTS conditions at) and
yields 24 kHz mono speech. Long text is split into sentences (and sentences longer than the
model's per-language limit at word boundaries); each sentence streams through coqui-tts'
`inference_stream`, so the first audio comes after a few dozen audio tokens rather than after
the whole text. Every sentence's generation is bounded: a random or confused model otherwise
never emits its stop token.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
import os
import re
import textwrap
import threading
from collections.abc import Iterator
from typing import ClassVar

import numpy as np

from sidecar.engines import xtts_models
from sidecar.engines.bounds import Bounded, Length, Range
from sidecar.engines.catalogue import ModelFamily, ModelSettings, ResolvedModel
from sidecar.errors import InvalidAudioError, InvalidOptionsError, LimitExceededError, ModelUnavailableError
from sidecar.runtime import devices
from sidecar_common.limits import MAX_TEXT_CHARS, MIN_REFERENCE_SECONDS

log = logging.getLogger(__name__)

REFERENCE_SAMPLE_RATE = 22_050  # XTTS computes its conditioning at this rate
MIN_REFERENCE_SPEECH_SECONDS = 3.0  # of 20 ms frames louder than SILENCE_DBFS
SILENCE_DBFS = -50.0
_LEVEL_FRAME_SECONDS = 0.02
DEFAULT_CHAR_LIMIT = 250  # per sentence, for languages coqui-tts lists no limit for
AUDIO_TOKENS_PER_SECOND = 22_050 / 1024  # one GPT audio token per 1024 samples at 22050 Hz
# Bound on one sentence's speech when the request gives none: generous (5 characters per
# second, a third of normal speech) yet far below what a babbling model would produce.
SENTENCE_BASE_SECONDS = 2.0
SENTENCE_SECONDS_PER_CHAR = 0.2
DEFAULT_CHUNK_TOKENS = 20  # audio tokens per streamed chunk: about 0.9 s of speech
MAX_CHUNK_TOKENS = 200
MIN_SPEED, MAX_SPEED = 0.5, 2.0
MIN_SENTENCE_SECONDS = 0.1
MAX_SENTENCE_SECONDS = 600.0
MAX_LANGUAGE_CHARS = 35  # the longest BCP-47 tag in practice
MAX_SEED = 2**62 - 1  # sentence indexes are added to it; torch takes 64-bit seeds
_ABBREVIATIONS = {"mr", "mrs", "ms", "dr", "prof", "st", "jr", "sr", "vs", "etc", "e.g", "i.e", "no", "fig", "mt"}
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|(?<=[。！？])|\n\s*\n")


@dataclasses.dataclass(frozen=True)
class SynthesisOptions(Bounded):
    # BCP-47 language of the text; only the primary subtag is used ("pt-BR" -> "pt").
    language: str
    # Speaking rate, MIN_SPEED to MAX_SPEED.
    speed: float = 1.0
    # Sampling settings; None takes the model's own default from its config.json.
    temperature: float | None = None
    top_k: int | None = None
    top_p: float | None = None
    repetition_penalty: float | None = None
    # Seed for torch's sampler (plus the sentence index); None leaves it random.
    seed: int | None = None
    # Longest speech one sentence may produce, in seconds; None: a bound from its length.
    max_sentence_seconds: float | None = None
    # Audio tokens per streamed chunk: fewer gives earlier first audio and more decoding.
    chunk_tokens: int = DEFAULT_CHUNK_TOKENS

    BOUNDS: ClassVar[dict] = {
        "language": Length(MAX_LANGUAGE_CHARS, "language code"),
        "speed": Range(MIN_SPEED, MAX_SPEED, "speed"),
        "temperature": Range(0.01, 2.0, "temperature"),
        "top_k": Range(1, 1000, "top_k"),
        "top_p": Range(0.0, 1.0, "top_p", above_low=True),
        "repetition_penalty": Range(1.0, 50.0, "repetition_penalty"),
        "seed": Range(0, MAX_SEED, "the seed"),
        "max_sentence_seconds": Range(MIN_SENTENCE_SECONDS, MAX_SENTENCE_SECONDS, "the longest sentence", " s"),
        "chunk_tokens": Range(1, MAX_CHUNK_TOKENS, "chunk_tokens"),
    }

    @property
    def primary_language(self) -> str:
        return self.language.strip().split("-")[0].split("_")[0].lower()

    def validate(self, languages: tuple[str, ...]) -> None:
        known = sorted({lang.split("-")[0] for lang in languages})
        if not self.language.strip():
            raise InvalidOptionsError(f"the language is required: one of {', '.join(known)}")
        if self.primary_language not in known:
            raise InvalidOptionsError(f"language {self.language!r} is not one the model speaks ({', '.join(known)})")


@dataclasses.dataclass(frozen=True)
class Conditioning:
    """What XTTS keeps of a voice: GPT conditioning latents and the decoder's speaker embedding."""

    gpt_cond_latent: np.ndarray  # float32 (1, latents, model width)
    speaker_embedding: np.ndarray  # float32 (1, 512, 1)


@dataclasses.dataclass(frozen=True)
class SpeechChunk:
    sentence_index: int
    samples: np.ndarray  # float32 mono in [-1, 1] at the engine's sample_rate
    start: float  # seconds from the start of the output


@dataclasses.dataclass(frozen=True)
class SpokenSentence:
    """Sent after a sentence's last chunk."""

    index: int
    text: str
    start: float
    end: float


def check_text(text: str) -> str:
    """The text stripped, or a clear error when it is empty or too long."""
    text = text.strip()
    if not text:
        raise InvalidOptionsError(f"the text is empty: give 1 to {MAX_TEXT_CHARS} characters to speak")
    if len(text) > MAX_TEXT_CHARS:
        raise LimitExceededError(
            f"the text has {len(text)} characters; at most {MAX_TEXT_CHARS} are spoken per "
            "request: split it into several requests"
        )
    return text


def split_sentences(text: str, char_limit: int = DEFAULT_CHAR_LIMIT) -> list[str]:
    """Sentences in order; a sentence over char_limit is wrapped at word boundaries."""
    pieces: list[str] = []
    for piece in _SENTENCE_END.split(text):
        piece = " ".join(piece.split())
        if not piece:
            continue
        last_word = pieces[-1].rsplit(" ", 1)[-1].rstrip(".").lower() if pieces else ""
        if pieces and (piece[0].islower() or pieces[-1].endswith(".") and last_word in _ABBREVIATIONS):
            pieces[-1] = f"{pieces[-1]} {piece}"  # "Dr. Smith", "at 5 p.m. today": one sentence
        else:
            pieces.append(piece)
    sentences = []
    for piece in pieces:
        sentences.extend(
            textwrap.wrap(piece, width=char_limit, break_on_hyphens=False) if len(piece) > char_limit else [piece]
        )
    return sentences


def reference_level(samples: np.ndarray, sample_rate: int) -> tuple[float, float]:
    """(duration, seconds of 20 ms frames louder than SILENCE_DBFS) of mono audio."""
    frame = max(1, int(sample_rate * _LEVEL_FRAME_SECONDS))
    count = len(samples) // frame
    if count == 0:
        return len(samples) / sample_rate, 0.0
    frames = samples[: count * frame].reshape(count, frame).astype(np.float64)
    rms = np.sqrt(np.mean(frames * frames, axis=1))
    loud = rms > 10 ** (SILENCE_DBFS / 20)
    return len(samples) / sample_rate, float(loud.sum()) * frame / sample_rate


def check_reference(samples: np.ndarray, sample_rate: int) -> None:
    duration, speech = reference_level(samples, sample_rate)
    if duration < MIN_REFERENCE_SECONDS:
        raise InvalidAudioError(
            f"the reference audio is {duration:.1f} s long; voice cloning needs at least "
            f"{MIN_REFERENCE_SECONDS:g} s of one speaker"
        )
    if speech < MIN_REFERENCE_SPEECH_SECONDS:
        raise InvalidAudioError(
            f"the reference audio is silent or nearly so: only {speech:.1f} s of its "
            f"{duration:.1f} s is louder than {SILENCE_DBFS:g} dBFS (it needs "
            f"{MIN_REFERENCE_SPEECH_SECONDS:g} s of speech)"
        )


class XttsEngine:
    """A loaded XTTS model. Calls may come from several job threads: the model keeps per-call
    state (the GPT's cached prefix), so one sentence or conditioning runs at a time."""

    def __init__(self, model, resolved: ResolvedModel, device: str) -> None:
        self._model = model
        self._lock = threading.Lock()
        self.resolved = resolved
        self.device = device
        self.fingerprint = xtts_models.fingerprint(resolved.path)
        self.languages = tuple(model.config.languages)

    @property
    def name(self) -> str:
        return self.resolved.name

    @property
    def sample_rate(self) -> int:
        return int(self._model.args.output_sample_rate)

    @property
    def max_sentence_tokens(self) -> int:
        return int(self._model.gpt.max_gen_mel_tokens)

    def condition(self, samples: np.ndarray) -> Conditioning:
        """Computes a voice from mono float32 reference audio at REFERENCE_SAMPLE_RATE."""
        import torch

        samples = np.ascontiguousarray(samples, dtype=np.float32)
        check_reference(samples, REFERENCE_SAMPLE_RATE)
        config = self._model.config
        audio = torch.from_numpy(samples[: REFERENCE_SAMPLE_RATE * int(config.max_ref_len)])[None, :]
        if config.sound_norm_refs:
            audio = audio / audio.abs().max() * 0.75
        with self._lock:
            embedding = self._model.get_speaker_embedding(audio, REFERENCE_SAMPLE_RATE)
            latent = self._model.get_gpt_cond_latents(
                audio,
                REFERENCE_SAMPLE_RATE,
                length=int(config.gpt_cond_len),
                chunk_length=int(config.gpt_cond_chunk_len),
            )
        return Conditioning(latent.float().cpu().numpy(), embedding.float().cpu().numpy())

    def plan(self, text: str, options: SynthesisOptions) -> list[str]:
        """Checks the text and options and splits the text into the sentences to speak."""
        options.validate(self.languages)
        language = options.primary_language
        sentences = split_sentences(
            check_text(text), self._model.tokenizer.char_limits.get(language, DEFAULT_CHAR_LIMIT)
        )
        limit = int(self._model.args.gpt_max_text_tokens)
        for index, sentence in enumerate(sentences):
            try:
                count = len(self._model.tokenizer.encode(sentence, lang=language))
            except ImportError as exc:  # Japanese needs cutlet, Chinese pypinyin
                raise ModelUnavailableError(
                    f"speaking {language!r} needs the {exc.name} package, which is not installed "
                    f"(coqui-tts' `{language}` extra)"
                ) from None
            if count >= limit:
                raise LimitExceededError(
                    f"sentence {index + 1} becomes {count} text tokens once numbers and symbols "
                    f"are spelled out; the model takes fewer than {limit}: shorten it"
                )
        return sentences

    def sentence_tokens(self, sentence: str, options: SynthesisOptions) -> int:
        seconds = options.max_sentence_seconds
        if seconds is None:
            seconds = SENTENCE_BASE_SECONDS + SENTENCE_SECONDS_PER_CHAR * len(sentence)
        return max(1, min(self.max_sentence_tokens, math.ceil(seconds * AUDIO_TOKENS_PER_SECOND)))

    def synthesize(
        self, sentences: list[str], voice: Conditioning, options: SynthesisOptions
    ) -> Iterator[SpeechChunk | SpokenSentence]:
        """Yields each sentence's chunks as they are decoded, then the sentence itself."""
        import torch

        config = self._model.config
        sampling = dict(
            temperature=_or(options.temperature, config.temperature),
            top_k=int(_or(options.top_k, config.top_k)),
            top_p=_or(options.top_p, config.top_p),
            repetition_penalty=float(_or(options.repetition_penalty, config.repetition_penalty)),
            length_penalty=float(config.length_penalty),
        )
        latent = torch.from_numpy(voice.gpt_cond_latent)
        embedding = torch.from_numpy(voice.speaker_embedding)
        position = 0
        for index, sentence in enumerate(sentences):
            start = position
            with self._lock:
                if options.seed is not None:
                    torch.manual_seed(options.seed + index)
                stream = self._model.inference_stream(
                    sentence,
                    options.primary_language,
                    latent,
                    embedding,
                    stream_chunk_size=options.chunk_tokens,
                    speed=options.speed,
                    enable_text_splitting=False,
                    do_sample=True,
                    max_new_tokens=self.sentence_tokens(sentence, options),
                    **sampling,
                )
                for wav in stream:
                    samples = np.clip(wav.float().cpu().numpy().reshape(-1), -1.0, 1.0)
                    if samples.size == 0:
                        continue
                    yield SpeechChunk(index, samples, position / self.sample_rate)
                    position += samples.size
            yield SpokenSentence(index, sentence, start / self.sample_rate, position / self.sample_rate)


def _or(value, default):
    return default if value is None else value


class _MaxNewTokensNotice(logging.Filter):
    """coqui-tts always passes max_length and the engine bounds each sentence with
    max_new_tokens; transformers warns about that on every sentence. The override is meant."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`max_new_tokens`" not in record.getMessage()


@functools.cache
def _quiet_length_notice() -> None:
    logging.getLogger("transformers.generation.utils").addFilter(_MaxNewTokensNotice())


def load(resolved: ResolvedModel, settings: ModelSettings) -> tuple[XttsEngine, str]:
    """Loads a resolved model through coqui-tts' own loader; returns (engine, device)."""
    try:
        from TTS.tts.configs.xtts_config import XttsConfig
        from TTS.tts.models.xtts import Xtts
    except ImportError as exc:
        raise ModelUnavailableError(
            f"voice cloning needs coqui-tts ({exc}): install the sidecar's `tts` extra"
        ) from None
    device = devices.torch_device(settings.device)
    config = XttsConfig()
    try:
        config.load_json(os.path.join(resolved.path, "config.json"))
        model = Xtts(config)
        model.load_checkpoint(config, checkpoint_dir=resolved.path, eval=True)
    except (RuntimeError, ValueError, KeyError, OSError) as exc:
        raise ModelUnavailableError(
            f"XTTS model {resolved.name!r} failed to load from {resolved.path}: {exc}"
        ) from None
    model.to(device)
    _quiet_length_notice()
    return XttsEngine(model, resolved, device), device


MODEL_FAMILY = ModelFamily(
    xtts_models.FAMILY,
    resolve=xtts_models.resolve,
    load=load,
    installed=xtts_models.installed,
    default=lambda settings: xtts_models.DEFAULT_MODEL,
)

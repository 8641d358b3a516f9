"""Transcription with faster-whisper: option checking, model loading, typed lazy results.

The engine takes 16 kHz mono float32 audio and yields Segment dataclasses as faster-whisper
decodes them, with every time clamped into the audio's duration (Whisper can emit timestamps
past the end, especially on the last window).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterator
from typing import ClassVar

import numpy as np

from sidecar.engines import ct2_files, whisper_models, whisper_pieces
from sidecar.engines.bounds import Bounded, Length, Range
from sidecar.engines.catalogue import ModelFamily, ModelSettings, ResolvedModel
from sidecar.errors import InvalidOptionsError, ModelUnavailableError
from sidecar.runtime import devices
from sidecar_common.limits import BEAM_SIZE, MAX_WHISPER_PROMPT_CHARS

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000  # Whisper's input rate
MAX_BEAM_SIZE = 16
MAX_LANGUAGE_CHARS = 35  # the longest BCP-47 tag in practice
MAX_NEW_TOKENS = 224  # half of Whisper's 448-token context; the prompt takes the other half
# faster-whisper's batched pipeline decodes VAD-cut windows of at most 20 s at once, each
# without the text before it (30 s windows lost sentences). tiny.en's WER moves by about a
# point with where the windows fall, so it was measured over five placements (0 to 2.8 s of
# silence first) of two tuning readings, the LJ reading with pauses (4.4 min) and the
# LibriSpeech clip three times over: 4 windows at once, each encoded 26 s long, took about
# half the time of one window after another at +0.14 and -1.84 points of WER (tiny.en), +0.28
# and +0.23 (base); encoded 30 s long, +0.31 and -1.38, +0.14 and +0.57. So a CPU batches long
# audio by default; bench/transcribe_overhead.py reports it on a third reading.
GPU_BATCH_SIZE = 16
CPU_BATCH_SIZE = 4  # 4, 8 and 16 took the same time on 2 cores; a smaller step yields sooner
BATCHED_WINDOW_SECONDS = 20
CPU_BATCHED_WINDOW_FRAMES = 2600  # the 20 s and a margin for the final timestamp
MAX_BATCH_SIZE = 64
FALLBACK_TEMPERATURES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)  # faster-whisper's default
# A trimmed window keeps this many frames (10 ms each) after the last one that holds audio,
# and never fewer than MIN_TRIMMED_FRAMES in all: the decoder places its final timestamp and
# end-of-text in that margin.
TRIM_MARGIN_FRAMES = 300
MIN_TRIMMED_FRAMES = 1000


@dataclasses.dataclass(frozen=True)
class TranscriptionOptions(Bounded):
    # ISO 639-1 language code; None detects it from the first 30 s.
    language: str | None = None
    # Translate into English instead of transcribing.
    translate: bool = False
    # Time each word (needed for subtitles and speaker assignment).
    word_timestamps: bool = True
    # Skip non-speech with Silero VAD before decoding.
    vad_filter: bool = True
    # Text that conditions the first window.
    initial_prompt: str | None = None
    # Comma-separated words or phrases to favour.
    hotwords: str | None = None
    # Beam width.
    beam_size: int = BEAM_SIZE
    # Encode only the frames that hold audio (plus a margin) instead of Whisper's window
    # padded to 30 s. The encoder's cost grows faster than its input, so on a few seconds of
    # audio this is several times less work (what live captions need); Whisper was trained
    # on whole windows, so offline transcription keeps them.
    trim_window: bool = False
    # Decode again at rising temperatures when the output looks like a loop or improbable
    # text. Live captions turn it off: the next re-decode comes a moment later anyway.
    temperature_fallback: bool = True
    # Most tokens decoded per window; None: the model's limit (448). A bound keeps a decode
    # that loops from costing seconds.
    max_new_tokens: int | None = None
    # Windows decoded at once; 1: one after another, each conditioned on the text before;
    # None: GPU_BATCH_SIZE on a GPU; on a CPU CPU_BATCH_SIZE for audio longer than one window
    # timed by word and cut by the VAD, else 1.
    batch_size: int | None = None
    # Detect the language of every window (mixed-language audio) and report it per segment.
    # Decodes one window at a time.
    language_per_segment: bool = False
    # Cut long audio at pauses into this many pieces, decoded side by side, one window after
    # another within each (whisper_pieces); None or 1: whole.
    pieces: int | None = None

    BOUNDS: ClassVar[dict] = {
        "language": Length(MAX_LANGUAGE_CHARS, "language code"),
        "initial_prompt": Length(MAX_WHISPER_PROMPT_CHARS, "initial prompt"),
        "hotwords": Length(MAX_WHISPER_PROMPT_CHARS, "hotwords"),
        "beam_size": Range(1, MAX_BEAM_SIZE, "beam size"),
        "max_new_tokens": Range(1, MAX_NEW_TOKENS, "max new tokens"),
        "batch_size": Range(1, MAX_BATCH_SIZE, "batch size"),
        "pieces": Range(1, whisper_pieces.MAX_PIECES, "pieces"),
    }

    def validate(self, *, multilingual: bool, model_name: str) -> None:
        if self.language is not None:
            code = self.language.split("-")[0].lower()
            from faster_whisper.tokenizer import _LANGUAGE_CODES

            if code not in _LANGUAGE_CODES:
                raise InvalidOptionsError(f"language {self.language!r} is not one Whisper knows")
            if not multilingual and code != "en":
                raise InvalidOptionsError(
                    f"model {model_name!r} is English-only and cannot transcribe {self.language!r}; "
                    "choose a multilingual model such as 'base'"
                )
        if self.language_per_segment and not multilingual:
            raise InvalidOptionsError(
                f"model {model_name!r} is English-only and cannot detect the language per segment; "
                "choose a multilingual model such as 'base'"
            )
        if self.language_per_segment and self.language is not None:
            raise InvalidOptionsError(
                f"language {self.language!r} was given, so there is none to detect per segment: give one or the other"
            )
        if self.language_per_segment and self.batch_size not in (None, 1):
            raise InvalidOptionsError(
                "a language per segment is detected one window at a time: leave the batch size unset or 1"
            )
        if (self.pieces or 1) > 1 and (self.batch_size or 1) > 1:
            raise InvalidOptionsError(
                "pieces are decoded one window after another: leave the batch size unset or 1, or ask for no pieces"
            )
        if (self.pieces or 1) > 1 and self.language_per_segment:
            raise InvalidOptionsError(
                "a language per segment is detected over the whole audio: leave pieces unset or 1"
            )
        if self.translate and not multilingual:
            raise InvalidOptionsError(
                f"model {model_name!r} is English-only and cannot translate; choose a multilingual model such as 'base'"
            )


@dataclasses.dataclass(frozen=True)
class Word:
    text: str
    start: float
    end: float
    probability: float
    speaker: str | None = None


@dataclasses.dataclass(frozen=True)
class Segment:
    index: int
    start: float
    end: float
    text: str
    words: tuple[Word, ...]
    average_log_probability: float
    no_speech_probability: float
    speaker: str | None = None
    language: str | None = None  # when detected per segment


@dataclasses.dataclass(frozen=True)
class TranscriptionInfo:
    language: str
    language_probability: float
    duration: float
    speech_duration: float


class WhisperEngine:
    """A loaded Whisper model; thread-safe for concurrent transcriptions (CTranslate2 is)."""

    def __init__(self, model, resolved: ResolvedModel, device: str) -> None:
        self._model = model
        self.resolved = resolved
        self.device = device
        # The same weights, encoding fewer frames than Whisper's 30 s window.
        self._trimmed = _window_encoding_model(model, trimmed_frames)
        from faster_whisper import BatchedInferencePipeline

        batched_model = model if device == devices.CUDA else _window_encoding_model(model, cpu_batched_frames)
        self._batched = BatchedInferencePipeline(model=batched_model)

    @property
    def name(self) -> str:
        return self.resolved.name

    @property
    def multilingual(self) -> bool:
        return bool(self._model.model.is_multilingual)

    def transcribe(
        self, audio: np.ndarray, options: TranscriptionOptions, turn: whisper_pieces.Turn | None = None
    ) -> tuple[TranscriptionInfo, Iterator[Segment]]:
        """Detects the language at once and returns the segments as a lazy generator. Pieces
        decoded side by side take a `turn()` for each window, when given."""
        options.validate(multilingual=self.multilingual, model_name=self.name)
        audio = np.ascontiguousarray(audio, dtype=np.float32)
        duration = len(audio) / SAMPLE_RATE
        kwargs = dict(
            temperature=FALLBACK_TEMPERATURES if options.temperature_fallback else 0.0,
            max_new_tokens=options.max_new_tokens,
            language=options.language.split("-")[0].lower() if options.language else None,
            task="translate" if options.translate else "transcribe",
            beam_size=options.beam_size,
            word_timestamps=options.word_timestamps,
            vad_filter=options.vad_filter,
            initial_prompt=options.initial_prompt or None,
            hotwords=options.hotwords or None,
        )
        languages = None
        batch_size = self.batch_size_for(options, duration)
        speech = None
        if (pieces := self.pieces_for(options, duration)) > 1:
            raw_info, speech, raw_segments = whisper_pieces.transcribe(self._model, audio, pieces, kwargs, turn)
        elif options.trim_window:
            raw_segments, raw_info = self._trimmed.transcribe(audio, **kwargs)
        elif options.language_per_segment:
            model = _language_recording_model(self._model)
            raw_segments, raw_info = model.transcribe(audio, multilingual=True, **kwargs)
            languages = model.window_language
        elif batch_size > 1:
            raw_segments, raw_info = self._batched.transcribe(
                audio, batch_size=batch_size, chunk_length=BATCHED_WINDOW_SECONDS, **kwargs
            )
        else:
            raw_segments, raw_info = self._model.transcribe(audio, **kwargs)
        info = TranscriptionInfo(
            language=raw_info.language,
            language_probability=float(raw_info.language_probability),
            duration=duration,
            speech_duration=min(duration, float(raw_info.duration_after_vad if speech is None else speech)),
        )
        return info, _typed_segments(raw_segments, duration, languages)

    def batch_size_for(self, options: TranscriptionOptions, duration: float) -> int:
        """Windows to decode at once for these options and this much audio."""
        if options.trim_window or options.language_per_segment or (options.pieces or 1) > 1:
            return 1  # pieces asked for mean one window after another, even in a file too short to cut
        if options.batch_size is not None:
            return options.batch_size
        if self.device == devices.CUDA:
            return GPU_BATCH_SIZE
        # A batched window is one segment; without word times its text could not be cut into
        # cues. Without the VAD it would be cut at fixed times, through words.
        if options.word_timestamps and options.vad_filter and duration > BATCHED_WINDOW_SECONDS:
            return CPU_BATCH_SIZE
        return 1

    def pieces_for(self, options: TranscriptionOptions, duration: float) -> int:
        """Pieces of the audio to decode side by side: those asked for, each at least
        whisper_pieces.MIN_PIECE_SECONDS long."""
        if options.trim_window:
            return 1
        return whisper_pieces.piece_count(options.pieces or 1, duration)


def _window_encoding_model(model, frames: Callable[[np.ndarray], int]):
    """A WhisperModel sharing `model`'s weights whose encoder sees the first `frames(features)`
    frames of each window: faster-whisper pads every window's features with zeros to 30 s
    before encode()."""
    from faster_whisper import WhisperModel

    class WindowEncodingModel(WhisperModel):
        def __init__(self, base: WhisperModel) -> None:  # shares, loads nothing
            self.__dict__.update(base.__dict__)

        def encode(self, features: np.ndarray):
            return super().encode(features[..., : frames(features)])

    return WindowEncodingModel(model)


def _language_recording_model(model):
    """A WhisperModel sharing `model`'s weights, for one transcription in multilingual mode,
    whose `window_language()` is the language detected for the window whose segments are being
    yielded: faster-whisper switches its tokenizer per window but reports no language per
    segment. One per call: the shared model serves other transcriptions meanwhile."""
    from faster_whisper import WhisperModel

    class LanguageRecordingModel(WhisperModel):
        def __init__(self, base: WhisperModel) -> None:  # shares, loads nothing
            self.__dict__.update(base.__dict__)
            self._window_language: str | None = None

        def generate_with_fallback(self, encoder_output, prompt, tokenizer, options):
            self._window_language = tokenizer.language_code  # set for this window just before
            return super().generate_with_fallback(encoder_output, prompt, tokenizer, options)

        def window_language(self) -> str | None:
            return self._window_language

    return LanguageRecordingModel(model)


def trimmed_frames(features: np.ndarray) -> int:
    """How many leading frames of a zero-padded feature window to encode."""
    frames = features.shape[-1]
    holds_audio = np.flatnonzero(np.any(features.reshape(-1, frames) != 0, axis=0))
    last = int(holds_audio[-1]) + 1 if holds_audio.size else 0
    return min(frames, max(MIN_TRIMMED_FRAMES, last + TRIM_MARGIN_FRAMES))


def cpu_batched_frames(features: np.ndarray) -> int:
    """How many leading frames of a batch of windows a CPU encodes: CPU_BATCHED_WINDOW_FRAMES,
    or the audio and margin of a longer window."""
    return min(features.shape[-1], max(CPU_BATCHED_WINDOW_FRAMES, trimmed_frames(features)))


def _clamp(value: float, duration: float) -> float:
    return min(max(float(value), 0.0), duration)


# Whisper starts a new word at punctuation, so "flour-fattened" comes out as " flour" and
# "-fattened"; a piece with no leading space that starts with a joiner belongs to the word before.
_JOINERS = ("-", "'", "\u2019")


def _joined_words(words) -> tuple[Word, ...]:
    joined: list[Word] = []
    for word in words:
        if joined and word.text.startswith(_JOINERS):
            last = joined[-1]
            joined[-1] = dataclasses.replace(
                last,
                text=last.text + word.text,
                end=max(last.end, word.end),
                probability=min(last.probability, word.probability),
            )
        else:
            joined.append(word)
    return tuple(joined)


def _typed_segments(raw_segments, duration: float, languages=None) -> Iterator[Segment]:
    """Our Segments from faster-whisper's; `languages()`, when given, names the language of the
    segment just yielded."""
    index = 0
    for raw in raw_segments:
        start, end = _clamp(raw.start, duration), _clamp(raw.end, duration)
        if end <= start and start >= duration:
            continue  # wholly past the end of the audio: a hallucinated timestamp
        words = _joined_words(
            Word(w.word, _clamp(w.start, duration), _clamp(w.end, duration), float(w.probability))
            for w in (raw.words or ())
            if w.start < duration
        )
        yield Segment(
            index=index,
            start=start,
            end=max(end, start),
            text=raw.text.strip(),
            words=words,
            average_log_probability=float(raw.avg_logprob),
            no_speech_probability=float(raw.no_speech_prob),
            language=languages() if languages else None,
        )
        index += 1


# CTranslate2 runs one call per worker and queues the rest: with one, a live stream's decode
# waited behind a file job's whole window (a 10 s decode: 1.5 s alone, 6.9 s beside a file
# job on a 2-core CPU; 1.9 s with two workers). Workers share the weights. Two pieces of a file
# decoded side by side take both; a live stream's decode then waits for a window of one, as the
# priority gate lets no piece start another window meanwhile. (A third worker was measured as
# 60 MB more resident after its first call.)
DECODE_WORKERS = 2


def load(resolved: ResolvedModel, settings: ModelSettings) -> tuple[WhisperEngine, str]:
    """Loads a resolved model; returns (engine, device)."""
    try:
        from faster_whisper import WhisperModel
    except ImportError:
        raise ModelUnavailableError("transcription needs faster-whisper: install the sidecar's `asr` extra") from None
    ct2_files.check_model_dir(resolved.path, f"Whisper model {resolved.name!r}")  # names a damaged file
    device = devices.ct2_device(settings.device)
    compute_type = "float16" if device == devices.CUDA else "int8"
    try:
        model = WhisperModel(
            resolved.path,
            device=device,
            compute_type=compute_type,
            cpu_threads=settings.cpu_threads,
            num_workers=DECODE_WORKERS,
        )
    except (RuntimeError, ValueError, OSError, IndexError) as exc:  # IndexError: a variable the model lacks
        raise ModelUnavailableError(f"model {resolved.name!r} failed to load from {resolved.path}: {exc}") from None
    log.info("Whisper %s on %s (%s)", resolved.name, device, compute_type)
    return WhisperEngine(model, resolved, device), device


MODEL_FAMILY = ModelFamily(
    whisper_models.FAMILY,
    resolve=whisper_models.resolve,
    load=load,
    installed=whisper_models.list_installed,
    default=whisper_models.default_name,
)

"""Live recognition on faster-whisper: VAD gating, LocalAgreement-2 commits, stream guards.

Whisper decodes whole windows, not streams, so the policy re-decodes a growing buffer of
the latest audio and commits the words two consecutive hypotheses agree on, letter by letter
so that "fat-mutton" agrees with "fat mutton" (LocalAgreement-2, the approach of
ufal/whisper_streaming); the rest of the latest hypothesis is the interim result. Silero VAD
keeps silence away from the model and finds endpoints, where every pending word is committed,
the interim words a last decode stopped short of included. Final times never go back.

A pause ends an utterance, not a sentence. The buffer keeps about context_seconds of committed
audio before the pending words, across pauses shorter than LONG_PAUSE_SECONDS, so each decode
hears what came before it: casing and punctuation carry across commits, and no fragment is
decoded alone. The committed words it decodes again are found by aligning their text, not
their drifting times. The last committed word's trailing punctuation waits for a decode that
hears what follows, then comes as a mark of its own. After a long pause the buffer starts
afresh and the committed text is its prompt (beside committed audio a prompt makes tiny.en
repeat itself).

Guards against Whisper's failures on streams: no decoding without speech, words outside
detected speech dropped, segments Whisper itself marks as non-speech or that compress like a
loop dropped, stock phrases ("you", "Thank you.") and other short segments dropped unless
confidently heard, phrases repeated in a row collapsed and a repeat squeezed into too little
time dropped, no word committed while it may be the start of a longer one, and no conditioning
on its own uncommitted output.

Pure: 16 kHz mono float32 in, typed updates out; no gRPC. Not thread-safe: one recognizer per
stream, fed from one thread. The engine it decodes with may be shared by many streams. About
700 lines on purpose: the commit policy, the punctuation it holds back and the guards read each
other's state every step.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
import zlib
from collections.abc import Iterable
from typing import ClassVar

import numpy as np

from sidecar.engines import whisper
from sidecar.engines.bounds import Bounded, Length, Range
from sidecar.errors import InvalidOptionsError, ModelUnavailableError
from sidecar_common.limits import BEAM_SIZE, MAX_WHISPER_PROMPT_CHARS

SAMPLE_RATE = whisper.SAMPLE_RATE
VAD_FRAME_SAMPLES = 512  # Silero's window at 16 kHz: 32 ms
VAD_NEGATIVE_MARGIN = 0.15  # speech ends below threshold - margin (Silero's hysteresis)
MAX_BEAM_SIZE = whisper.MAX_BEAM_SIZE
# Whisper's own thresholds for "this window was not speech" and "this output is a loop".
NO_SPEECH_PROBABILITY = 0.6
LOW_LOG_PROBABILITY = -1.0
MAX_COMPRESSION_RATIO = 2.4
# Phrases Whisper is known to produce from silence or noise; kept only when heard confidently.
STOCK_PHRASES = frozenset(
    {
        "you",
        "thank you",
        "thanks",
        "thank you very much",
        "thanks for watching",
        "thank you for watching",
        "bye",
        "so",
        "okay",
        "oh",
        "uh",
        "um",
        "hmm",
    }
)
STOCK_PHRASE_MIN_PROBABILITY = 0.7
# A segment this short that the model is unsure of is more often invented than said
# ("Here we go." in a pause).
SHORT_SEGMENT_WORDS = 3
SHORT_SEGMENT_MIN_PROBABILITY = 0.5
# More words a second than anyone speaks: text invented to fill a short buffer.
MAX_WORDS_PER_SECOND = 6.0
MIN_WORDS_FOR_RATE = 4
# Speech an utterance must have before its first decode: Whisper invents whole sentences
# from a fraction of a word.
MIN_DECODE_SPEECH_SECONDS = 0.5
MAX_REPEATS = 2  # an n-gram said more often in a row than this is a decoding loop
MAX_REPEAT_NGRAM = 8
LOOP_SPAN_SHARE = 0.5  # a repeat said in less than this share of the first saying's time is invented
OVERLAP_NGRAM = 5  # longest run of the prompt's words a decode after a cut may copy
OVERLAP_SECONDS = 1.0  # a copy of the prompt starts this close after the cut
MAX_JOINED_WORDS = 3  # a compound Whisper writes as one word one decode and as parts the next
WORD_END_MARGIN = 0.2  # s of audio past a word before agreement may commit it
COMMIT_TIME_TOLERANCE = 0.1  # s; Whisper's word times wobble by about this much
# Tokens a decode may produce: fast speech is under 5 a second, so this only stops loops.
TOKENS_PER_SECOND = 10
MIN_NEW_TOKENS = 16
PROMPT_CHARS = 200  # committed text given as the prompt (Whisper's prompt holds ~224 tokens)
SENTENCE_END = (".", "?", "!", "…")
# A pause longer than this starts a new buffer; a shorter one stays in it, so the next words
# are decoded with the ones before as context (casing, punctuation, no "fragment. Fragment.").
LONG_PAUSE_SECONDS = 2.0
# A client that sends faster than real time (a file, as fast as the server takes it) is
# stepped at multiples of this stream position, so its captions depend on its audio, not on
# the machine's speed. Taking each backlog whole, a busy CPU's steps grew to 4-6 s and the demo
# came out differently run to run (WER 0.069-0.103; stepped every 4 s, 0.103; every 0.7-3 s,
# 0.017-0.052; offline 0.034). 3 s rather than 2 s: a third fewer decodes (the 4.4 min paced
# reading, 95 s instead of 129 s on 2 cores). A client at real-time pace is never ahead by a
# piece, so its backlog is still taken whole and a slow machine's lag stays bounded.
CATCH_UP_SECONDS = 3.0
# The held word of the last commit is found again in a later decode this close to where it was.
HELD_WORD_SECONDS = 0.5
_TRAILING_MARK = re.compile(r"[.,;:?!…]+$")
_ELLIPSIS = re.compile(r"\.\.\.|…")


@dataclasses.dataclass(frozen=True)
class StreamingOptions(Bounded):
    # ISO 639-1 language; None: English-only models use English, others detect per decode.
    language: str | None = None
    # Report the words not yet committed.
    interim_results: bool = True
    # Comma-separated words or phrases to favour.
    hotwords: str | None = None
    # Text that conditions decoding until committed text takes its place.
    initial_prompt: str | None = None
    # Beam width. 5, as offline transcription: on trimmed windows it costs about 15 % more CPU
    # than greedy (1) and brings the stream's word error rate down to the offline one.
    beam_size: int = BEAM_SIZE
    # Gate decoding with Silero VAD and commit at endpoints.
    vad_enabled: bool = True
    # Speech probability at or above which a VAD frame is speech.
    speech_threshold: float = 0.5
    # Silence after speech that ends an utterance, in seconds.
    endpoint_silence: float = 0.5
    # New audio between two decodes of the buffer while speech goes on, in seconds. Shorter
    # gives earlier words at more CPU; a stream that falls behind decodes less often anyway.
    decode_interval: float = 0.5
    # Committed audio kept in the buffer before the pending words, as context for decoding
    # them (casing, punctuation, the words across a pause), in seconds.
    context_seconds: float = 4.0
    # Buffer length past which the current hypothesis is committed and cut regardless.
    max_buffer_seconds: float = 20.0
    # Audio kept before detected speech, and around speech when checking word times.
    speech_pad: float = 0.3

    BOUNDS: ClassVar[dict] = {
        "language": Length(whisper.MAX_LANGUAGE_CHARS, "language code"),
        "hotwords": Length(MAX_WHISPER_PROMPT_CHARS, "hotwords"),
        "initial_prompt": Length(MAX_WHISPER_PROMPT_CHARS, "initial prompt"),
        "beam_size": Range(1, MAX_BEAM_SIZE, "beam size"),
        "speech_threshold": Range(0.05, 0.95, "the VAD speech threshold"),
        "endpoint_silence": Range(0.1, 5.0, "the endpoint silence", " s"),
        "decode_interval": Range(0.1, 5.0, "the decode interval", " s"),
        "context_seconds": Range(0.0, 27.0, "context_seconds", " s"),
        "max_buffer_seconds": Range(1.0, 28.0, "max_buffer_seconds", " s"),
        "speech_pad": Range(0.0, 2.0, "the speech pad", " s"),
    }

    def validate(self) -> None:
        if not 0.0 <= self.context_seconds < self.max_buffer_seconds <= 28.0:
            raise InvalidOptionsError(
                "the buffer lengths must satisfy 0 <= context_seconds < max_buffer_seconds <= 28 "
                "(Whisper sees 30 s at most)"
            )


@dataclasses.dataclass(frozen=True)
class Update:
    """What changed in one step; times are seconds from the start of the stream."""

    # Words committed by this step, in order; they never change again.
    final: tuple[whisper.Word, ...] = ()
    # The words after the last committed one; None when unchanged since the last update
    # (or interim results are off), () when nothing is pending.
    interim: tuple[whisper.Word, ...] | None = None
    # "begin" or "end" of speech, or None.
    event: str | None = None
    event_offset: float = 0.0
    # End of the audio the results account for.
    processed: float = 0.0


SPEECH_BEGIN = "begin"
SPEECH_END = "end"


class VoiceActivity:
    """Incremental Silero VAD: feeds 32 ms frames, yields begin/end events with hysteresis."""

    def __init__(self, threshold: float, endpoint_silence: float) -> None:
        try:
            from faster_whisper.vad import get_vad_model
        except ImportError:
            raise ModelUnavailableError(
                "streaming recognition needs faster-whisper: install the sidecar's `asr` extra"
            ) from None
        self._model = get_vad_model()  # cached: one ONNX session for every stream
        self._threshold = threshold
        self._negative = max(threshold - VAD_NEGATIVE_MARGIN, 0.01)
        self._endpoint_frames = max(1, round(endpoint_silence * SAMPLE_RATE / VAD_FRAME_SAMPLES))
        self._pending = np.zeros(0, np.float32)  # samples not yet a whole frame
        self._previous_frame = np.zeros(VAD_FRAME_SAMPLES, np.float32)  # context for the next
        self._frames_done = 0
        self.speaking = False
        self._silent_since: int | None = None  # frame index where the current silence began
        self.regions: list[list[float]] = []  # [start, end] seconds; the last open while speaking

    @property
    def processed(self) -> float:
        return self._frames_done * VAD_FRAME_SAMPLES / SAMPLE_RATE

    def feed(self, samples: np.ndarray) -> list[tuple[str, float]]:
        """Adds audio; returns (event, offset) pairs in order."""
        audio = np.concatenate([self._pending, samples])
        whole = len(audio) // VAD_FRAME_SAMPLES * VAD_FRAME_SAMPLES
        self._pending = audio[whole:]
        if whole == 0:
            return []
        # The frame before gives the model its context; its own probability is dropped.
        probabilities = self._model(np.concatenate([self._previous_frame, audio[:whole]]))[1:]
        self._previous_frame = audio[whole - VAD_FRAME_SAMPLES : whole].copy()
        events = []
        for p in np.ravel(probabilities):
            index = self._frames_done
            self._frames_done += 1
            at = index * VAD_FRAME_SAMPLES / SAMPLE_RATE
            if p >= self._threshold:
                self._silent_since = None
                if not self.speaking:
                    self.speaking = True
                    self.regions.append([at, at])
                    events.append((SPEECH_BEGIN, at))
                self.regions[-1][1] = at + VAD_FRAME_SAMPLES / SAMPLE_RATE
            elif self.speaking and p < self._negative:
                if self._silent_since is None:
                    self._silent_since = index
                if index + 1 - self._silent_since >= self._endpoint_frames:
                    self.speaking = False
                    self._silent_since = None
                    events.append((SPEECH_END, self.regions[-1][1]))
            elif self.speaking:
                self.regions[-1][1] = at + VAD_FRAME_SAMPLES / SAMPLE_RATE
        return events

    @property
    def current_speech(self) -> float:
        """Seconds of the utterance going on now; 0 between utterances."""
        return self.regions[-1][1] - self.regions[-1][0] if self.speaking else 0.0

    @property
    def silence(self) -> float:
        """Seconds since the last utterance ended; 0 while speaking or before any speech."""
        return self.processed - self.regions[-1][1] if self.regions and not self.speaking else 0.0

    def heard(self, word: whisper.Word, pad: float) -> bool:
        """Whether a word overlaps detected speech (widened by pad on each side)."""
        return any(start - pad < word.end and word.start < end + pad for start, end in self.regions)

    def forget_before(self, t: float) -> None:
        self.regions = [r for r in self.regions if r[1] >= t or r is self.regions[-1]]


class StreamingRecognizer:
    """One stream's state: feed audio with accept(), call step() for updates, then finish()."""

    def __init__(self, engine: whisper.WhisperEngine, options: StreamingOptions) -> None:
        options.validate()
        self._engine = engine
        self._options = options
        self._decode_options = whisper.TranscriptionOptions(
            language=options.language,
            word_timestamps=True,
            vad_filter=False,
            hotwords=options.hotwords,
            beam_size=options.beam_size,
            trim_window=True,
            temperature_fallback=False,
        )
        self._decode_options.validate(multilingual=engine.multilingual, model_name=engine.name)
        self._vad = VoiceActivity(options.speech_threshold, options.endpoint_silence) if options.vad_enabled else None
        self._audio = np.zeros(0, np.float32)  # the buffer
        self._buffer_start = 0  # stream sample where the buffer begins
        self._accepted = 0  # stream samples accepted
        self._received = 0  # stream samples stepped: the buffer ends here
        self.holding = False  # audio is pending, but no whole piece (see CATCH_UP_SECONDS)
        self._decoded_until = 0  # stream sample the last hypothesis reached
        self._fresh: list[np.ndarray] = []  # accepted but not yet seen by the VAD
        self._history = ""  # committed text that left the buffer, for the prompt
        self._committed: list[whisper.Word] = []  # committed words still inside the buffer
        self._committed_end = 0.0
        self._hypothesis: list[whisper.Word] = []  # the previous hypothesis's uncommitted words
        # The last committed word, whose trailing punctuation waits for a decode that hears
        # what follows it, and the mark Whisper gave it without that context.
        self._held: whisper.Word | None = None
        self._held_mark = ""
        self._marks: list[whisper.Word] = []  # punctuation decided since the last update
        self._sentence_ended = False  # the last committed word or mark ends a sentence
        self._interim_sent: tuple[str, ...] = ()
        self._processed = 0.0  # the largest processed() reported

    @property
    def received(self) -> float:
        return self._accepted / SAMPLE_RATE

    def accept(self, samples: np.ndarray) -> None:
        """Adds 16 kHz mono float32 audio; cheap, decoding waits for step()."""
        samples = np.asarray(samples, dtype=np.float32)
        self._fresh.append(samples)
        self._accepted += len(samples)

    @property
    def pending(self) -> float:
        """Seconds accepted but not yet stepped (some stay when step() takes a piece)."""
        return sum(len(samples) for samples in self._fresh) / SAMPLE_RATE

    def step(self, *, real_time: float | None = None, decode: bool = True) -> list[Update]:
        """Handles the audio accepted so far: VAD events, at most one decode, commits.

        `real_time`: the stream seconds a client at real-time pace can have sent by now. Audio
        accepted beyond it is stepped a piece at a time, at multiples of CATCH_UP_SECONDS; call
        again while audio is `pending` and not `holding` (finish() takes what is held).
        `decode=False` skips the interim decode (an endpoint still decodes)."""
        fresh = self._take_fresh(real_time)
        if not fresh.size and self.holding:
            return []
        self._audio = np.concatenate([self._audio, fresh])
        updates: list[Update] = []
        if self._vad is None:
            if decode and self._received - self._decoded_until >= self._options.decode_interval * SAMPLE_RATE:
                updates.append(self._agree(self._decode(self._received)))
            return updates
        for event, at in self._vad.feed(fresh):
            if event == SPEECH_BEGIN:
                if not self._hypothesis and not self._committed:  # start the buffer just before the speech
                    self._cut(round((at - self._options.speech_pad) * SAMPLE_RATE))
                updates.append(Update(event=SPEECH_BEGIN, event_offset=at, processed=self.processed()))
            else:
                end = min(self._received, round((at + self._options.speech_pad) * SAMPLE_RATE))
                updates.append(self._endpoint(end, at))
        if self._vad.speaking:
            due = self._options.decode_interval * SAMPLE_RATE
            if (
                decode
                and self._vad.current_speech >= MIN_DECODE_SPEECH_SECONDS
                and self._received - max(self._decoded_until, self._buffer_start) >= due
            ):
                updates.append(self._agree(self._decode(self._received)))
        elif not self._hypothesis:
            if not self._committed or self._vad.silence > LONG_PAUSE_SECONDS:
                keep = round(self._options.speech_pad * SAMPLE_RATE)
                self._cut(max(self._buffer_start, self._received - keep))
            self._decoded_until = self._received
            if self._marks:  # the cut settled a held word's punctuation
                updates.append(Update(final=self._with_marks(()), processed=self.processed()))
        return updates

    def _take_fresh(self, real_time: float | None) -> np.ndarray:
        """The accepted audio this step handles: up to `real_time`, else the next whole piece;
        `holding` says that what is left waits for more audio or time."""
        fresh = np.concatenate(self._fresh) if self._fresh else np.zeros(0, np.float32)
        self._fresh.clear()
        available = self._received + len(fresh)
        piece = round(CATCH_UP_SECONDS * SAMPLE_RATE)
        until = available
        if real_time is not None:
            wall = round(real_time * SAMPLE_RATE)
            if available > max(wall, self._received):  # the client is ahead of real time
                boundary = (self._received // piece + 1) * piece
                until = wall if wall > self._received else boundary if available >= boundary else self._received
        fresh, rest = fresh[: until - self._received], fresh[until - self._received :]
        if rest.size:
            self._fresh.append(rest)
        self._received = until
        self.holding = available < (until // piece + 1) * piece and bool(rest.size)  # no whole piece left
        return fresh

    def finish(self) -> list[Update]:
        """Flushes at the end of the stream: every pending word is committed."""
        # The closing endpoint decodes the same audio an interim decode would.
        updates = self.step(decode=False)
        speaking = self._vad is not None and self._vad.speaking
        if self._hypothesis or speaking or (self._vad is None and self._audio.size):
            update = self._endpoint(self._received, self.received)
            updates.append(update if speaking else dataclasses.replace(update, event=None))
        if self._held is not None:
            self._settle_held(None)
        if self._marks:
            updates.append(Update(final=self._with_marks(()), processed=self.processed()))
        return updates

    def processed(self) -> float:
        """End of the audio the results account for (decoded, or seen by VAD as non-speech);
        never goes back."""
        if self._vad is not None and not self._vad.speaking and not self._hypothesis:
            now = self._vad.processed
        else:
            now = self._decoded_until / SAMPLE_RATE
        self._processed = max(self._processed, now)
        return self._processed

    # --- decoding and committing ------------------------------------------------------------

    def _decode(self, until: int) -> list[whisper.Word]:
        """Decodes the buffer up to stream sample `until`; returns the new uncommitted words."""
        audio = self._audio[: until - self._buffer_start]
        self._decoded_until = until
        if len(audio) < VAD_FRAME_SAMPLES:
            return []
        options = dataclasses.replace(
            self._decode_options,
            initial_prompt=self._prompt(),
            max_new_tokens=min(
                whisper.MAX_NEW_TOKENS, MIN_NEW_TOKENS + round(TOKENS_PER_SECOND * len(audio) / SAMPLE_RATE)
            ),
        )
        _, segments = self._engine.transcribe(audio, options)
        offset = self._buffer_start / SAMPLE_RATE
        words: list[whisper.Word] = []
        for segment in segments:
            if _spurious(segment):
                continue
            # A "word" of punctuation alone (". . ." from a beam in a pause) is no caption.
            words.extend(
                dataclasses.replace(w, start=w.start + offset, end=w.end + offset)
                for w in segment.words
                if _bare(w.text)
            )
        if self._vad is not None:
            words = [w for w in words if self._vad.heard(w, self._options.speech_pad)]
        if self._held is not None:
            self._settle_held(words)
        # An ellipsis marks where Whisper heard a pause, not punctuation a caption needs.
        words = [dataclasses.replace(w, text=_ELLIPSIS.sub("", w.text)) for w in words]
        return self._after_committed(_without_loops(words))

    def _agree(self, words: list[whisper.Word]) -> Update:
        """LocalAgreement-2: commits the common prefix of this hypothesis and the previous."""
        agreed = _agreement(words, self._hypothesis)
        # A word that reaches the end of the audio may be the start of a longer one ("in" of
        # "invented"): it waits for a decode that hears past it.
        heard_until = self._decoded_until / SAMPLE_RATE - WORD_END_MARGIN
        while agreed and words[agreed - 1].end > heard_until:
            agreed -= 1
        final = words[:agreed]
        self._hypothesis = words[agreed:]
        final = self._commit(final, last=not self._hypothesis)
        if self._buffer_seconds() > self._options.max_buffer_seconds:
            forced, self._hypothesis = self._hypothesis, []
            final += self._commit(forced, last=True)
            self._cut(round(self._committed_end * SAMPLE_RATE) if self._committed else self._received)
        else:
            self._trim_context()
        return Update(final=self._with_marks(final), interim=self._interim(), processed=self.processed())

    def _endpoint(self, end: int, at: float) -> Update:
        """Speech ended: decode up to `end` and commit everything. The buffer stays, so a short
        pause keeps what was said before it as context; step() cuts it after a long one."""
        words = self._decode(end) if end > self._buffer_start else []
        words += _left_out(words, self._hypothesis, after=self._committed_end)
        self._hypothesis = []
        final = self._commit(words, last=True)
        self._trim_context()
        return Update(
            final=self._with_marks(final),
            interim=self._interim(),
            event=SPEECH_END,
            event_offset=at,
            processed=self.processed(),
        )

    def _commit(self, words: list[whisper.Word], *, last: bool) -> list[whisper.Word]:
        """Commits words; returns them as committed. With `last` (no words decoded after them)
        the final word's trailing punctuation is held until a decode hears what follows."""
        # Finals never go back in time. Whisper may stretch a word over what follows it (its
        # end at the decode's end); once committed, a later decode puts the words it covered
        # where they were said, before that end.
        floor = self._committed_end
        words = [w if w.start >= floor else dataclasses.replace(w, start=floor, end=max(w.end, floor)) for w in words]
        if words and self._held is not None:
            self._settle_held(None)
        if words and self._sentence_ended:  # the decode that settled the mark may not have known
            first = words[0].text
            start = len(first) - len(first.lstrip())
            words[0] = dataclasses.replace(
                words[0], text=first[:start] + first[start : start + 1].upper() + first[start + 1 :]
            )
        if last and words:
            text = words[-1].text
            stem = _TRAILING_MARK.sub("", text)
            self._held, self._held_mark = dataclasses.replace(words[-1], text=stem), text[len(stem) :]
            words[-1] = self._held
        for w in words:
            self._committed.append(w)
            self._committed_end = max(self._committed_end, w.end)
            self._sentence_ended = w.text.rstrip().endswith(SENTENCE_END)
        return words

    def _settle_held(self, words: list[whisper.Word] | None) -> None:
        """Gives the held word its punctuation from a decode that continues past it (`words`,
        before committed ones are dropped); None settles it as first heard (the buffer moved
        on). Waits while the decode has nothing after the held word."""
        held = self._held
        if words is not None:
            after = [w for w in words if w.start >= held.end - COMMIT_TIME_TOLERANCE]
            same = [
                w for w in words if _bare(w.text) == _bare(held.text) and abs(w.end - held.end) <= HELD_WORD_SECONDS
            ]
            if same:
                after = [w for w in words if w.start > same[-1].start]
            if not after:
                return
            if same:
                found = _TRAILING_MARK.search(same[-1].text)
                mark = re.sub(r"\.\.+|…", "", found.group()) if found else ""
            else:  # Whisper heard it differently; the next word's case says whether a sentence ended
                first = after[0].text.strip()
                mark = "" if first[:1].islower() else re.sub(r"[.…]+", ".", self._held_mark)
        else:  # as first heard, an ellipsis read as the sentence end it most likely was
            mark = re.sub(r"[.…]+", ".", self._held_mark)
        self._held, self._held_mark = None, ""
        if mark:
            word = whisper.Word(mark, held.end, held.end, 1.0)
            self._committed.append(word)
            self._marks.append(word)
            self._sentence_ended = mark.endswith(SENTENCE_END)

    def _with_marks(self, words: Iterable[whisper.Word]) -> tuple[whisper.Word, ...]:
        """The punctuation settled since the last update, then `words`."""
        marks, self._marks = self._marks, []
        return (*marks, *words)

    def _after_committed(self, words: list[whisper.Word]) -> list[whisper.Word]:
        """Drops the words of a hypothesis that were already committed.

        The committed words still in the buffer are decoded again; they are found by aligning
        their text with the start of the hypothesis rather than by time, since Whisper's word
        times drift across a pause. A phrase really said twice is in the hypothesis twice, so
        only its first time aligns. After a cut, a decode may instead copy the prompt's end."""
        committed = [_bare(w.text) for w in self._committed if _bare(w.text)]
        if committed:
            return words[_aligned_prefix(committed, words, self._committed_end) :]
        if not words or words[0].start > self._buffer_start / SAMPLE_RATE + OVERLAP_SECONDS:
            return words
        tail = _bare(self._history).split()[-OVERLAP_NGRAM:]
        head = [_bare(w.text) for w in words[:OVERLAP_NGRAM]]
        for n in range(min(len(tail), len(head)), 1, -1):
            if tail[-n:] == head[:n]:
                return words[n:]
        return words

    def _interim(self) -> tuple[whisper.Word, ...] | None:
        if not self._options.interim_results:
            return None
        texts = tuple(w.text for w in self._hypothesis)
        if texts == self._interim_sent:
            return None
        self._interim_sent = texts
        return tuple(self._hypothesis)

    def _prompt(self) -> str | None:
        """The committed text before the buffer, when the buffer holds none of it: committed
        audio in the buffer is the better context, and with tiny.en a text prompt beside it
        makes Whisper repeat itself (paced long-form WER 0.080 without, 0.091 with the last 60
        characters, 0.110 with 200: bench/live_latency.py --paced --simulate)."""
        text = self._history.strip()
        if not text:
            return self._options.initial_prompt
        return None if self._committed else text[-PROMPT_CHARS:]

    # --- the buffer --------------------------------------------------------------------------

    def _buffer_seconds(self) -> float:
        return len(self._audio) / SAMPLE_RATE

    def _trim_context(self) -> None:
        """Cuts the buffer so about context_seconds of committed audio stay in it, at the end
        of a committed word. The held word stays, so a decode can still give it its
        punctuation."""
        keep_from = self._committed_end - self._options.context_seconds
        if keep_from <= self._buffer_start / SAMPLE_RATE:
            return
        ends = [w.end for w in self._committed if w is not self._held and keep_from <= w.end]
        if ends:
            self._cut(round(min(ends) * SAMPLE_RATE))

    def _cut(self, sample: int) -> None:
        """Drops the buffer before stream sample `sample`; committed words there become history."""
        sample = min(max(sample, self._buffer_start), self._buffer_start + len(self._audio))
        self._audio = self._audio[sample - self._buffer_start :]
        self._buffer_start = sample
        at = sample / SAMPLE_RATE
        if self._held is not None and self._held.end <= at + COMMIT_TIME_TOLERANCE:
            self._settle_held(None)
        gone = [w for w in self._committed if w.end <= at + COMMIT_TIME_TOLERANCE]
        if gone:
            self._history = (self._history + "".join(w.text for w in gone))[-4 * PROMPT_CHARS :]
            self._committed = self._committed[len(gone) :]
        if self._vad is not None:
            self._vad.forget_before(at - self._options.speech_pad)


def stability(words: Iterable[whisper.Word]) -> float:
    """An interim result's chance to stay as it is: the mean word probability."""
    probabilities = [w.probability for w in words]
    return float(np.mean(probabilities)) if probabilities else 0.0


def _agreement(words: list[whisper.Word], previous: list[whisper.Word]) -> int:
    """LocalAgreement's count: the longest prefix of `words` whose letters (no spaces or
    marks) begin `previous` and end where one of its words ends, so that "fat-mutton" agrees
    with "fat mutton"."""
    said = _letters(previous)
    ends = set(itertools.accumulate(len(_letters([w])) for w in previous))
    agreed, text = 0, ""
    for k, w in enumerate(words, 1):
        text += _letters([w])
        if not said.startswith(text):
            break
        if len(text) in ends:
            agreed = k
    return agreed


def _left_out(words: list[whisper.Word], pending: list[whisper.Word], *, after: float) -> list[whisper.Word]:
    """The pending words (shown as interim) that a last decode stopped short of: tiny.en may end
    a decode early or loop at its end, and words a viewer saw must not vanish at an endpoint.
    Those starting after the decode's last word (or `after`), less the words it ends with."""
    last = words[-1].end if words else after
    tail = [w for w in pending if w.start >= last - COMMIT_TIME_TOLERANCE]
    heard = _letters(words[-OVERLAP_NGRAM:])
    for n in range(len(tail), 0, -1):
        if heard.endswith(_letters(tail[:n])):  # "fattened" after "flower-fattened"
            return tail[n:]
    return tail


def _letters(words: Iterable[whisper.Word]) -> str:
    return "".join(_bare(w.text).replace(" ", "") for w in words)


def _aligned_prefix(committed: list[str], words: list[whisper.Word], committed_end: float) -> int:
    """How many of `words` are the committed words decoded again: the prefix whose text is
    closest (edit distance) to `committed`, the one ending nearest committed_end among equals
    (the empty prefix "ends" where the first word starts). Words whose letters join up match
    at no cost, so a committed "flower-fattened" aligns with "flower fattened" and not half."""
    if not words:
        return 0
    said = [word.replace(" ", "") for word in committed]
    bare = [_bare(w.text).replace(" ", "") for w in words]
    rows = [list(range(len(bare) + 1))]  # rows[i][j]: distance of committed[:i] to bare[:j]
    for i, word in enumerate(said, 1):
        previous = rows[-1]
        current = [previous[0] + 1]
        for j, other in enumerate(bare, 1):
            substitution = 0.0 if word == other else 0.5 if word.startswith(other) or other.startswith(word) else 1.0
            best = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + substitution)
            for n in range(2, MAX_JOINED_WORDS + 1):
                if j >= n and "".join(bare[j - n : j]) == word:  # one committed word heard as n
                    best = min(best, previous[j - n])
                if i >= n and "".join(said[i - n : i]) == other:  # n committed words heard as one
                    best = min(best, rows[i - n][j - 1])
            current.append(best)
        rows.append(current)
    return min(
        range(len(bare) + 1),
        key=lambda j: (rows[-1][j], abs((words[j - 1].end if j else words[0].start) - committed_end)),
    )


def _bare(text: str) -> str:
    return re.sub(r"[^\w' ]+", "", text.lower()).strip()


def _spurious(segment: whisper.Segment) -> bool:
    """Whisper's marks of a window that held no speech, invented or looping text, or a
    stock phrase or a few words heard without confidence."""
    if segment.no_speech_probability > NO_SPEECH_PROBABILITY and segment.average_log_probability < LOW_LOG_PROBABILITY:
        return True
    words = segment.words
    span = max(words[-1].end - words[0].start, 0.1) if words else 0.0
    if len(words) >= MIN_WORDS_FOR_RATE and len(words) / span > MAX_WORDS_PER_SECOND:
        return True
    text = segment.text.strip()
    if text and len(text) > 20:
        encoded = text.encode("utf-8")
        if len(encoded) / len(zlib.compress(encoded)) > MAX_COMPRESSION_RATIO:
            return True
    heard = [w.probability for w in words]
    if _bare(text) in STOCK_PHRASES:
        return not heard or min(heard) < STOCK_PHRASE_MIN_PROBABILITY
    return 0 < len(heard) <= SHORT_SEGMENT_WORDS and np.mean(heard) < SHORT_SEGMENT_MIN_PROBABILITY


def _without_loops(words: list[whisper.Word]) -> list[whisper.Word]:
    """Drops Whisper's loops: an n-gram repeated more than MAX_REPEATS times in a row, and a
    repeat squeezed into much less time than the first saying (invented past the audio's end
    rather than heard)."""
    bare = [_bare(w.text) for w in words]
    keep = [True] * len(words)
    for n in range(1, MAX_REPEAT_NGRAM + 1):
        i = 0
        while i + n <= len(words):
            gram = bare[i : i + n]
            said = words[i + n - 1].end - words[i].start
            j = i + n
            repeats = 1
            while bare[j : j + n] == gram:
                repeats += 1
                if repeats > MAX_REPEATS or words[j + n - 1].end - words[j].start < LOOP_SPAN_SHARE * said:
                    keep[j : j + n] = [False] * n
                j += n
            i = j if repeats > 1 else i + 1
    return [w for w, k in zip(words, keep) if k]

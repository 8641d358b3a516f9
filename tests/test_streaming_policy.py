"""The streaming policy on its own: guards, agreement, VAD, with the real tiny.en and Silero."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest

from sidecar.config import ServerConfig
from sidecar.engines import streaming, whisper
from sidecar.errors import InvalidOptionsError
from sidecar.runtime.runtime import Runtime
from tests.conftest import normalize, word_error_rate
from tests.streaming_fixtures import SAMPLE_RATE, boundary_errors, speech


def words(text: str, start: float = 0.0, step: float = 0.4, probability: float = 0.9):
    return [
        whisper.Word(f" {t}", start + i * step, start + (i + 1) * step - 0.05, probability)
        for i, t in enumerate(text.split())
    ]


def segment(
    text: str, *, probability: float = 0.9, step: float = 0.4, no_speech: float = 0.01, log_probability: float = -0.2
) -> whisper.Segment:
    ws = tuple(words(text, step=step, probability=probability))
    return whisper.Segment(0, ws[0].start, ws[-1].end, text, ws, log_probability, no_speech)


def test_loops_collapse_but_a_word_said_twice_stays():
    text = " ".join(
        w.text.strip()
        for w in streaming._without_loops(words("it was very very good I said I said I said I said yes yes yes yes"))
    )
    assert text == "it was very very good I said I said yes yes"


def test_a_repeat_squeezed_past_the_audio_is_a_loop_and_one_said_in_time_is_not():
    said = words("produced the block books", start=23.8, step=0.45)
    squeezed = [whisper.Word(w.text, 25.6 + i * 0.01, 25.6 + i * 0.01, 0.9) for i, w in enumerate(said)]
    assert streaming._without_loops(said + squeezed) == said
    again = words("produced the block books", start=25.7, step=0.4)
    assert streaming._without_loops(said + again) == said + again


def test_committed_words_are_found_again_by_their_text_not_their_times():
    committed = ["by", "a", "similar", "process"]
    late = words("by a similar process produced the", start=21.5, step=0.5)  # times drifted by a second
    assert streaming._aligned_prefix(committed, late, committed_end=21.0) == 4
    changed = words("by a similar processes produced", start=20.0)  # a word heard differently
    assert streaming._aligned_prefix(committed, changed, committed_end=21.6) == 4
    twice = words("by a similar process by a similar process", start=19.4)  # said twice: once committed
    assert streaming._aligned_prefix(committed, twice, committed_end=21.0) == 4
    assert streaming._aligned_prefix(committed, words("produced the", start=22.0), committed_end=21.0) == 0


def test_a_committed_compound_aligns_with_its_parts_and_is_not_said_again():
    """tiny.en writes "flour-fattened" as one word in one decode and as two in the next: the
    second word of the pair must not come out again after the committed compound."""
    committed = ["in", "thick", "peppered", "flourfattened"]
    parts = words("in thick peppered flour fattened sauce", start=10.0)
    assert streaming._aligned_prefix(committed, parts, committed_end=12.0) == 5
    joined = words("in thick peppered flour-fattened sauce", start=10.0)
    assert streaming._aligned_prefix(["in", "thick", "peppered", "flour", "fattened"], joined, committed_end=12.0) == 4


def test_guards_drop_what_whisper_invents():
    assert streaming._spurious(segment("Thank you.", probability=0.4))
    assert not streaming._spurious(segment("Thank you.", probability=0.95))
    assert streaming._spurious(segment("you", probability=0.3))
    assert streaming._spurious(segment("and so it goes", no_speech=0.9, log_probability=-1.5))
    assert streaming._spurious(segment("For more information visit www.example.com", step=0.05))
    assert streaming._spurious(segment("la la la la la la la la la la la la la la la la la"))
    assert streaming._spurious(segment("Here we go.", probability=0.3))
    assert not streaming._spurious(segment("Here we go.", probability=0.8))
    assert not streaming._spurious(segment("He could wait no longer.", probability=0.3))


@pytest.mark.parametrize(
    "change, message",
    [
        ({"beam_size": 0}, "beam size"),
        ({"speech_threshold": 1.0}, "threshold"),
        ({"endpoint_silence": 0.0}, "endpoint silence"),
        ({"decode_interval": 10.0}, "decode interval"),
        ({"context_seconds": 25.0, "max_buffer_seconds": 20.0}, "buffer lengths"),
    ],
)
def test_options_out_of_range_are_named(change, message):
    with pytest.raises(InvalidOptionsError, match=message):
        dataclasses.replace(streaming.StreamingOptions(), **change).validate()


def test_vad_finds_speech_in_chunks_of_any_size():
    audio, _ = speech("1089-134691-0000", lead=1.0, tail=1.0)  # spoken from 1.6 s to 2.75 s
    vad = streaming.VoiceActivity(threshold=0.5, endpoint_silence=0.5)
    events = []
    rng = np.random.default_rng(1)
    at = 0
    while at < len(audio):
        size = int(rng.integers(1, 3000))
        events += vad.feed(audio[at : at + size])
        at += size
    assert [kind for kind, _ in events] == [streaming.SPEECH_BEGIN, streaming.SPEECH_END]
    assert events[0][1] == pytest.approx(1.6, abs=0.15)
    assert events[1][1] == pytest.approx(2.75, abs=0.15)
    assert streaming.VoiceActivity(0.5, 0.5).feed(np.zeros(3 * SAMPLE_RATE, np.float32)) == []


@pytest.fixture(scope="module")
def engine():
    return Runtime(ServerConfig()).whisper("tiny.en")


class CountingDecodes:
    """The real engine, counting its decodes."""

    def __init__(self, engine) -> None:
        self.engine, self.decodes = engine, 0

    def transcribe(self, *args, **kwargs):
        self.decodes += 1
        return self.engine.transcribe(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.engine, name)


def test_a_stream_that_ends_mid_speech_is_decoded_once_more_not_twice(engine):
    audio, reference = speech("1089-134686-0000", lead=0.3, tail=0.0)  # cut while speaking
    counting = CountingDecodes(engine)
    recognizer = streaming.StreamingRecognizer(counting, streaming.StreamingOptions())
    last_step = len(audio) - 3 * SAMPLE_RATE // 2  # an interim decode is due at the end
    updates = []
    for at in range(0, last_step, SAMPLE_RATE):
        recognizer.accept(audio[at : min(at + SAMPLE_RATE, last_step)])
        updates += recognizer.step()
    recognizer.accept(audio[last_step:])
    before = counting.decodes
    updates += recognizer.finish()
    assert counting.decodes - before == 1
    said = " ".join("".join(w.text for w in u.final).strip() for u in updates if u.final)
    assert word_error_rate(reference, said) < 0.2, said


def test_local_agreement_commits_each_word_once(engine):
    """Fed in 0.1 s chunks with a decode every second, as a live stream on a slow CPU."""
    audio, reference = speech("1089-134686-0000", lead=0.3, tail=1.0)  # one 10 s utterance
    recognizer = streaming.StreamingRecognizer(engine, streaming.StreamingOptions(context_seconds=2.0))
    finals, interims, updates = [], [], []
    for i, at in enumerate(range(0, len(audio), SAMPLE_RATE // 10)):
        recognizer.accept(audio[at : at + SAMPLE_RATE // 10])
        if i % 10 == 9:
            updates += recognizer.step()
    updates += recognizer.finish()
    for update in updates:
        if update.final:
            finals.append("".join(w.text for w in update.final).strip())
        if update.interim:
            interims.append("".join(w.text for w in update.interim).strip())
    assert len(finals) >= 3, finals  # committed by agreement before the utterance ended
    assert interims
    assert word_error_rate(reference, " ".join(finals)) <= 0.12
    assert boundary_errors(reference, finals) == []
    assert [u.event for u in updates if u.event] == [streaming.SPEECH_BEGIN, streaming.SPEECH_END]


def test_a_trimmed_window_keeps_the_audio_and_a_margin():
    features = np.zeros((80, 3000), np.float32)
    features[:, :420] = -0.5  # 4.2 s of audio, then faster-whisper's zero padding
    assert whisper.trimmed_frames(features) == whisper.MIN_TRIMMED_FRAMES
    features[:, :2500] = -0.5
    assert whisper.trimmed_frames(features) == 2500 + whisper.TRIM_MARGIN_FRAMES
    features[:, :] = -0.5
    assert whisper.trimmed_frames(features[None]) == 3000  # a full window is never cut
    assert whisper.trimmed_frames(np.zeros((80, 3000), np.float32)) == whisper.MIN_TRIMMED_FRAMES


def test_trimmed_windows_transcribe_like_whole_ones(engine):
    """Live re-decodes encode only the audio (far less work); the words and times hold."""
    audio, reference = speech("1089-134691-0001", lead=0.3, tail=0.3)
    whole = whisper.TranscriptionOptions(language="en", vad_filter=False, beam_size=1)
    trimmed = dataclasses.replace(whole, trim_window=True, temperature_fallback=False, max_new_tokens=80)
    results = {}
    for name, options in (("whole", whole), ("trimmed", trimmed)):
        results[name] = [w for s in engine.transcribe(audio, options)[1] for w in s.words]
    text = " ".join(w.text for w in results["trimmed"])
    assert word_error_rate(reference, text) <= 0.1, text
    assert [w.text for w in results["trimmed"]] == [w.text for w in results["whole"]]
    for a, b in zip(results["trimmed"], results["whole"]):
        assert abs(a.start - b.start) <= 0.2 and abs(a.end - b.end) <= 0.2


def test_a_decode_that_loops_is_cut_at_its_token_bound(engine):
    audio, _ = speech("1089-134691-0000", lead=0.3, tail=0.3)
    options = whisper.TranscriptionOptions(
        language="en", vad_filter=False, beam_size=1, temperature_fallback=False, max_new_tokens=3
    )
    segments = list(engine.transcribe(audio, options)[1])
    assert len("".join(s.text for s in segments).split()) <= 3
    with pytest.raises(InvalidOptionsError, match="max new tokens"):
        dataclasses.replace(options, max_new_tokens=0).validate(multilingual=False, model_name="tiny.en")


def stream(engine, audio: np.ndarray, **options) -> list[str]:
    """The finals of one stream fed in 0.1 s chunks with a step after each, as a fast CPU would."""
    recognizer = streaming.StreamingRecognizer(engine, streaming.StreamingOptions(**options))
    updates = []
    for at in range(0, len(audio), SAMPLE_RATE // 10):
        recognizer.accept(audio[at : at + SAMPLE_RATE // 10])
        updates += recognizer.step()
    updates += recognizer.finish()
    return ["".join(w.text for w in u.final) for u in updates if u.final]


def with_pause_after(engine, uid: str, word: str, pause: float) -> tuple[np.ndarray, str]:
    """A LibriSpeech clip with `pause` s of silence put in after `word`, at the quietest 20 ms
    between it and the next word (as the speaker would have paused)."""
    audio, reference = speech(uid, lead=0.3, tail=1.0)
    options = whisper.TranscriptionOptions(language="en", word_timestamps=True, vad_filter=False)
    said = [w for s in engine.transcribe(audio, options)[1] for w in s.words]
    [at] = [k for k, w in enumerate(said[:-1]) if w.text.strip(" ,.").lower() == word]
    low, high = int(said[at].end * SAMPLE_RATE), int(said[at + 1].start * SAMPLE_RATE)
    energy = np.convolve(audio**2, np.ones(320), mode="same")
    cut = low + int(np.argmin(energy[low : max(high, low + 1)]))
    return np.concatenate([audio[:cut], np.zeros(int(pause * SAMPLE_RATE), np.float32), audio[cut:]]), reference


def test_a_pause_mid_sentence_ends_no_sentence_and_loses_no_word(engine):
    """The pause ends an utterance (the words before it become final at once) but not the
    sentence: no full stop or capital at the commit, no word lost or said twice across it."""
    audio, reference = with_pause_after(engine, "1089-134686-0000", "bruised", pause=0.9)
    finals = stream(engine, audio)
    text = "".join(finals)
    assert word_error_rate(reference, text) <= 0.12, text
    assert boundary_errors(reference, finals) == [], finals
    # The word after the pause keeps at least its start: on an AVX-512 CPU tiny.en's int8
    # decode gives "bruised p-" where other CPUs give "bruised potatoes" (an open defect).
    assert re.search(r"bruised\W*p", text, re.IGNORECASE), text
    assert not re.search(r"bruised[.?!]|[.?!]\s*Potatoes", text), text
    assert len(finals) >= 2, "the words before the pause were final before the words after it"


def test_a_phrase_said_twice_is_captioned_twice(engine):
    """A phrase repeated after a short pause is two phrases, not a re-decode to drop."""
    once, _ = speech("1089-134691-0000", lead=0.0, tail=0.0)  # "He could wait no longer."
    gap = np.zeros(int(0.7 * SAMPLE_RATE), np.float32)
    audio = np.concatenate([gap, once, gap, once, gap, gap])
    text = "".join(stream(engine, audio))
    assert normalize(text) == normalize("he could wait no longer he could wait no longer"), text


def test_after_a_long_pause_nothing_is_copied_from_the_words_before(engine):
    """A new buffer after a long pause is decoded with the committed text as its prompt, which
    Whisper can copy into its output; the copy is dropped, the new words kept."""
    audio, reference = speech("1089-134691-0001", "1089-134686-0001", pause=3.0, tail=3.0)
    finals = stream(engine, audio)
    assert word_error_rate(reference, "".join(finals)) <= 0.15, finals
    assert boundary_errors(reference, finals) == [], finals
    assert "".join(finals).strip().endswith(".") and "".join(finals).count("longer") == 1, finals


def test_a_stream_sent_faster_than_real_time_is_stepped_in_fixed_pieces(engine):
    """A client ahead of the wall clock (a file sent at once) is stepped at multiples of
    CATCH_UP_SECONDS whatever has arrived; a real-time client's backlog is taken whole."""
    silence = np.zeros(7 * SAMPLE_RATE, np.float32)  # nothing to decode: only the stepping
    ahead = streaming.StreamingRecognizer(engine, streaming.StreamingOptions())
    ahead.accept(silence)
    stepped = []
    while ahead.pending and not ahead.holding:
        ahead.step(real_time=0.0)
        stepped.append(round(7.0 - ahead.pending, 6))
    whole = [k * streaming.CATCH_UP_SECONDS for k in range(1, int(7.0 // streaming.CATCH_UP_SECONDS) + 1)]
    assert stepped == whole and ahead.holding  # the rest waits for a whole piece, or finish()
    ahead.finish()
    assert ahead.pending == 0
    live = streaming.StreamingRecognizer(engine, streaming.StreamingOptions())
    live.accept(silence[: 5 * SAMPLE_RATE])
    live.step(real_time=4.5)  # what a real-time client can have sent, though it ends between pieces
    assert live.pending == 0.5 and live.holding
    live.step(real_time=5.0)
    assert live.pending == 0 and not live.holding


def test_captions_of_a_fast_stream_do_not_depend_on_how_its_audio_arrived(engine):
    """The same audio arriving in 0.1 s messages or in 7 s bursts, as a loaded server takes
    it, gives the same finals (taking each backlog whole, a busy CPU's 4-6 s steps turned
    "stuff it into you ... counselled him" into "stuffed into you ... how it sold him")."""
    audio, reference = speech("1089-134686-0000", "1089-134691-0000", lead=0.3)

    def finals(message_seconds: float) -> list[str]:
        recognizer = streaming.StreamingRecognizer(engine, streaming.StreamingOptions())
        size, updates = round(message_seconds * SAMPLE_RATE), []
        for at in range(0, len(audio), size):
            recognizer.accept(audio[at : at + size])
            updates += recognizer.step(real_time=0.0)
            while recognizer.pending and not recognizer.holding:  # as the server steps
                updates += recognizer.step(real_time=0.0)
        updates += recognizer.finish()
        return ["".join(w.text for w in u.final) for u in updates if u.final]

    trickled, burst = finals(0.1), finals(7.0)
    assert trickled == burst
    assert word_error_rate(reference, "".join(burst)) <= 0.12, burst


def test_agreement_reads_letters_so_a_hyphen_does_not_hold_words_back():
    """tiny.en alternates "fat-mutton" and "fat mutton" between decodes; compared word by
    word they never agreed, and the words after them waited until the stream ended."""
    assert streaming._agreement(words("fat-mutton pieces to"), words("fat mutton pieces")) == 2
    assert streaming._agreement(words("fat mutton pieces"), words("fat-mutton pieces to")) == 3
    assert streaming._agreement(words("fat mutton"), words("fat-mutton pieces")) == 2
    assert streaming._agreement(words("fat"), words("fat-mutton")) == 0  # not at a word's end
    assert streaming._agreement(words("He hoped there"), words("He hoped their")) == 2


class StopsShort:
    """The real tiny.en, except that once `armed` its decodes lose their last `drop` words:
    what tiny.en did in 1 of 20 live runs of this clip on a busy CPU (it looped at the
    buffer's end and the guards dropped the loop, or it ended the decode early)."""

    def __init__(self, engine, drop: int) -> None:
        self.engine, self.drop, self.armed = engine, drop, False
        self.name, self.multilingual = engine.name, engine.multilingual

    def transcribe(self, audio, options, **kwargs):
        info, segments = self.engine.transcribe(audio, options, **kwargs)
        if not self.armed:
            return info, segments
        segments = list(segments)
        said = [w for s in segments for w in s.words][: -self.drop]
        if not said:
            return info, []
        text = "".join(w.text for w in said)
        return info, [dataclasses.replace(segments[0], words=tuple(said), text=text, end=said[-1].end)]


def test_words_shown_as_interim_are_final_when_the_last_decode_stops_short(engine):
    audio, reference = speech("1089-134686-0000", lead=0.3, tail=0.0)  # ends in speech: finish() commits
    short = StopsShort(engine, drop=3)
    recognizer = streaming.StreamingRecognizer(short, streaming.StreamingOptions())
    updates = []
    for i, at in enumerate(range(0, len(audio), SAMPLE_RATE // 10)):
        recognizer.accept(audio[at : at + SAMPLE_RATE // 10])
        if i % 10 == 9:
            updates += recognizer.step()
    updates += recognizer.step()  # all audio decoded: finish() decodes once more, for the endpoint
    shown = normalize("".join(w.text for w in [u for u in updates if u.interim][-1].interim))
    short.armed = True
    updates += recognizer.finish()
    said = [w for u in updates for w in u.final]
    text = normalize("".join(w.text for w in said))
    assert len(shown) >= 2 and text[-len(shown) :] == shown, (shown, text)  # the last interim, final
    assert word_error_rate(reference, " ".join(text)) <= 0.12, text
    assert all(a.end <= b.start + 1e-6 for a, b in zip(said, said[1:])), said


def test_the_words_a_last_decode_ends_with_are_not_added_again():
    decoded = words("peppered flower-fattened", start=8.3, step=0.6)
    pending = words("fattened sauce", start=9.0, step=0.5)
    assert [w.text for w in streaming._left_out(decoded, pending, after=0.0)] == [" sauce"]
    assert [w.text for w in streaming._left_out(decoded[:1], pending, after=0.0)] == [" fattened", " sauce"]
    assert streaming._left_out([], pending, after=9.5) == pending[1:]


def test_finals_never_go_back_in_time(engine):
    """A word Whisper stretched to the end of a decode and committed keeps that end; the words
    a later decode places inside it start where it ends (a client that drops words "already
    captioned" by time lost "ladled out in thick peppered" to a stretched "be")."""
    recognizer = streaming.StreamingRecognizer(engine, streaming.StreamingOptions())
    first = recognizer._commit([whisper.Word(" to", 6.5, 6.8, 0.9), whisper.Word(" be", 6.8, 9.2, 0.9)], last=False)
    later = recognizer._commit(words("ladled out in thick peppered", start=7.0, step=0.6), last=False)
    assert [w.text for w in first + later] == [" to", " be", " ladled", " out", " in", " thick", " peppered"]
    assert all(a.end <= b.start and b.start <= b.end for a, b in zip(first + later, (first + later)[1:]))
    assert later[0].start == 9.2 and later[-1].start == 9.4  # the words after the stretched one keep their times


def test_final_words_gather_into_sentences_for_translation():
    """A sentence ends at its closing mark; a mark settled after an endpoint already ended the
    sentence is not one of its own; a speaker who never pauses still gets sentences."""
    from sidecar.pipelines.sentence_translation import MAX_SENTENCE_CHARS, Sentences

    gathered = Sentences()
    assert gathered.add(words("He could wait")) == []
    done = gathered.add(
        [*words("no longer", start=1.2), whisper.Word(".", 1.95, 1.95, 1.0), *words("Stuff", start=2.5)]
    )
    assert [(s.text, s.start, s.end) for s in done] == [("He could wait no longer.", 0.0, 1.95)]
    assert [s.text for s in gathered.flush()] == ["Stuff"]  # an endpoint
    assert gathered.add([whisper.Word(".", 2.85, 2.85, 1.0)]) == [] and gathered.flush() == []
    rambling = gathered.add(words(" ".join(["and then"] * 60), start=3.0))
    assert len(rambling) >= 2 and all(len(s.text) < MAX_SENTENCE_CHARS + 10 for s in rambling)
    assert " ".join(s.text for s in rambling + gathered.flush()) == " ".join(["and then"] * 60)

"""Cue building and the SRT, WebVTT and Audacity label formats (sidecar_common.subtitles)."""

from __future__ import annotations

import dataclasses
import json
import math
import random
import re
from itertools import pairwise

import pytest

from sidecar_common import caption_formats
from sidecar_common.subtitles import (
    LEAD_IN_SECONDS,
    Cue,
    CueRules,
    TimedWord,
    build_cues,
    cues_from_segments,
    format_audacity_labels,
    format_srt,
    format_timestamp,
    format_vtt,
    parse_srt,
)
from tests.cue_rules import check_cues

RULES = CueRules()
CPS_TOLERANCE = 0.02  # cue times are whole milliseconds, so measured speed can be off a hair
PARAGRAPH = (
    "When the rain finally stopped, we walked down to the old harbour together and watched "
    "the boats. Nobody said a word for a long time, because there was nothing left to say. "
    "Then my sister laughed, and the spell was broken. We went home."
)


def words_from(sentence: str, start: float = 0.0, rate: float = 15.0, speaker: str | None = None):
    """Whisper-style words (leading space) spoken back to back at `rate` characters a second."""
    words, at = [], start
    for token in sentence.split():
        length = (len(token) + 1) / rate
        words.append(TimedWord(" " + token, at, at + length, speaker))
        at += length
    return words


def all_text(cues) -> str:
    return " ".join(" ".join(cue.lines) for cue in cues)


def cps(cue: Cue) -> float:
    return sum(map(len, cue.lines)) / (cue.end - cue.start)


# --- text -------------------------------------------------------------------------------------


def test_whisper_spaces_are_stripped_whitespace_collapsed_and_empty_words_skipped():
    words = [
        TimedWord(" Hello,", 0.0, 0.4),
        TimedWord("   ", 0.4, 0.5),
        TimedWord("", 0.5, 0.5),
        TimedWord(" big\t\n world.", 0.5, 1.2),
    ]
    [cue] = build_cues(words)
    assert cue.lines == ("Hello, big world.",)
    assert cue.text == "Hello, big world."


def test_punctuation_sent_alone_joins_the_word_before_and_ends_its_sentence():
    """Live streams send a word's trailing mark on its own once they heard what followed."""
    words = [*words_from("the rain finally stopped"), TimedWord(".", 1.6, 1.6)]
    words += words_from("Nobody said a word for a long time because there was nothing left to say", start=1.7)
    cues = build_cues(words)
    assert cues[0].text.endswith("finally stopped."), "the mark ends the sentence and closes its cue"
    assert all(" ." not in cue.text and not cue.text.startswith(".") for cue in cues)


def test_a_word_that_starts_with_a_mark_and_no_space_joins_the_word_before():
    """Whisper decodes "www.Marxists.org" as " www", ".Marxists", ".org" (issue 17)."""
    words = [
        TimedWord(" Read", 0.0, 0.3, probability=0.9),
        TimedWord(" it", 0.3, 0.5, probability=0.9),
        TimedWord(" at", 0.5, 0.7, probability=0.9),
        TimedWord(" www", 0.7, 1.0, probability=0.8),
        TimedWord(".Marxists", 1.0, 1.6, probability=0.6),
        TimedWord(".org", 1.6, 1.9, probability=0.7),
        TimedWord(" today,", 2.0, 2.4, probability=0.9),
        TimedWord(" Marx", 2.5, 2.8),
        TimedWord("'s", 2.8, 2.9),
        TimedWord(" work.", 2.9, 3.3),
    ]
    [cue] = build_cues(words)
    assert all_text([cue]) == "Read it at www.Marxists.org today, Marx's work."
    url = cue.words[3]
    assert (url.text, url.start, url.end, url.probability) == ("www.Marxists.org", 0.7, 1.9, 0.6)
    assert [w.text for w in cue.words] == all_text([cue]).split()


def test_no_line_exceeds_max_line_chars_and_no_cue_exceeds_max_lines():
    cues = build_cues(words_from(PARAGRAPH * 3))
    assert len(cues) > 5
    for cue in cues:
        assert 1 <= len(cue.lines) <= RULES.max_lines
        assert all(len(line) <= RULES.max_line_chars for line in cue.lines), cue
    assert all_text(cues) == " ".join((PARAGRAPH * 3).split())


def test_narrower_rules_are_respected():
    rules = CueRules(max_line_chars=20, max_lines=1)
    cues = build_cues(words_from(PARAGRAPH), rules=rules)
    assert all(len(cue.lines) == 1 and len(cue.lines[0]) <= 20 for cue in cues)
    assert all_text(cues) == PARAGRAPH


def test_text_that_fits_one_line_stays_on_one_line():
    [cue] = build_cues(words_from("A short line, and more."))
    assert cue.lines == ("A short line, and more.",)


def test_words_are_never_split_and_an_overlong_word_stands_alone():
    long_word = "Pneumonoultramicroscopicsilicovolcanoconiosis-like"  # 50 characters
    cues = build_cues(words_from(f"It was a case of {long_word} symptoms"))
    lines = [line for cue in cues for line in cue.lines]
    assert long_word in lines  # alone on its line
    assert all(len(line) <= RULES.max_line_chars for line in lines if line != long_word)
    assert all_text(cues).split() == f"It was a case of {long_word} symptoms".split()


# --- line breaking ----------------------------------------------------------------------------


def test_line_break_after_comma_beats_a_slightly_better_balance():
    [cue] = build_cues(words_from("As the sun went down, we packed up the camp in silence"))
    assert cue.lines == ("As the sun went down,", "we packed up the camp in silence")


def test_line_break_before_conjunction():
    [cue] = build_cues(words_from("I bought apples, pears and a melon at the market today"))
    assert cue.lines == ("I bought apples, pears", "and a melon at the market today")


def test_lines_are_balanced_and_bottom_heavy_when_uneven():
    # Eleven four-letter words: 5 on top and 6 below, not 6 and 5, nor a full top line.
    [cue] = build_cues(words_from("blue fish swim past each reef when dark tide runs high"))
    assert cue.lines == ("blue fish swim past each", "reef when dark tide runs high")


def test_no_orphan_word_when_avoidable():
    # On 12-character lines "Take a long" / "walk." is better balanced, but leaves an orphan.
    [cue] = build_cues(words_from("Take a long walk."), rules=CueRules(max_line_chars=12))
    assert cue.lines == ("Take a", "long walk.")


# --- cue boundaries ---------------------------------------------------------------------------


def test_sentence_end_closes_a_cue_of_reasonable_length():
    # Together these would fit one cue (73 characters, under 5 s), yet they become two.
    text = "The bridge was closed for repairs. So we took the long way round."
    cues = build_cues(words_from(text))
    assert [cue.text.replace("\n", " ") for cue in cues] == [
        "The bridge was closed for repairs.",
        "So we took the long way round.",
    ]


def test_short_sentences_share_a_cue():
    [cue] = build_cues(words_from("Yes. No. Maybe later."))
    assert cue.lines == ("Yes. No. Maybe later.",)


def test_cue_boundaries_prefer_clause_punctuation():
    cues = build_cues(words_from(PARAGRAPH))
    texts = [" ".join(cue.lines) for cue in cues]
    assert texts == [
        "When the rain finally stopped,",
        "we walked down to the old harbour together and watched the boats.",
        "Nobody said a word for a long time, because there was nothing left to say.",
        "Then my sister laughed, and the spell was broken.",
        "We went home.",
    ]


def test_long_pause_ends_a_cue_and_a_short_one_does_not():
    first = words_from("It was very late")
    for gap, expected in ((1.2, 2), (0.5, 1)):
        second = words_from("and we left", start=first[-1].end + gap)
        assert len(build_cues(first + second)) == expected


def test_speaker_change_always_starts_a_new_cue():
    words = words_from("Are you coming?", speaker="SPEAKER_00")
    words += words_from("Yes.", start=words[-1].end, speaker="SPEAKER_01")
    words += words_from("Good.", start=words[-1].end, speaker="SPEAKER_00")
    cues = build_cues(words)
    assert [(cue.text, cue.speaker) for cue in cues] == [
        ("Are you coming?", "SPEAKER_00"),
        ("Yes.", "SPEAKER_01"),
        ("Good.", "SPEAKER_00"),
    ]


# --- timing -----------------------------------------------------------------------------------


def test_slow_speech_is_cut_into_cues_of_at_most_max_duration():
    text = "so many words spoken very slowly across a long stretch of time " * 2
    cues = build_cues(words_from(text, rate=4.0))  # about 32 s of speech
    assert len(cues) >= 5
    for cue in cues:
        assert RULES.min_duration <= cue.end - cue.start <= RULES.max_duration


def test_a_single_overlong_word_is_cut_to_max_duration():
    [cue] = build_cues([TimedWord(" Hmmmm", 1.0, 20.0)])
    assert (cue.start, cue.end) == (1.0, 8.0)


def test_a_short_cue_is_extended_to_min_duration():
    [cue] = build_cues([TimedWord(" Hi.", 2.0, 2.3)])
    assert (cue.start, cue.end) == (2.0, 3.0)


def test_extension_stops_at_the_next_cue_and_a_cue_it_stops_starts_early_in_the_silence_before():
    words = [TimedWord(" Hi.", 2.0, 2.3, "A"), TimedWord(" Hello.", 2.5, 3.0, "B")]
    first, second = build_cues(words)
    assert (first.start, first.end) == (1.5, 2.5)  # LEAD_IN_SECONDS early, to stay up 1 s
    assert second.start == 2.5
    well, first, second = build_cues([TimedWord(" Well,", 0.8, 1.0, "C"), *words])
    assert well.end == 1.8 and (first.start, first.end) == (1.8, 2.5)  # never into the cue before


def test_fast_speech_with_short_sentences_still_gives_cues_of_min_duration():
    text = (
        "Fine. We walked home through the park. No. We waited for ages at the stop. "
        "We walked home. It came. We walked home through the park."
    )
    cues = build_cues(words_from(text, rate=25.0))
    assert all(cue.end - cue.start >= RULES.min_duration for cue in cues), cues
    assert all_text(cues) == text


def test_a_short_phrase_after_a_pause_is_not_left_too_fast_to_read():
    """Issue 17: "All the" stood alone, too fast to read, before a long fast sentence."""
    heading = words_from("Chapter one.", rate=12.0)
    sentence = words_from(
        "All the workers of the world have nothing to lose but their chains, and a world to win for themselves today.",
        start=heading[-1].end + 1.2,
        rate=24.0,
    )
    cues = build_cues(heading + sentence)
    check_cues(cues)
    assert all(cps(cue) <= RULES.max_chars_per_second + 1e-9 for cue in cues), cues  # rounded up, not a hair over
    assert cues[1].start < sentence[0].start  # it starts early, in the silence before it
    assert all_text(cues) == all_text(build_cues(heading)) + " " + all_text(build_cues(sentence))


def test_a_word_squeezed_between_a_pause_and_another_speaker_merges_across_the_pause():
    """Neither staying up longer nor starting early gives "honestly." 1 s: merging does."""
    said = words_from("So that is where we stand on the budget for next year,", rate=30.0)
    aside = words_from("honestly.", start=said[-1].end + 1.0, rate=20.0)
    reply = words_from("Right.", start=aside[-1].end + 0.05, speaker="B")
    cues = build_cues(said + aside + reply)
    assert [cue.text.replace("\n", " ") for cue in cues] == [
        "So that is where we stand on the budget for next year, honestly.",
        "Right.",
    ]
    check_cues(cues)


def test_a_dense_cue_is_extended_to_reading_speed():
    text = "Forty characters of text said in a rush"  # 39 characters, spoken in 1.3 s
    [cue] = build_cues(words_from(text, start=1.0, rate=30.0), media_duration=60.0)
    assert cue.start == 1.0
    assert cue.end == pytest.approx(1.0 + 39 / 20, abs=0.001)


def test_reading_speed_decides_where_cues_end():
    # A fast phrase, a short breath, then fast speech to near the end of the media. Cutting
    # after the comma would be natural, but the first cue could then not be read in time.
    a = words_from("one two three four five six seven eight", rate=30.0)
    b = words_from("nine ten eleven twelve thirteen fourteen,", start=a[-1].end + 0.9, rate=30.0)
    c = words_from("fifteen sixteen seventeen eighteen nineteen", start=b[-1].end, rate=30.0)
    words, media_end = a + b + c, c[-1].end + 2.0
    cues = build_cues(words, media_end)
    assert all(cps(cue) <= RULES.max_chars_per_second + CPS_TOLERANCE for cue in cues), cues
    # Without the limit the same words give a cue that is too fast to read.
    unlimited = build_cues(words, media_end, CueRules(max_chars_per_second=1e6))
    assert all_text(unlimited) == all_text(cues)
    assert max(cps(cue) for cue in unlimited) > RULES.max_chars_per_second + 1


def test_steady_speech_within_the_limit_gives_readable_cues_of_legal_length():
    cues = build_cues(words_from(PARAGRAPH * 2, rate=16.0))
    for cue in cues:
        assert cps(cue) <= RULES.max_chars_per_second + CPS_TOLERANCE
        assert RULES.min_duration <= cue.end - cue.start <= RULES.max_duration


def test_times_are_clamped_into_the_media():
    words = [
        TimedWord(" Early", -0.5, 0.3),
        TimedWord(" words", 0.3, 0.8),
        TimedWord(" and", 4.0, 4.6),
        TimedWord(" late", 4.7, 5.6),  # runs past the end
        TimedWord(" phantom", 5.0, 5.5),  # starts exactly at the end
        TimedWord(" ghost", 5.05, 5.5),  # entirely past the end, close enough to join a cue
        TimedWord(" later", 6.0, 7.0),
    ]
    cues = build_cues(words, media_duration=5.0)
    assert all_text(cues) == "Early words and late"
    assert cues[0].start == 0.0
    assert cues[-1].end == 5.0
    assert all(0.0 <= cue.start < cue.end <= 5.0 for cue in cues)


def test_words_all_past_the_end_give_no_cues():
    words = words_from("a random model made this up", start=12.0)
    assert build_cues(words, media_duration=10.0) == []
    assert build_cues(words, media_duration=0.0) == []
    assert build_cues([]) == []


def test_out_of_order_times_still_give_sorted_non_overlapping_cues():
    words = [TimedWord(" b", 3.0, 3.5), TimedWord(" a", 1.0, 1.2), TimedWord(" c", 2.0, 9.0, "X")]
    cues = build_cues(words)
    assert all_text(cues) == "b a c"  # the model's word order is kept
    for earlier, later in pairwise(cues):
        assert earlier.start < earlier.end <= later.start < later.end


def test_bad_media_duration_is_rejected():
    with pytest.raises(ValueError, match="media_duration"):
        build_cues(words_from("hello"), media_duration=-1.0)
    with pytest.raises(ValueError, match="media_duration"):
        build_cues(words_from("hello"), media_duration=math.nan)


# --- segments fallback ------------------------------------------------------------------------


def test_segments_split_in_proportion_to_characters():
    # Both sentences have the same letters, so the second must start half way through.
    text = "The first sentence is right here. The other sentence is right here."
    cues = cues_from_segments([(10.0, 20.0, text, "SPEAKER_01")])
    assert [cue.text.replace("\n", " ") for cue in cues] == [
        "The first sentence is right here.",
        "The other sentence is right here.",
    ]
    assert cues[0].start == 10.0
    assert cues[1].start == pytest.approx(15.0, abs=0.001)
    assert {cue.speaker for cue in cues} == {"SPEAKER_01"}


def test_segments_obey_the_same_rules():
    segments = [
        (0.0, 30.0, PARAGRAPH * 2, None),
        (30.5, 31.0, "   ", None),
        (31.0, 40.0, "Past the end.", None),
    ]
    cues = cues_from_segments(segments, media_duration=30.0)
    assert all_text(cues) == " ".join((PARAGRAPH * 2).split())
    for cue in cues:
        assert len(cue.lines) <= 2 and all(len(line) <= 42 for line in cue.lines)
        assert cue.end - cue.start <= RULES.max_duration
        assert cue.end <= 30.0


# --- formats ----------------------------------------------------------------------------------

SAMPLE = [
    Cue(0.5, 2.25, ("Hello there,", "how are you?"), "SPEAKER_00"),
    Cue(3.0, 4.0, ("Fine & <well>.",), None),
    Cue(3661.001, 3662.5, ("Later.",), "SPEAKER_01"),
]
NAMES = {"SPEAKER_00": "Ann"}


def test_format_srt_exact():
    assert format_srt(SAMPLE, NAMES) == (
        "1\n"
        "00:00:00,500 --> 00:00:02,250\n"
        "Ann: Hello there,\n"
        "how are you?\n"
        "\n"
        "2\n"
        "00:00:03,000 --> 00:00:04,000\n"
        "Fine & <well>.\n"
        "\n"
        "3\n"
        "01:01:01,001 --> 01:01:02,500\n"
        "SPEAKER_01: Later.\n"
    )
    assert format_srt([]) == ""


def test_format_vtt_exact_with_voice_tags_and_escaping():
    assert format_vtt(SAMPLE, {"SPEAKER_00": "Ann <host>", "SPEAKER_01": "Bo"}) == (
        "WEBVTT\n"
        "\n"
        "00:00:00.500 --> 00:00:02.250\n"
        "<v Ann &lt;host&gt;>Hello there,\n"
        "how are you?\n"
        "\n"
        "00:00:03.000 --> 00:00:04.000\n"
        "Fine &amp; &lt;well&gt;.\n"
        "\n"
        "01:01:01.001 --> 01:01:02.500\n"
        "<v Bo>Later.\n"
    )
    assert format_vtt([]).startswith("WEBVTT\n\n")


def test_format_audacity_labels_exact():
    cues = SAMPLE + [Cue(5.0, 6.0, ("tab\there", "new\nline"))]
    assert format_audacity_labels(cues, NAMES) == (
        "0.500000\t2.250000\tAnn: Hello there, how are you?\n"
        "3.000000\t4.000000\tFine & <well>.\n"
        "3661.001000\t3662.500000\tSPEAKER_01: Later.\n"
        "5.000000\t6.000000\ttab here new line\n"
    )


def test_no_prefix_without_speaker():
    cue = Cue(1.0, 2.0, ("Plain.",))
    assert format_srt([cue], NAMES).splitlines()[2] == "Plain."
    assert format_vtt([cue], NAMES).splitlines()[3] == "Plain."
    assert format_audacity_labels([cue], NAMES) == "1.000000\t2.000000\tPlain.\n"


# --- editor formats (sidecar_common.caption_formats) -------------------------------------------

SAID = [
    TimedWord(" Hello", 0.5, 0.8, "A", 0.91),
    TimedWord(" there,", 0.9, 1.3, "A", 0.8),
    TimedWord(" how", 1.3, 1.5, "A", 0.7),
    TimedWord(" are", 1.5, 1.5, "A", 0.6),  # said in no time: no timestamp of its own in WebVTT
    TimedWord(" you?", 1.5, 2.0, "A", 0.5),
    TimedWord(" Fine", 3.2, 3.4, "B"),
    TimedWord(" {really}.", 3.4, 3.6, "B"),
]


def test_format_ass_exact_with_karaoke_from_word_times():
    ass = caption_formats.format_ass(build_cues(SAID), {"A": "Ann, host"})
    assert ass.startswith("[Script Info]\n") and "\n[V4+ Styles]\n" in ass
    assert ass.split("Effect, Text\n")[1] == (
        "Dialogue: 0,0:00:00.50,0:00:02.00,Default,Ann; host,0,0,0,,"
        "Ann, host: {\\k30}Hello {\\k10}{\\k40}there, {\\k20}how {\\k0}are {\\k50}you?\n"
        "Dialogue: 0,0:00:03.20,0:00:04.20,Default,B,0,0,0,,B: {\\k20}Fine {\\k20}\\{really\\}.\n"
    )
    # Two lines, and a cue without words (read from a file, or translated): plain text.
    two = caption_formats.format_ass([Cue(3661.001, 3662.5, ("Later,", "much later."))])
    assert two.endswith("Dialogue: 0,1:01:01.00,1:01:02.50,Default,,0,0,0,,Later,\\Nmuch later.\n")


def test_format_vtt_words_exact_with_increasing_timestamps_inside_each_cue():
    assert caption_formats.format_vtt_words(build_cues(SAID), {"A": "Ann"}) == (
        "WEBVTT\n"
        "\n"
        "00:00:00.500 --> 00:00:02.000\n"
        "<v Ann>Hello <00:00:00.900>there, <00:00:01.300>how <00:00:01.500>are you?\n"
        "\n"
        "00:00:03.200 --> 00:00:04.200\n"
        "<v B>Fine <00:00:03.400>{really}.\n"
    )
    translated = dataclasses.replace(build_cues(SAID)[0], lines=("Hola, ¿qué tal?",))
    assert caption_formats.format_vtt_words([translated]).endswith("\n<v A>Hola, ¿qué tal?\n")


def test_format_json_has_cues_with_words_and_speakers():
    cues = build_cues(SAID) + [Cue(5.0, 6.0, ("From a file.",))]
    data = json.loads(caption_formats.format_json(cues, {"A": "Ann"}))
    first, second, third = data["cues"]
    assert (first["start"], first["end"], first["text"], first["speaker"], first["speaker_label"]) == (
        0.5,
        2.0,
        "Hello there, how are you?",
        "Ann",
        "A",
    )
    assert first["words"][1] == {"text": "there,", "start": 0.9, "end": 1.3, "probability": 0.8}
    assert second["words"][1] == {"text": "{really}.", "start": 3.4, "end": 3.6, "probability": None}
    assert (third["speaker"], third["lines"], third["words"]) == (None, ["From a file."], [])


def test_format_text_is_running_text_in_paragraphs_by_turn_and_pause():
    cues = [
        Cue(0.0, 1.0, ("Hello there,",), "A"),
        Cue(1.0, 2.0, ("how are you?",), "A"),
        Cue(2.5, 3.0, ("Fine.",), "B"),
        Cue(6.0, 7.0, ("Then,", "later."), "B"),
    ]
    assert caption_formats.format_text(cues, {"A": "Ann"}) == (
        "Ann: Hello there, how are you?\n\nB: Fine.\n\nB: Then, later.\n"
    )
    assert caption_formats.format_text([Cue(0.0, 1.0, ("No", "speakers."))]) == "No speakers.\n"
    assert caption_formats.format_text([]) == ""


def test_srt_round_trip():
    cues = build_cues(words_from(PARAGRAPH * 2, start=3595.0))  # crosses the hour
    assert parse_srt(format_srt(cues)) == cues


def test_parse_srt_tolerates_bom_crlf_missing_numbers_and_blank_lines_in_text():
    text = (
        "\ufeff1\r\n00:00:01,000 --> 00:00:02,500\r\nFirst line\r\nsecond line\r\n\r\n"
        "00:00:03.000 --> 00:00:04.000 X1:10\r\nNo number\r\n\r\nafter a blank\r\n\r\n\r\n"
        "3\r\n01:00:00,000 --> 01:00:01,000\r\nLast\r\n"
    )
    assert parse_srt(text) == [
        Cue(1.0, 2.5, ("First line", "second line")),
        Cue(3.0, 4.0, ("No number", "after a blank")),
        Cue(3600.0, 3601.0, ("Last",)),
    ]
    assert parse_srt("") == []
    with pytest.raises(ValueError, match="no 'start --> end'"):
        parse_srt("hello\nworld\n")


@pytest.mark.parametrize(
    ("seconds", "srt", "vtt"),
    [
        (0, "00:00:00,000", "00:00:00.000"),
        (1.5, "00:00:01,500", "00:00:01.500"),
        (1.0005, "00:00:01,001", "00:00:01.001"),  # half up, not to even
        (59.9994, "00:00:59,999", "00:00:59.999"),
        (3599.9996, "01:00:00,000", "01:00:00.000"),  # rounding carries into the hour
        (3723.004, "01:02:03,004", "01:02:03.004"),
        (36000.0, "10:00:00,000", "10:00:00.000"),
        (360000.25, "100:00:00,250", "100:00:00.250"),
    ],
)
def test_format_timestamp(seconds, srt, vtt):
    assert format_timestamp(seconds, vtt=False) == srt
    assert format_timestamp(seconds, vtt=True) == vtt


@pytest.mark.parametrize("seconds", [-0.5, math.nan, math.inf])
def test_format_timestamp_rejects_impossible_times(seconds):
    with pytest.raises(ValueError):
        format_timestamp(seconds, vtt=False)


# --- rules ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"max_line_chars": 0}, "max_line_chars must be a positive integer"),
        ({"max_line_chars": 40.5}, "max_line_chars must be a positive integer"),
        ({"max_lines": 0}, "max_lines must be a positive integer"),
        ({"max_lines": True}, "max_lines must be a positive integer"),
        ({"min_duration": -1.0}, "min_duration must not be negative"),
        ({"max_duration": 0.0}, "max_duration must be at least 0.001 s"),
        ({"min_duration": 8.0}, r"min_duration \(8.0\) must not exceed max_duration \(7.0\)"),
        ({"max_chars_per_second": 0}, "max_chars_per_second must be positive"),
        ({"max_chars_per_second": math.nan}, "max_chars_per_second must be a finite number"),
        ({"max_duration": math.inf}, "max_duration must be a finite number"),
    ],
)
def test_rules_validate(changes, message):
    rules = CueRules(**changes)
    with pytest.raises(ValueError, match=message):
        rules.validate()
    with pytest.raises(ValueError, match=message):
        build_cues(words_from("hello"), rules=rules)


def test_default_rules_are_valid():
    CueRules().validate()
    assert RULES == CueRules(42, 2, 1.0, 7.0, 20.0)


# --- all invariants at once -------------------------------------------------------------------


def _random_words(rng: random.Random) -> list[TimedWord]:
    """Whisper-like words: mostly steady, with pauses, instant words, blanks, hallucinated
    long words, speaker turns, punctuation, and starts before zero."""
    words, at, speaker = [], rng.uniform(-1.0, 3.0), None
    for n in range(rng.randint(0, 120)):
        if rng.random() < 0.05:
            speaker = rng.choice([None, "A", "B"])
        length = rng.choice([1, 2, 3, 4, 5, 6, 8, 10, 14]) if rng.random() > 0.02 else 47
        token = f"w{n}".ljust(length, "x") + rng.choice(["", "", "", ",", ".", "?"])
        if rng.random() < 0.03:
            token = "  "
        spoken = rng.choice([0.0, rng.uniform(0.05, 0.8), rng.uniform(0.5, 3.0)])
        if rng.random() < 0.03:
            spoken = rng.uniform(5.0, 12.0)
        words.append(TimedWord(" " + token, at, at + spoken, speaker))
        at = max(at, at + spoken + rng.choice([0.0, 0.0, 0.1, rng.uniform(0.0, 1.5), -0.2]))
    return words


def _word_number(token: str) -> int:
    return int(re.match(r"w(\d+)", token)[1])


@pytest.mark.parametrize("seed", range(300))
def test_invariants_hold_on_random_words(seed):
    rng = random.Random(seed)
    words = _random_words(rng)
    media = rng.choice([None, rng.uniform(0.0, 40.0)])
    rules = rng.choice([RULES, CueRules(max_line_chars=16, max_lines=3, min_duration=0.5, max_duration=4.0)])
    cues = build_cues(words, media_duration=media, rules=rules)

    # The words as build_cues should see them: stripped, clamped, none from past the end.
    clean = {}
    for w in words:
        start = max(w.start, 0.0)
        if w.text.strip() and (media is None or start < media):
            end = max(w.end, start) if media is None else min(max(w.end, start), media)
            clean[w.text.strip()] = TimedWord(w.text.strip(), start, end, w.speaker)
    tokens = [token for cue in cues for line in cue.lines for token in line.split()]
    # Every word once, in order; only a tail at the very end of the media may be dropped.
    assert tokens == list(clean)[: len(tokens)]
    if media is None:
        assert len(tokens) == len(clean)
    else:
        assert all(clean[t].start >= media - 0.01 for t in list(clean)[len(tokens) :])

    for n, cue in enumerate(cues):
        following = cues[n + 1] if n + 1 < len(cues) else None
        assert 0.0 <= cue.start < cue.end
        assert round(cue.start * 1000) == pytest.approx(cue.start * 1000)  # whole milliseconds
        assert round(cue.end * 1000) == pytest.approx(cue.end * 1000)
        if media is not None:
            assert cue.end <= media
        if following is not None:
            assert cue.end <= following.start
        assert 1 <= len(cue.lines) <= rules.max_lines
        for line in cue.lines:
            assert line and line == " ".join(line.split())
            assert len(line) <= rules.max_line_chars or len(line.split()) == 1
        cue_words = [clean[token] for line in cue.lines for token in line.split()]
        assert {w.speaker for w in cue_words} == {cue.speaker}
        assert cue.start >= cue_words[0].start - LEAD_IN_SECONDS - 0.001
    # Short or too dense only where neither staying up longer nor merging could help.
    check_cues(cues, media, rules)

    unlabelled = [Cue(c.start, c.end, c.lines) for c in cues]  # parse_srt keeps "A: " as text
    assert parse_srt(format_srt(unlabelled)) == unlabelled
    assert format_vtt(cues).count(" --> ") == len(cues)
    assert format_audacity_labels(cues).count("\n") == len(cues)


def test_a_speaker_label_keeps_the_first_line_within_its_width():
    """SRT writes "SPEAKER_1: " before a cue's first line: the cue is laid out with that room."""
    text = "then we should decide about the remote control design before the meeting ends today"
    words = [TimedWord(" " + w, 0.3 * i, 0.3 * i + 0.25, "SPEAKER_1") for i, w in enumerate(text.split())]
    cues = build_cues(words)
    srt_lines = [line for block in format_srt(cues).split("\n\n") for line in block.splitlines()[2:]]
    assert srt_lines[0].startswith("SPEAKER_1: ")
    assert max(map(len, srt_lines)) <= 42, srt_lines
    assert " ".join(c.text for c in cues).split() == text.split()

"""Translated subtitles on the source cues' times: sentences, distribution, re-flow with the line
rules, and `sidecar subtitle --to` end to end through a real sidecar with a tiny random model."""

from __future__ import annotations

import subprocess
import sys

import av

from sidecar_common import subtitle_translation as st
from sidecar_common import subtitles
from sidecar_common.limits import MAX_TRANSLATION_TEXTS
from tests import media_files

RULES = subtitles.CueRules()
SIDECAR = [sys.executable, "-m", "sidecar.cli.main"]
SPEECH = (
    "He hoped there would be stew for dinner, turnips and carrots and bruised potatoes and fat mutton pieces to "
    "be ladled out in thick peppered flour fattened sauce. Stuff it into you, his belly counselled him. After "
    "early nightfall the yellow lamps would light up here and there the squalid quarter of the brothels."
)


def source_cues(text: str = SPEECH, *, seconds_per_word: float = 0.38, speakers=None) -> list[subtitles.Cue]:
    words, at = [], 0.0
    for i, word in enumerate(text.split()):
        speaker = speakers(i) if speakers else None
        words.append(subtitles.TimedWord(" " + word, at, at + seconds_per_word - 0.08, speaker))
        at += seconds_per_word
    return subtitles.build_cues(words, media_duration=at + 1.0)


def check_rules(cues: list[subtitles.Cue], source: list[subtitles.Cue]) -> None:
    """The broadcast rules a translation keeps, and the source's times."""
    assert cues
    for cue in cues:
        assert 1 <= len(cue.lines) <= RULES.max_lines and all(len(line) <= RULES.max_line_chars for line in cue.lines)
        assert cue.end - cue.start <= RULES.max_duration + 1e-9
    for before, after in zip(cues, cues[1:]):
        assert before.end <= after.start  # no overlaps
    starts = {cue.start for cue in cues}
    assert all(cue.start in starts for cue in source), "every source cue still starts where it did"
    assert all(cue.end <= source[-1].end + RULES.max_duration for cue in cues)


def test_sentences_join_cues_and_end_at_full_stops():
    cues = source_cues()
    found = st.sentences(cues)
    assert [s.text for s in found] == [
        "He hoped there would be stew for dinner, turnips and carrots and bruised potatoes and fat mutton pieces to "
        "be ladled out in thick peppered flour fattened sauce.",
        "Stuff it into you, his belly counselled him.",
        "After early nightfall the yellow lamps would light up here and there the squalid quarter of the brothels.",
    ]
    assert [index for index, _ in found[0].pieces] == [0, 1]  # one sentence over two cues
    speakers = st.sentences(source_cues("one two three four five six", speakers=lambda i: "A" if i < 3 else "B"))
    assert [s.text for s in speakers] == ["one two three", "four five six"]  # a new speaker, a new sentence


def test_a_translation_as_long_keeps_every_cue_time():
    cues = source_cues()
    same = st.translate_cues(cues, lambda texts: [t.upper() for t in texts])
    assert [(c.start, c.end) for c in same] == [(c.start, c.end) for c in cues]
    assert " ".join(" ".join(c.lines) for c in same) == SPEECH.upper()


def test_a_longer_language_splits_cues_and_stays_up_longer():
    cues = source_cues()
    longer = st.translate_cues(cues, lambda texts: [" ".join(w + "ano" for w in t.split()) for t in texts])
    check_rules(longer, cues)
    assert len(longer) > len(cues)  # text that needs more than 2 lines of 42 became more cues
    words = " ".join(" ".join(c.lines) for c in longer).split()
    assert words == [w + "ano" for w in SPEECH.split()]  # nothing lost, nothing reordered
    short = subtitles.Cue(0.0, 1.0, ("Yes.",))
    later = subtitles.Cue(5.0, 6.0, ("No.",))
    french = "Oui, bien sûr, avec le plus grand plaisir."
    stretched = st.translate_cues([short, later], lambda texts: [french] * len(texts))
    reading = len(french) / RULES.max_chars_per_second
    assert [(c.start, c.end) for c in stretched] == [(0.0, reading), (5.0, 5.0 + reading)]  # into the gaps


def test_text_without_spaces_is_cut_between_characters():
    cues = source_cues()
    chinese = "他希望晚餐有炖菜，萝卜、胡萝卜、土豆和肥羊肉块，浇上厚厚的胡椒面粉酱汁。"
    result = st.translate_cues(cues, lambda texts: [chinese * 2 for _ in texts])
    check_rules(result, cues)
    assert all(" " not in line for cue in result for line in cue.lines)
    assert "".join("".join(c.lines) for c in result[:2]).startswith(chinese)


def test_sentences_go_in_batches_and_repeats_once():
    cues = [subtitles.Cue(i * 2.0, i * 2.0 + 1.5, (f"Line number {i % 150}.",)) for i in range(300)]
    batches = []

    def translate(texts):
        batches.append(len(texts))
        return texts

    st.translate_cues(cues, translate)
    assert batches == [MAX_TRANSLATION_TEXTS, 150 - MAX_TRANSLATION_TEXTS]


# --- `sidecar subtitle --to` through a real sidecar -------------------------------------------------


def sidecar(*args, cwd):
    return subprocess.run([*SIDECAR, *map(str, args)], capture_output=True, text=True, timeout=300, cwd=cwd)


def test_subtitle_to_spanish_and_french_with_muxed_tracks_and_a_batch_finishes_them(m2m100, tmp_path, data_dir):
    videos = tmp_path / "videos"
    videos.mkdir()
    media_files.make_video(data_dir / "1089-134686-0000.flac", videos / "talk.mp4")
    run = ["subtitle", videos, "--to", "es,fr", "--translation-model", m2m100, "--mux"]
    done = sidecar(*run, cwd=tmp_path)
    assert done.returncode == 0 and "1 file: 1 captioned" in done.stderr, done.stderr
    source = subtitles.parse_srt((videos / "talk.srt").read_text())
    for language in ("es", "fr"):
        translated = subtitles.parse_srt((videos / f"talk.{language}.srt").read_text())
        check_rules(translated, source)
        assert all(c.end - c.start >= RULES.min_duration for c in translated)
    with av.open(str(videos / "talk.subtitled.mp4")) as container:
        tags = [s.metadata.get("language") for s in container.streams.subtitles]
    assert tags == ["eng", "spa", "fra"]
    # Interrupted before the French file and the muxed copy: run again, and the batch writes
    # those two, leaves the others as they are, and never takes its muxed copy for an input.
    (videos / "talk.fr.srt").unlink()
    (videos / "talk.subtitled.mp4").unlink()
    kept = {name: (videos / name).stat().st_mtime_ns for name in ("talk.srt", "talk.es.srt")}
    done = sidecar(*run, cwd=tmp_path)
    assert done.returncode == 0 and "1 file: 1 captioned" in done.stderr, done.stderr
    assert {name: (videos / name).stat().st_mtime_ns for name in kept} == kept
    assert (videos / "talk.fr.srt").stat().st_size and (videos / "talk.subtitled.mp4").stat().st_size
    done = sidecar(*run, cwd=tmp_path)
    assert done.returncode == 0 and "1 file: 0 captioned, 1 skipped" in done.stderr, done.stderr
    assert sorted(p.name for p in videos.iterdir()) == [
        "talk.es.srt",
        "talk.fr.srt",
        "talk.mp4",
        "talk.srt",
        "talk.subtitled.mp4",
    ]


def test_a_bad_target_language_is_a_clear_error_before_any_work(m2m100, tmp_path, data_dir):
    clip = tmp_path / "talk.flac"
    clip.write_bytes((data_dir / "1089-134686-0000.flac").read_bytes())
    done = sidecar("subtitle", clip, "--to", "es,xx", "--translation-model", m2m100, cwd=tmp_path)
    assert done.returncode == 1 and "unknown target language 'xx'" in done.stderr, done.stderr
    done = sidecar("subtitle", clip, "--to", "yue", "--translation-model", m2m100, "--language", "en", cwd=tmp_path)
    assert done.returncode == 1 and "cannot translate into yue" in done.stderr, done.stderr
    assert not list(tmp_path.glob("*.srt"))  # refused before transcribing: nothing written
    for flags, message in [
        (["--to", "es,es"], "names a language twice"),
        (["--to", "../es"], "give language codes separated by commas"),
        (["--translation-model", "m2m100_418M"], "--translation-model and --translation-beam-size need --to"),
    ]:
        done = sidecar("subtitle", clip, *flags, cwd=tmp_path)
        assert done.returncode == 2 and message in done.stderr, done.stderr


# --- `sidecar live --to` ------------------------------------------------------------------------


def test_live_captions_translated_as_they_become_final(m2m100, tmp_path):
    """Each final is translated beside the captions: shown under them as "(es) ...", and written
    to live.es.srt on the original's times, within the cue rules."""
    from tests.cue_rules import check_srt
    from tests.streaming_fixtures import speech, write_wav

    audio, _ = speech("1089-134691-0000", "1089-134691-0001", pause=1.5, tail=1.0)
    wav = write_wav(tmp_path / "two.wav", audio)
    done = sidecar(
        "live", "-i", wav, "--fast", "-o", "live.srt", "--to", "es", "--translation-model", m2m100, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    original = subtitles.parse_srt((tmp_path / "live.srt").read_text())
    translated = subtitles.parse_srt((tmp_path / "live.es.srt").read_text())
    assert original and translated
    check_srt(tmp_path / "live.es.srt", len(audio) / 16_000 + RULES.max_duration)
    assert translated[0].start >= original[0].start - 0.5 and translated[-1].end <= original[-1].end + 7
    shown = [line for line in done.stdout.splitlines() if "] (es) " in line]
    assert shown and "live.es.srt: " in done.stderr
    bad = sidecar("live", "-i", wav, "--fast", "--to", "xx", "--translation-model", m2m100, cwd=tmp_path)
    assert bad.returncode == 1 and "unknown target language 'xx'" in bad.stderr, bad.stderr
    for flags, message in [(["--to", "es,fr"], "give one language code"), (["--translation-model", "x"], "needs --to")]:
        refused = sidecar("live", "-i", wav, "--fast", *flags, cwd=tmp_path)
        assert refused.returncode == 2 and message in refused.stderr, refused.stderr

"""The creative Audacity actions (Say this, Fix phrase, Generate cue, Mark events) against a real
Audacity 3.2 under Xvfb and a real sidecar serving tiny random XTTS, MusicGen, AST and CLAP models.

A random XTTS makes noise, so the voice tests check placement, the choice of reference speech
and loudness, not what is said. One Audacity serves the module; each test clears the project.
"""

from __future__ import annotations

import math
import re
import struct

import numpy as np
import pytest

from sidecar.media.audio import decode_file
from sidecar_common.subtitles import TimedWord
from tests.audacity_fixtures import audacity, clear_project, real_audacity  # noqa: F401
from tests.music_fixtures import tiny_ast_dir, tiny_clap_dir, tiny_melody_dir, tiny_musicgen_dir  # noqa: F401
from tests.xtts_fixtures import REFERENCE, tiny_xtts_dir, xtts_sidecar  # noqa: F401

DITHER_SLACK = 1e-3  # Audacity dithers each 16-bit export differently (a few LSB)
TIME_SLACK = 0.02  # clip and label times are written to the microsecond, audio to the sample
SENTENCE_SECONDS = 0.3  # a random XTTS never stops by itself: bound each sentence
TOKEN_SECONDS = 1024 / 22_050  # XTTS makes audio a token at a time
XTTS_RATE = 24_000
CUE_RATE = 16_000  # the tiny MusicGen's rate
# ami/dev00.flac (ami-excerpts.rttm): MEE009 speaks most; MEE012 takes turns from 13.15 to
# 16.92 s and from 26.19 to 28.38 s, just before MEE009's "you're the marketing expert" (28.3-30
# s); MEE012's short interjections over MEE009's speech are left out: no diarizer splits those.
MEE012_TURNS = ((13.152, 16.922), (26.192, 28.384))


@pytest.fixture()
def client(xtts_sidecar):
    from sidecar_client import SidecarClient

    with SidecarClient(xtts_sidecar.address) as c:
        yield c


def project_rate(request, audacity, rate: int) -> None:
    """Sets the project's rate for this test (clearing the project keeps it)."""
    audacity.command("SetProject", Rate=rate)
    request.addfinalizer(lambda: audacity.command("SetProject", Rate=44_100))


def exported(audacity, tmp_path, start, end, track, name):
    """The range of a track as Audacity exports it, mono at the project's rate."""
    path = str(tmp_path / f"{name}.wav")
    audacity.export(path, start, end, [track], 1)
    return decode_file(path).samples[0]


def db(ratio: float) -> float:
    return 20 * math.log10(ratio)


# --- pure parts ---------------------------------------------------------------------------


def words(*spans):
    """TimedWords from (start, end, speaker) spans, one word per 0.5 s."""
    out = []
    for start, end, speaker in spans:
        t = start
        while t < end - 1e-9:
            out.append(TimedWord(f" w{len(out)}", t, min(t + 0.45, end), speaker))
            t += 0.5
    return out


def test_reference_is_the_selected_speakers_nearest_speech_outside_the_selection():
    from sidecar_audacity import voicematch
    from sidecar_audacity.errors import PluginError

    transcript = words((0, 10, "A"), (10, 14, "B"), (14, 20, "A"), (20, 30, "B"), (30, 60, "A"))
    reference = voicematch.choose_reference(transcript, 21.0, 22.0)  # B speaks there
    assert reference.speaker == "B"
    spans = [(r.start, r.end) for r in reference.regions]
    assert all(end <= 21.0 or start >= 22.0 for start, end in spans)  # never the selection
    assert all(
        any(s - 0.1 <= r.start and r.end <= e + 0.1 for s, e in ((10, 14), (20, 30))) for r in reference.regions
    )  # only B's turns
    assert reference.seconds == pytest.approx(13.1, abs=0.2)  # all of B's: less than the target
    assert reference.transcript.split()[0] == "w20"  # B's first word, in time order

    # The nearest regions first: A's phrase at 40 s takes the speech around it, not the 0-10 s.
    near = voicematch.choose_reference(transcript, 40.0, 41.0)
    assert near.speaker == "A" and min(r.start for r in near.regions) >= 30 - 0.1
    assert voicematch.TARGET_REFERENCE_SECONDS <= near.seconds < voicematch.TARGET_REFERENCE_SECONDS + 10
    # Without speakers every word counts as the one speaker's.
    anonymous = voicematch.choose_reference([TimedWord(w.text, w.start, w.end) for w in transcript], 21, 22)
    assert anonymous.speaker is None and anonymous.seconds == pytest.approx(15, abs=0.5)
    assert [(round(r.start), round(r.end)) for r in anonymous.regions] == [(6, 21)]  # cut at the far side
    with pytest.raises(PluginError, match=r"only 5\.1 s of speaker B's speech.*6 s or more"):
        voicematch.choose_reference(words((0, 20, "A"), (20, 26, "B"), (26, 40, "A")), 21.0, 22.0)
    with pytest.raises(PluginError, match="no speech"):
        voicematch.choose_reference([], 1.0, 2.0)


def test_speech_loudness_ignores_pauses_and_gain_stays_in_range():
    from sidecar_audacity import voicematch

    rate = 8000
    rng = np.random.default_rng(0)
    tone = 0.1 * np.sin(2 * np.pi * 220 * np.arange(2 * rate) / rate)
    with_pauses = np.concatenate([tone, np.zeros(3 * rate), tone, rng.normal(0, 1e-4, rate)])
    rms = voicematch.speech_rms(with_pauses.tolist(), rate)
    assert db(rms / (0.1 / math.sqrt(2))) == pytest.approx(0, abs=0.05)  # pauses and hiss gated out
    ints = (with_pauses * 32768).astype(int).tolist()
    assert voicematch.speech_rms(ints, rate, 1 << 15) == pytest.approx(rms, rel=1e-3)
    assert voicematch.speech_rms([0.0] * rate, rate) == 0.0
    assert voicematch.matching_gain(0.1, 0.05, 0.2).factor == pytest.approx(2.0)
    assert voicematch.matching_gain(0.1, 1e-6, 1e-5).db == pytest.approx(voicematch.MAX_GAIN_DB)
    peaked = voicematch.matching_gain(0.3, 0.1, 0.5)  # 3x would clip the 0.5 peak
    assert peaked.limited_by == "peak" and 0.5 * peaked.factor == pytest.approx(voicematch.PEAK_LIMIT)


def test_cursor_actions_take_a_project_without_audio_and_the_others_refuse_it():
    from sidecar_audacity.audacity import Track, resolve_selection
    from sidecar_audacity.errors import EmptySelectionError

    labels = [Track(0, "Labels", "label", True)]
    for tracks, (start, end), selected in [
        ([], (0.0, 0.0), ()),
        (labels, (2.0, 3.0), (0,)),
        ([*labels, Track(1, "new", "wave", True)], (1.0, 1.0), (1,)),
    ]:
        cursor = resolve_selection(tracks, start, end, selected, needs_audio=False)
        assert (cursor.start, cursor.end, cursor.tracks, cursor.whole_project) == (start, end, (), True)
        assert cursor.user_range == (start, end)
        with pytest.raises(EmptySelectionError, match="no audio tracks|audio tracks are empty"):
            resolve_selection(tracks, start, end, selected)
    audio = [Track(0, "a", "wave", True, 1.0, 5.0, 1)]
    past_the_end = resolve_selection(audio, 6.0, 7.0, (0,), needs_audio=False)  # a place to add at, after the audio
    assert (past_the_end.whole_project, past_the_end.user_range, past_the_end.tracks) == (True, (6.0, 7.0), (audio[0],))
    with pytest.raises(EmptySelectionError, match="holds no audio"):
        resolve_selection(audio, 6.0, 7.0, (0,))
    assert resolve_selection(audio, 2.0, 3.0, (0,), needs_audio=False) == resolve_selection(audio, 2.0, 3.0, (0,))


def test_cue_settings_survive_the_label_text():
    from sidecar.v1 import cues_pb2
    from sidecar_audacity import creative

    settings = cues_pb2.CueSettings(
        model="/models/my musicgen",
        prompt="calm | piano 'bed'",
        seed=2**62 + 3,
        guidance_scale=3.3,
        top_k=250,
        top_p=0.9,
        temperature=0.7,
        reference_mode=cues_pb2.REFERENCE_MODE_MELODY,
        reference_sha256="ab" * 32,
    )
    settings.audio_duration.FromNanoseconds(1_234_567_891)
    text = creative.settings_text(settings)
    assert text.startswith("calm | piano 'bed' | model='/models/my musicgen' duration=1.234567891 seed=")
    assert "guidance=3.3 top_k=250 top_p=0.9 temperature=0.7 reference=melody" in text
    assert creative.settings_from_text(text) == settings
    minimal = cues_pb2.CueSettings(prompt="drums", seed=0, top_p=0.0)
    assert creative.settings_from_text(creative.settings_text(minimal)) == minimal  # zero but set stays set
    with pytest.raises(Exception, match="no cue settings"):
        creative.settings_from_text("Laughter 0.87")


# --- against Audacity --------------------------------------------------------------------


def test_say_adds_speech_at_the_cursor_from_the_selection_or_a_saved_voice(
    audacity, client, data_dir, tiny_xtts_dir, tmp_path
):
    from sidecar_audacity import creative

    audacity.command("Import2", Filename=str(data_dir / "demo-1089.flac"))  # 10.4 s of one speaker first
    original = audacity.tracks()[0]
    before = exported(audacity, tmp_path, 0.0, 10.0, 0, "before")
    audacity.select(0.5, 10.0, [0])
    options = creative.SayOptions(
        "Hello there. This is a test.", "en", model=str(tiny_xtts_dir), seed=3, max_sentence_seconds=SENTENCE_SECONDS
    )
    outcome = creative.say(audacity, client, options)
    print(f"say: {outcome.summary}; sidecar {outcome.sidecar_seconds:.2f} s")  # the figures, with -s
    tracks = audacity.tracks()
    assert [t.name for t in tracks] == ["demo-1089", "Speech - Hello there. This is a test."]
    assert tracks[1].start == pytest.approx(0.5, abs=TIME_SLACK)
    assert 0.2 < tracks[1].end - tracks[1].start <= 2 * (SENTENCE_SECONDS + TOKEN_SECONDS)  # two sentences
    assert 0 < outcome.first_audio_seconds < outcome.sidecar_seconds + 1
    assert "first audio after" in outcome.summary
    assert (tracks[0].start, tracks[0].end) == (original.start, original.end)
    after = exported(audacity, tmp_path, 0.0, 10.0, 0, "after")
    assert np.abs(before - after).max() < DITHER_SLACK  # the original's audio is untouched

    voice = client.create_voice(data_dir / REFERENCE, voice_id="reader", model=str(tiny_xtts_dir)).voice_id
    audacity.select(15.0, 15.0, [])  # a cursor: the saved voice needs no selection
    creative.say(
        audacity,
        client,
        creative.SayOptions("Again.", voice_id=voice, model=str(tiny_xtts_dir), max_sentence_seconds=SENTENCE_SECONDS),
    )
    assert audacity.tracks()[2].start == pytest.approx(15.0, abs=TIME_SLACK)


def test_say_and_fix_phrase_refuse_bad_input_and_add_nothing(audacity, client, data_dir, tiny_xtts_dir):
    from sidecar_audacity import creative
    from sidecar_audacity.errors import PluginError

    audacity.command("Import2", Filename=str(data_dir / "demo-1089.flac"))
    model = str(tiny_xtts_dir)
    cases = [
        (creative.say, creative.SayOptions("  ", model=model), (1, 9), "nothing to say"),
        (creative.say, creative.SayOptions("Hi.", model=model), (1, 3), r"2\.0 s is selected: select 6 s"),
        (creative.say, creative.SayOptions("Hi.", model=model, voice_id="nobody"), (1, 1), "nobody"),
        (creative.say, creative.SayOptions("x" * 5001, model=model), (1, 9), "at most 5000"),
        (creative.fix_phrase, creative.FixPhraseOptions("", model=model), (1, 2), "correction is empty"),
        (creative.fix_phrase, creative.FixPhraseOptions("x" * 5001, model=model), (1, 2), "at most 5000"),
        (creative.fix_phrase, creative.FixPhraseOptions("Fixed.", model=model), (1, 1), "select the misspoken"),
    ]
    for action, options, (start, end), message in cases:
        audacity.select(start, end, [0] if end > start else [])
        with pytest.raises(PluginError, match=message):
            action(audacity, client, options)
        assert [t.name for t in audacity.tracks()] == ["demo-1089"]
    audacity.command("Import2", Filename=str(data_dir / REFERENCE))
    audacity.select(1, 2, [0, 1])
    with pytest.raises(PluginError, match="on one track, not 2"):
        creative.fix_phrase(audacity, client, creative.FixPhraseOptions("Fixed.", model=model))
    assert len(audacity.tracks()) == 2


def test_fix_phrase_clones_the_same_speaker_at_the_selection_matching_loudness(
    request, audacity, client, data_dir, tiny_xtts_dir, tmp_path
):
    from sidecar_audacity import creative, voicematch

    # At XTTS's rate the new track exports as made: a random model's noise reaches up to the
    # Nyquist frequency, where resampling would cut some of it off (speech does not go there).
    audacity.command("Import2", Filename=str(data_dir / "ami" / "dev00.flac"))  # sets the rate: 16 kHz
    project_rate(request, audacity, XTTS_RATE)
    track = audacity.tracks()[0]
    start, end = 28.6, 29.6  # MEE009's "marketing expert", right after MEE012's turn
    before = exported(audacity, tmp_path, 0.0, track.end, 0, "before")
    audacity.select(start, end, [0])
    outcome = creative.fix_phrase(
        audacity,
        client,
        creative.FixPhraseOptions(
            "You are the marketing expert.",
            language="en",
            model=str(tiny_xtts_dir),
            speaker_count=2,
            seed=1,
            max_sentence_seconds=1.0,
        ),
    )
    print(f"fix-phrase: {outcome.summary}; first audio after {outcome.first_audio_seconds:.2f} s")
    tracks = audacity.tracks()
    assert [t.name for t in tracks] == ["dev00", "dev00 (fixed)"], outcome.summary
    assert tracks[1].start == pytest.approx(start, abs=TIME_SLACK)
    assert 0.2 < tracks[1].end - tracks[1].start <= 1.0 + TIME_SLACK
    after = exported(audacity, tmp_path, 0.0, track.end, 0, "after")
    assert np.abs(before - after).max() < DITHER_SLACK  # the original is untouched

    ranges = outcome.reference_ranges
    assert sum(e - s for s, e in ranges) >= voicematch.MIN_REFERENCE_SECONDS
    assert all(e <= start or s >= end for s, e in ranges)  # never the selection itself
    other = sum(max(0.0, min(e, te) - max(s, ts)) for s, e in ranges for ts, te in MEE012_TURNS)
    assert other < 0.3, (ranges, outcome.summary)  # MEE009's speech, not MEE012's turn just before

    # Loudness: the new track's speech against the speech it was matched to.
    rate = decode_file(str(tmp_path / "before.wav")).sample_rate
    fixed = exported(audacity, tmp_path, tracks[1].start, tracks[1].end, 1, "fixed")
    surroundings = np.concatenate(
        [before[round(s * rate) : round(e * rate)] for s, e in ranges]
        + [before[round(start * rate) : round(end * rate)]]
    )
    assert db(
        voicematch.speech_rms(fixed.tolist(), rate) / voicematch.speech_rms(surroundings.tolist(), rate)
    ) == pytest.approx(0, abs=1.0), outcome.summary
    assert np.abs(fixed).max() < 1.0  # no clipping


def test_cue_at_the_cursor_is_labelled_with_settings_that_regenerate_it(
    request, audacity, client, data_dir, tiny_musicgen_dir, tmp_path
):
    from sidecar_audacity import creative

    audacity.command("Import2", Filename=str(data_dir / "demo-1089.flac"))
    project_rate(request, audacity, CUE_RATE)  # exports at the cue's own rate: no resampling
    audacity.select(2.0, 2.0, [])
    progress = []
    from sidecar_audacity.actions import Job

    outcome = creative.generate_cue(
        audacity,
        client,
        creative.CueOptions("calm piano", duration=0.5, model=str(tiny_musicgen_dir), guidance=2.5, top_k=50),
        Job(lambda fraction, stage: progress.append((fraction, stage))),
    )
    print(f"cue: {outcome.summary}; first audio after {outcome.first_audio_seconds:.2f} s")
    tracks = audacity.tracks()
    assert [t.name for t in tracks] == ["demo-1089", "Cue - calm piano", creative.CUE_LABEL_TRACK]
    cue = tracks[1]
    assert cue.start == pytest.approx(2.0, abs=TIME_SLACK)
    assert cue.end - cue.start == pytest.approx(0.5, abs=0.03)
    assert any(stage == "generating" and 0 < f < 1 for f, stage in progress)
    [label] = audacity.labels()[2]
    assert (label.start, label.end) == pytest.approx((cue.start, cue.end), abs=TIME_SLACK)
    assert re.fullmatch(
        r"calm piano \| model=\S+ duration=0\.5 seed=\d+ guidance=2\.5 top_k=50 top_p=0 "
        r"temperature=1",
        label.text,
    ), label.text
    settings = creative.settings_from_text(label.text)
    assert str(settings.seed) in outcome.summary

    in_project = exported(audacity, tmp_path, cue.start, cue.end, 1, "cue")
    again = regenerate(client, settings)
    assert in_project.shape == again.shape
    same = np.abs(in_project - again).max()
    settings.seed += 1
    other = np.abs(in_project - regenerate(client, settings)).max()
    assert same < DITHER_SLACK  # the label's settings make the same cue
    assert other > 10 * same  # (a test that can fail)


def regenerate(client, settings):
    samples = b"".join(r.audio.data for r in client.generate_cue(settings) if r.WhichOneof("event") == "audio")
    return np.frombuffer(samples, dtype="<f4")


def test_cue_over_a_selection_takes_its_length_follows_it_and_continues_after_it(
    audacity, client, data_dir, tiny_musicgen_dir, tiny_melody_dir
):
    from sidecar_audacity import creative
    from sidecar_audacity.errors import PluginError

    audacity.command("Import2", Filename=str(data_dir / "demo-1089.flac"))
    model = str(tiny_musicgen_dir)
    audacity.select(1.0, 1.6, [0])
    creative.generate_cue(audacity, client, creative.CueOptions("drums", duration=5, model=model, seed=4))
    cue = audacity.tracks()[1]
    assert (cue.start, cue.end) == pytest.approx((1.0, 1.6), abs=0.03)

    audacity.select(3.0, 4.0, [0])
    creative.generate_cue(
        audacity, client, creative.CueOptions("jazz", duration=0.4, model=model, seed=4, reference="continuation")
    )
    tracks = audacity.tracks()
    assert (tracks[3].start, tracks[3].end) == pytest.approx((4.0, 4.4), abs=0.03)  # after the selection
    label = audacity.labels()[4][0]
    assert "reference=continuation sha256=" in label.text
    assert creative.settings_from_text(label.text).reference_sha256

    audacity.select(6.0, 6.5, [0])
    creative.generate_cue(
        audacity, client, creative.CueOptions("strings", model=str(tiny_melody_dir), seed=4, reference="melody")
    )
    tracks = audacity.tracks()
    assert (tracks[5].start, tracks[5].end) == pytest.approx((6.0, 6.5), abs=0.03)  # over the selection
    assert "reference=melody sha256=" in audacity.labels()[6][0].text

    for options, (start, end), message in [
        (creative.CueOptions(" ", model=model), (1, 2), "prompt is empty"),
        (creative.CueOptions("drums", model=model, reference="melody"), (1, 1), "needs selected audio"),
        (creative.CueOptions("drums", model=model, duration=31), (1, 1), "up to 30 s"),
        (creative.CueOptions("x" * 2001, model=model), (1, 1), r"INVALID_ARGUMENT.*2001 characters; at most 2000"),
    ]:
        audacity.select(start, end, [0] if end > start else [])
        with pytest.raises(PluginError, match=message):
            creative.generate_cue(audacity, client, options)
    assert len(audacity.tracks()) == 7


def test_mark_events_labels_regions_in_project_time(audacity, client, data_dir, tiny_ast_dir, tmp_path):
    from sidecar.v1 import events_pb2
    from sidecar_audacity import creative
    from sidecar_audacity.errors import PluginError
    from sidecar_common.durations import seconds

    audacity.command("Import2", Filename=str(data_dir / "demo-1089.flac"))
    start, end = 5.0, 9.0
    selection_wav = str(tmp_path / "selection.wav")
    audacity.export(selection_wav, start, end, [0], 1)
    audacity.select(start, end, [0])
    options = creative.EventOptions(model=str(tiny_ast_dir), threshold=0.0)
    outcome = creative.mark_events(audacity, client, options)
    tracks = audacity.tracks()
    assert [t.name for t in tracks] == ["demo-1089", "Events"], outcome.summary
    labels = audacity.labels()[1]
    proto = events_pb2.EventDetectionOptions(model=str(tiny_ast_dir), threshold=0.0)
    direct = sorted(
        (
            start + seconds(r.region.time_range.start_offset),
            start + seconds(r.region.time_range.end_offset),
            r.region.label,
        )
        for r in client.detect_events(selection_wav, options=proto)
        if r.WhichOneof("event") == "region"
    )
    assert len(labels) == len(direct) >= 1
    for label, (s, e, name) in zip(sorted(labels, key=lambda lab: (lab.start, lab.text)), direct):
        assert (label.start, label.end) == pytest.approx((s, e), abs=TIME_SLACK)
        assert re.fullmatch(rf"{name} [01]\.\d\d", label.text)
        assert start - TIME_SLACK <= label.start < label.end <= end + TIME_SLACK

    with pytest.raises(PluginError, match=r"INVALID_ARGUMENT.*threshold must be 0\.\.1"):
        creative.mark_events(audacity, client, creative.EventOptions(model=str(tiny_ast_dir), threshold=1.5))
    assert len(audacity.tracks()) == 2


def test_cli_marks_clap_events_and_reports_bad_input(audacity, xtts_sidecar, data_dir, tiny_clap_dir, capsys):
    from sidecar_audacity import cli

    audacity.command("Import2", Filename=str(data_dir / "demo-1089.flac"))
    audacity.select(1.0, 4.0, [0])
    audacity.close()  # the CLI is another client: the pipe serves one at a time
    server = ["--server", xtts_sidecar.address, "-q"]
    assert (
        cli.main(
            [
                *server,
                "events",
                "--model",
                str(tiny_clap_dir),
                "--labels",
                "laughter, applause",
                "--threshold",
                "0",
                "--track-name",
                "Marks",
            ]
        )
        == 0
    )
    assert "events in 'Marks'" in capsys.readouterr().out
    labels = audacity.labels()[1]
    assert {label.text.split()[0] for label in labels} <= {"laughter", "applause"} and labels
    audacity.close()
    assert cli.main([*server, "say", "Hello.", "--voice", ""]) == 1
    assert "select 6 s or more" in capsys.readouterr().err
    audacity.close()
    audacity.select(2.0, 2.0, [])
    audacity.close()
    assert cli.main([*server, "cue", "drums", "--melody"]) == 1  # nothing selected to follow
    assert "needs selected audio" in capsys.readouterr().err
    assert [t.name for t in audacity.tracks()] == ["demo-1089", "Marks"]


def test_panel_maps_its_fields_to_the_creative_actions(real_audacity, audacity, data_dir, xtts_sidecar):
    import tkinter as tk

    from sidecar_audacity import creative
    from sidecar_audacity.panel import Panel
    from tests.test_audacity import pump

    root = tk.Tk(screenName=real_audacity.display)
    try:
        panel = Panel(root, address=xtts_sidecar.address)
        panel.text.set("calm piano")
        panel.voice.set("narrator")
        panel.cue_seconds.set("4")
        assert panel.options_for("say") == creative.SayOptions("calm piano", "en", voice_id="narrator")
        assert panel.options_for("cue") == creative.CueOptions("calm piano", 4.0)
        assert panel.options_for("fix-phrase") == creative.FixPhraseOptions("calm piano")
        assert panel.options_for("events") == creative.EventOptions()
        panel.creative_model.set(" /models/tiny ")  # one model entry for the generating actions
        panel.model.set("tiny.en")
        assert panel.options_for("say").model == "/models/tiny"
        assert panel.options_for("cue") == creative.CueOptions("calm piano", 4.0, "/models/tiny")
        assert panel.options_for("fix-phrase") == creative.FixPhraseOptions(
            "calm piano", model="/models/tiny", transcription_model="tiny.en"
        )
        assert panel.options_for("events") == creative.EventOptions("/models/tiny")
        assert panel.options_for("caption").model == "tiny.en"  # the Whisper field stays the captions'
        panel.creative_model.set("")
        audacity.command("Import2", Filename=str(data_dir / "demo-1089.flac"))
        audacity.select(1.0, 2.0, [0])
        audacity.close()
        panel.text.set(" ")
        panel.start("fix-phrase")  # through the worker, Audacity and the sidecar: refused, nothing added
        pump(root, lambda: not panel.busy)
        assert panel.outcome is None and "correction is empty" in panel.status.get()
        assert [t.name for t in audacity.tracks()] == ["demo-1089"]
    finally:
        root.destroy()


def test_say_and_cue_go_at_the_cursor_of_a_project_without_audio(
    audacity, client, data_dir, tiny_xtts_dir, tiny_musicgen_dir
):
    from sidecar_audacity import actions, creative
    from sidecar_audacity.errors import EmptySelectionError, PluginError

    model = str(tiny_xtts_dir)
    audacity.select(0.0, 0.0, [])  # an empty project: the cursor is at 0
    for options, message in [
        (creative.SayOptions("Hi.", model=model), "no audio to clone a voice from"),
        (creative.SayOptions("Hi.", model=model, voice_id="nobody"), "nobody"),
    ]:
        with pytest.raises(PluginError, match=message):
            creative.say(audacity, client, options)
        assert audacity.tracks() == []
    voice = client.create_voice(data_dir / REFERENCE, voice_id="empty-project", model=model).voice_id
    creative.say(
        audacity, client, creative.SayOptions("Hi.", voice_id=voice, model=model, max_sentence_seconds=SENTENCE_SECONDS)
    )
    [speech] = audacity.tracks()
    assert speech.name == "Speech - Hi." and speech.start == pytest.approx(0.0, abs=TIME_SLACK)
    assert speech.end > 0.1

    clear_project(audacity)
    audacity.command("NewLabelTrack")  # only a label track, the cursor at 2.5 s on it
    audacity.select(2.5, 2.5, [0])
    creative.generate_cue(
        audacity, client, creative.CueOptions("drums", duration=0.3, model=str(tiny_musicgen_dir), seed=5)
    )
    tracks = audacity.tracks()
    assert [t.kind for t in tracks] == ["label", "wave", "label"] and tracks[2].name == creative.CUE_LABEL_TRACK
    assert (tracks[1].start, tracks[1].end) == pytest.approx((2.5, 2.8), abs=0.03)
    assert audacity.labels()[2][0].text.startswith("drums | ")

    clear_project(audacity)
    audacity.command("NewLabelTrack")
    audacity.select(1.0, 3.0, [0])  # a range on the label track: still no audio
    for action, options, message in [
        (creative.generate_cue, creative.CueOptions("drums", model=model, reference="melody"), "needs selected audio"),
        (actions.caption, actions.CaptionOptions(), "no audio tracks"),  # the actions that read audio still need it
        (actions.denoise, actions.DenoiseOptions(), "no audio tracks"),
        (creative.mark_events, creative.EventOptions(), "no audio tracks"),
    ]:
        with pytest.raises(PluginError, match=message) as raised:
            action(audacity, client, options)
        assert action is creative.generate_cue or isinstance(raised.value, EmptySelectionError)
        assert [t.kind for t in audacity.tracks()] == ["label"]


def test_fix_phrase_falls_back_to_all_speech_when_the_sidecar_cannot_detect_speakers(
    monkeypatch, audacity, xtts_sidecar, data_dir, tiny_xtts_dir
):
    """A sidecar installed without the `diarize` extra answers FAILED_PRECONDITION for speaker
    labels: Fix phrase transcribes again without them and clones the speech around the phrase."""
    import sys

    from sidecar_audacity import creative, voicematch
    from sidecar_client import SidecarClient
    from tests.harness import RunningSidecar

    monkeypatch.setitem(sys.modules, "resemblyzer", None)  # the offline diarizer's library, as without the extra
    server = RunningSidecar()  # its own models: nothing diarized before
    try:
        audacity.command("Import2", Filename=str(data_dir / "demo-1089.flac"))  # one speaker, 23 s
        start, end = 10.0, 11.0
        audacity.select(start, end, [0])
        with SidecarClient(server.address) as client:
            outcome = creative.fix_phrase(
                audacity,
                client,
                creative.FixPhraseOptions(
                    "Fixed.", language="en", model=str(tiny_xtts_dir), seed=1, max_sentence_seconds=0.5
                ),
            )
    finally:
        server.stop()
    assert re.search(r"without speakers \(.*FAILED_PRECONDITION.*`diarize` extra", outcome.summary), outcome.summary
    assert "in the speaker's voice" in outcome.summary
    tracks = audacity.tracks()
    assert [t.name for t in tracks] == ["demo-1089", "demo-1089 (fixed)"]
    assert tracks[1].start == pytest.approx(start, abs=TIME_SLACK)
    ranges = outcome.reference_ranges
    assert sum(e - s for s, e in ranges) >= voicematch.MIN_REFERENCE_SECONDS
    assert all(e <= start or s >= end for s, e in ranges)
    assert min(abs(start - e) if e <= start else abs(s - end) for s, e in ranges) < 1.5  # the nearest speech


def test_the_plugins_limits_are_the_sidecars():
    from sidecar.engines import musicgen, xtts
    from sidecar_audacity import creative, voicematch

    assert creative.MAX_TEXT_CHARS == xtts.MAX_TEXT_CHARS
    assert creative.MAX_CUE_SECONDS == musicgen.MAX_CUE_SECONDS
    assert voicematch.MIN_REFERENCE_SECONDS == xtts.MIN_REFERENCE_SECONDS


def test_float32_text_is_the_shortest_exact_form():
    from sidecar_audacity.creative import _float32_text

    for value in (0.9, 3.0, 1e-7, 2.5, 0.123456789):
        f32 = struct.unpack("<f", struct.pack("<f", value))[0]
        text = _float32_text(f32)
        assert struct.pack("<f", float(text)) == struct.pack("<f", f32) and len(text) <= 10

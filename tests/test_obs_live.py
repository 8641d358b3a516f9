"""The OBS script's client side outside OBS: capture, reconnection, layout, SRT, properties.

The reconnect test runs a real `sidecar serve` process, kills it mid-stream and starts it
again on the same port; the same LiveCaptions object carries on by itself.
"""

from __future__ import annotations

import functools
import importlib
import os
import pathlib
import signal
import sys
import threading
import time
import types

import pytest

from sidecar_client import live
from sidecar_client.capture import BYTES_PER_SECOND, AudioCapture, ffmpeg_command
from sidecar_client.capture import list_devices as live_devices
from sidecar_common import rollup, subtitles
from tests.conftest import DATA, word_error_rate
from tests.cue_rules import check_srt
from tests.harness import free_port, serve
from tests.obs_fixtures import SCRIPT
from tests.streaming_fixtures import boundary_errors, speech, write_wav


class Pump:
    """Polls LiveCaptions as a host's timer would, keeping what arrived."""

    def __init__(self, captions: live.LiveCaptions) -> None:
        self.captions = captions
        self.finals: list[live.Final] = []
        self.statuses: list[str] = []

    def until(self, done, seconds: float, what: str) -> None:
        deadline = time.monotonic() + seconds
        while True:
            update = self.captions.poll()
            self.finals.extend(update.finals)
            if not self.statuses or self.statuses[-1] != update.status:
                self.statuses.append(update.status)
            if done():
                return
            assert time.monotonic() < deadline, f"no {what} in {seconds} s: {self.statuses}"
            time.sleep(0.1)


def test_captions_resume_after_the_sidecar_restarts(tmp_path):
    port = free_port()
    ready = tmp_path / "port"
    server = serve(port, ready)
    samples, reference = speech("1089-134686-0000", "1089-134691-0000", lead=0.3, tail=0.5)
    capture = AudioCapture(str(write_wav(tmp_path / "talk.wav", samples))).start()
    captions = live.LiveCaptions(
        capture, live.LiveOptions(address=f"127.0.0.1:{port}", retry_first_seconds=0.2, retry_max_seconds=1.0)
    ).start()
    pump = Pump(captions)
    try:
        pump.until(lambda: pump.finals, 60, "first final caption")
        server.send_signal(signal.SIGKILL)
        server.wait()
        killed_at = capture.captured
        pump.until(lambda: pump.statuses[-1].startswith("reconnecting"), 15, "reconnecting status")
        before = len(pump.finals)
        server = serve(port, ready)
        pump.until(lambda: not captions.running, 120, "end of the input")
        pump.until(lambda: True, 1, "last poll")
    finally:
        captions.stop()
        capture.stop()
        server.terminate()
        server.wait(timeout=30)

    assert pump.statuses[-1] == "ended", pump.statuses
    assert (
        captions.streams >= 2
        and "connected"
        in pump.statuses[pump.statuses.index(next(s for s in pump.statuses if s.startswith("reconnecting"))) :]
    )
    after = pump.finals[before:]
    assert after and after[-1].words[-1].end > killed_at, "no captions after the restart"
    texts = [f.text for f in pump.finals]
    # Words pending when the sidecar died are decoded again from the backlog: none lost,
    # none doubled where the new stream took over.
    assert word_error_rate(reference, " ".join(texts)) < 0.25, texts
    restart = [" ".join(texts[:before]), " ".join(texts[before:])]
    assert not boundary_errors(reference, restart, reach=2), (restart, boundary_errors(reference, restart, reach=2))


def test_a_refused_stream_fails_with_the_servers_reason_and_is_not_retried(client, sidecar_server):
    capture = AudioCapture(str(DATA / "1089-134691-0000.flac")).start()
    captions = live.LiveCaptions(
        capture, live.LiveOptions(address=sidecar_server.address, model="no-such-model")
    ).start()
    pump = Pump(captions)
    try:
        pump.until(lambda: not captions.running, 30, "the stream to give up")
        pump.until(lambda: True, 1, "last poll")
    finally:
        captions.stop()
        capture.stop()
    assert pump.statuses[-1].startswith("failed: NOT_FOUND") and "no-such-model" in pump.statuses[-1]
    assert captions.streams == 1 and not pump.finals
    assert client.list_models(), "the same sidecar still answers"


def test_capture_reads_a_file_in_real_time():
    capture = AudioCapture(str(DATA / "1089-134691-0000.flac")).start()
    started = time.monotonic()
    try:
        chunks = list(capture.chunks_from(0.0, threading.Event()))
    finally:
        capture.stop()
    took = time.monotonic() - started
    total = sum(len(c.data) for c in chunks) / BYTES_PER_SECOND
    assert capture.ended and capture.error is None
    assert total == pytest.approx(capture.captured) and total > 2
    assert took > 0.8 * total, "a file must be paced like a device"
    offsets = [c.offset for c in chunks]
    assert offsets == sorted(offsets) and offsets[0] == 0.0
    assert capture.capture_time(capture.clock_origin + 2.0) == pytest.approx(2.0)


def test_capture_reports_a_device_that_does_not_open():
    capture = AudioCapture(str(DATA / "no-such-file.flac")).start()
    assert list(capture.chunks_from(0.0, threading.Event())) == []
    capture.stop()
    assert capture.ended and "no-such-file.flac" in capture.error


def test_ffmpeg_commands():
    assert ffmpeg_command("pulse:default")[5:9] == ["-f", "pulse", "-i", "default"]
    assert ffmpeg_command("dshow:audio=Mic (USB)")[5:9] == ["-f", "dshow", "-i", "audio=Mic (USB)"]
    assert ffmpeg_command("avfoundation::0")[5:9] == ["-f", "avfoundation", "-i", ":0"]
    file_command = ffmpeg_command("/tmp/talk.wav")
    assert file_command[5:8] == ["-re", "-i", "/tmp/talk.wav"]
    assert file_command[-8:] == ["-vn", "-ac", "1", "-ar", "16000", "-f", "s16le", "-"]
    with pytest.raises(ValueError, match="no audio input"):
        ffmpeg_command(" ")


def test_the_board_rolls_up_whole_lines():
    board = rollup.CaptionBoard(rollup.BoardOptions(lines=2, chars_per_line=12))
    board.add_final("He hoped there would be")
    assert board.text() == "there would\nbe"
    board.set_interim("stew for dinner,")
    assert board.text() == "be stew for\ndinner,", "the interim words follow the final ones"
    board.add_final("stew for")
    board.set_interim("dinner, turnips")
    assert board.text() == "dinner,\nturnips"
    board.add_final("dinner, turnips")
    board.set_interim("")
    assert board.text() == "dinner,\nturnips"
    board.clear()
    board.add_final("a" * 30 + " b")  # a word longer than a line is cut
    assert board.text() == "a" * 12 + "\n" + "a" * 6 + " b"
    with pytest.raises(ValueError, match="lines must be 1 to 10"):
        rollup.BoardOptions(lines=0).validate()
    with pytest.raises(ValueError, match="characters per line"):
        rollup.CaptionBoard(rollup.BoardOptions(chars_per_line=3))


def test_punctuation_sent_alone_joins_the_word_before():
    board = rollup.CaptionBoard(rollup.BoardOptions(lines=2, chars_per_line=20))
    board.add_final("stew for dinner")
    board.add_final(",")  # the mark the stream settles once it heard what followed
    board.add_final("turnips and carrots")
    board.add_final(".")
    assert board.text() == "stew for dinner,\nturnips and carrots."


def test_caption_lines_fill_up_and_end_at_sentence_ends():
    lines = rollup.CaptionLines(chars_per_line=20)
    word = lambda text, at: subtitles.TimedWord(f" {text}" if text[0].isalnum() else text, at, at + 0.3)  # noqa: E731
    said = []
    for text, at in [("He", 0.0), ("hoped", 0.3), ("there", 0.6), ("would", 0.9), ("be", 1.2), ("stew", 1.5)]:
        said += lines.add((word(text, at),))
    assert said == [(0.0, "He hoped there would")], "a line ends where the next word would not fit"
    assert lines.pending == "be stew"
    said = lines.add((word("for", 1.8), word("dinner", 2.1)))
    assert said == [] and lines.pending == "be stew for dinner"
    said = lines.add((word(".", 2.4), word("Turnips", 3.0)))  # a sentence end closes its line
    assert said == [(1.2, "be stew for dinner.")]
    assert lines.flush() == [(3.0, "Turnips")] and lines.flush() == []
    said = lines.add(tuple(word(text, 4.0 + i) for i, text in enumerate(["and", "carrots", "and", "pies"])))
    assert said == [] and len(lines.pending) == 20
    said = lines.add((word(",", 7.5),))  # one character too many: the word and its mark move on
    assert said == [(4.0, "and carrots and")] and lines.pending == "pies,"
    with pytest.raises(ValueError, match="characters per line"):
        rollup.CaptionLines(chars_per_line=3)


def test_srt_is_timed_to_the_recording_and_valid_after_each_final(tmp_path):
    srt = live.CaptionFile(tmp_path / "rec.srt", origin=10.0)
    assert (tmp_path / "rec.srt").read_text() == subtitles.format_srt([])

    def words(*spec):
        return tuple(subtitles.TimedWord(f" {t}", s, e) for t, s, e in spec)

    srt.add(live.Final("before", words(("before", 9.0, 9.5))))  # said before recording began
    srt.add(live.Final("Hello there.", words(("Hello", 11.0, 11.4), ("there.", 11.5, 12.0))))
    text = (tmp_path / "rec.srt").read_text()
    assert text.startswith("1\n00:00:01,000 --> ") and "Hello there." in text and "before" not in text
    srt.add(live.Final("Again.", words(("Again.", 14.0, 14.6))))
    cues = srt.cues()
    assert [c.start for c in cues] == [1.0, 4.0] and cues[-1].end >= 4.6
    assert not list(tmp_path.glob(".rec.srt.*")), "temporary files left behind"


def test_an_srt_is_appended_to_with_its_cues_kept(tmp_path):
    """A script reloaded during a recording goes on with the recording's SRT."""

    def final(text, start):
        return live.Final(text, (subtitles.TimedWord(f" {text}", start, start + 0.8),))

    first = live.CaptionFile(tmp_path / "rec.srt", origin=2.0)
    first.add(final("Before.", 3.0))
    before = (tmp_path / "rec.srt").read_text()
    again = live.CaptionFile(tmp_path / "rec.srt", origin=-5.0, append=True)  # a new capture's clock
    assert (tmp_path / "rec.srt").read_text() == before, "nothing changes until new words come"
    again.add(final("After.", 1.0))
    text = (tmp_path / "rec.srt").read_text()
    assert text.startswith(before) and subtitles.parse_srt(text)[1].start == 6.0, text
    (tmp_path / "rec.vtt").write_text("WEBVTT\n")
    with pytest.raises(ValueError, match="only an SRT"):
        live.CaptionFile(tmp_path / "rec.vtt", append=True)


def test_stopping_captions_while_the_sidecar_is_unreachable_is_quick():
    # OBS restarts a session on a settings change: the old one must let go at once, not
    # after its wait for the sidecar.
    capture = AudioCapture("alsa:null").start()
    captions = live.LiveCaptions(capture, live.LiveOptions(address=f"127.0.0.1:{free_port()}")).start()
    try:
        time.sleep(1.0)
        assert captions.poll().status == "connecting"
        began = time.monotonic()
        captions.stop()
        took = time.monotonic() - began
    finally:
        capture.stop()
    assert not captions.running and took < 1.0, took
    assert captions.resume_point == 0.0


def test_capture_devices_are_listed_and_capture():
    devices = live_devices()
    assert "alsa:null" in [d.spec for d in devices], devices  # ALSA's null device, always there
    capture = AudioCapture("alsa:null").start()
    try:
        chunk = next(capture.chunks_from(0.0, threading.Event()))
    finally:
        capture.stop()
    assert len(chunk.data) > 0 and capture.error is None


def test_a_webvtt_caption_file_matches_cues_built_from_all_its_words(tmp_path):
    # Words before a pause that always ends a cue are frozen; the file still holds exactly
    # the cues built from every word at once.
    vtt = live.CaptionFile(tmp_path / "live.vtt")
    words, at = [], 0.3
    for utterance in (
        "He hoped there would be stew for dinner,",
        "turnips and carrots.",
        "Stuff it into you, his belly counselled him.",
        "After early nightfall",
    ):
        timed = []
        for text in utterance.split():
            timed.append(subtitles.TimedWord(f" {text}", at, at + 0.3))
            at += 0.35
        vtt.add(live.Final(utterance, tuple(timed)))
        words += timed
        at += 1.2 if len(words) < 12 else 0.4  # long pauses, then a short one
    text = (tmp_path / "live.vtt").read_text()
    assert text == subtitles.format_vtt(subtitles.build_cues(words)) and text.startswith("WEBVTT")
    with pytest.raises(ValueError, match="must end in .srt, .vtt"):
        live.CaptionFile(tmp_path / "live.txt")


def test_a_cue_held_up_for_reading_ends_where_the_words_after_a_pause_begin(tmp_path):
    """A translation is often longer than what was said: its cue stays up for reading into the
    pause after it, but not into the next words, as if every word were cued at once."""
    said = "que que primero que que lado lado lado que que primero que".split()
    first = tuple(subtitles.TimedWord(f" {w}", 0.9 + i * 0.15, 1.0 + i * 0.15) for i, w in enumerate(said))
    later = (subtitles.TimedWord(" Luego", 3.7, 4.1), subtitles.TimedWord(" vino.", 4.2, 4.6))
    srt = live.CaptionFile(tmp_path / "talk.es.srt")
    srt.add(live.Final(" ".join(said), first))
    srt.add(live.Final("Luego vino.", later))  # after a pause: the first cue is frozen
    cues = srt.cues()
    assert cues == subtitles.build_cues(first + later) and cues[0].end == 3.7, cues
    check_srt(tmp_path / "talk.es.srt")


def test_options_are_checked():
    with pytest.raises(ValueError, match="no sidecar address"):
        live.LiveOptions(address=" ").validate()
    with pytest.raises(ValueError, match="retry"):
        live.LiveOptions(retry_first_seconds=3, retry_max_seconds=1).validate()


# --- the script's property logic, with a stand-in for obspython ------------------------------


class FakeObs(types.ModuleType):
    """Just enough of obspython for the script's properties, settings, Text sources and recording
    events (not OBS itself): the test calls the script's tick as OBS's timer would."""

    OBS_TEXT_DEFAULT, OBS_PATH_FILE, OBS_PATH_DIRECTORY, OBS_PATH_FILE_SAVE = 0, 0, 2, 1
    OBS_COMBO_TYPE_EDITABLE, OBS_COMBO_FORMAT_STRING = 1, 3
    OBS_TEXT_INFO, OBS_TEXT_INFO_WARNING = 3, 1
    OBS_FRONTEND_EVENT_RECORDING_STARTED, OBS_FRONTEND_EVENT_RECORDING_STOPPED = 8, 10
    NO_OPS = ("timer_add", "timer_remove", "obs_frontend_add_event_callback", "obs_frontend_remove_event_callback")

    def __init__(self) -> None:
        super().__init__("obspython")
        self.properties: dict[str, tuple] = {}
        self.sources = [("Captions", "text_ft2_source"), ("Cam", "v4l2_input"), ("Title", "text_gdiplus")]
        self.texts: dict[str, list[str]] = {}  # each source's text after each update
        self.recording = ""  # the file OBS records to

    def obs_properties_create(self):
        return self.properties

    def _add(self, kind):
        def add(props, name, label, *args):
            props[name] = (kind, label, args, [])
            return props[name][3]

        return add

    def __getattr__(self, name):
        if name.startswith("obs_properties_add_"):
            return self._add(name.removeprefix("obs_properties_add_"))
        if name.startswith("obs_data_get_"):  # a key never set reads as its type's zero, as in OBS
            zero = {"string": "", "int": 0, "bool": False}[name.removeprefix("obs_data_get_")]
            return lambda data, key: data.get(key, zero)
        if name.endswith("_release") or name in self.NO_OPS:
            return lambda *args: None
        raise AttributeError(name)

    def obs_frontend_recording_active(self):
        return False

    def obs_frontend_streaming_active(self):
        return False

    def obs_frontend_get_last_recording(self):
        return self.recording

    def obs_get_source_by_name(self, name):
        return next((s for s in self.sources if s[0] == name), None)

    def obs_data_create(self):
        return {}

    def obs_data_has_user_value(self, data, key):
        return True  # a font chosen: the script leaves its size alone

    def obs_source_update(self, source, data):
        self.texts.setdefault(source[0], []).append(data["text"])

    def obs_source_get_settings(self, source):
        return {"text": self.texts.get(source[0], [""])[-1]}

    def obs_property_list_add_string(self, items, label, value):
        items.append(value)

    def obs_property_text_set_info_type(self, prop, kind):
        prop.append(("info type", kind))

    def obs_data_set_string(self, data, key, value):
        data[key] = value

    def obs_enum_sources(self):
        return self.sources

    def source_list_release(self, sources):
        pass

    def obs_source_get_name(self, source):
        return source[0]

    def obs_source_get_unversioned_id(self, source):
        return source[1]


@pytest.fixture()
def script(monkeypatch):
    fake = FakeObs()
    monkeypatch.setitem(sys.modules, "obspython", fake)
    monkeypatch.syspath_prepend(str(SCRIPT.parent))
    module = importlib.import_module(SCRIPT.stem)
    yield importlib.reload(module), fake
    sys.modules.pop(SCRIPT.stem, None)


def test_script_properties(script):
    module, fake = script
    module.State.devices, module.State.data = tuple(live_devices()), {}
    module.script_properties()
    props = fake.properties
    assert {"status", "refresh", "venv", "address", "token_file", "tls_ca", "text_source", "input", "language",
            "model", "lines", "chars_per_line", "clear_seconds", "srt", "accept_licenses",
            "download"} <= set(props)  # fmt: skip
    assert props["text_source"][3] == props["translated_source"][3] == ["Captions", "Title"], "Text sources only"
    assert props["lines"][2][:2] == (1, 10) and props["chars_per_line"][2][:2] == (8, 200)
    offered = props["input"][3]
    assert "pulse:default" in offered and offered.index("alsa:null") < offered.index("pulse:default"), offered
    assert props["status"][2] == (fake.OBS_TEXT_INFO,)
    assert "not importable" in module.State.data["status"], "the status property shows its setting"
    settings = {
        "venv": " /v ",
        "address": "h:1",
        "token_file": " ~/token ",
        "tls_ca": "",
        "text_source": "Captions",
        "input": "a.wav",
        "language": "en",
        "model": " small ",
        "accept_licenses": True,
        "lines": 3,
        "chars_per_line": 30,
        "srt": False,
        "clear_seconds": 0,
        "debug_log": "",
        "translate_to": " es ",
        "translation_model": "",
        "translated_source": "Title",
    }
    assert module.read_settings(settings) == module.Settings(
        venv="/v",
        address="h:1",
        token_file="~/token",
        text_source="Captions",
        input="a.wav",
        language="en",
        model="small",
        accept_licenses=True,
        lines=3,
        chars_per_line=30,
        srt=False,
        clear_seconds=0,
        translate_to="es",
        translated_source="Title",
    )


def test_script_status_says_why_the_input_failed(script):
    module, _ = script
    device = "alsa:no-such-device"
    capture = AudioCapture(device).start()
    session = live.LiveCaptions(capture, live.LiveOptions(address=f"127.0.0.1:{free_port()}")).start()
    module.State.live, module.State.session = live, session
    module.State.settings = module.Settings(address="127.0.0.1:9", input=device)
    try:
        Pump(session).until(lambda: capture.ended, 10, "the capture's end")
    finally:
        session.stop()
        capture.stop()
    assert f"Input {device}: failed: ffmpeg failed on '{device}'" in module.status_text()


def test_script_checks_the_venvs_python_version(script, tmp_path):
    module, _ = script
    with pytest.raises(ValueError, match="not a virtual environment"):
        module.site_packages(tmp_path)
    (tmp_path / "pyvenv.cfg").write_text("home = /usr/bin\nversion = 3.9.18\n")
    ours = f"{sys.version_info.major}.{sys.version_info.minor}"
    expected = f"Python 3.9.18 but OBS runs Python {ours}: create the venv with python{ours}"
    with pytest.raises(ValueError, match=expected):
        module.site_packages(tmp_path)
    assert module.site_packages(pathlib.Path(sys.prefix)).is_dir()


def test_script_translates_the_captions_beside_them_and_into_an_srt(script, sidecar_server, m2m100, tmp_path):
    """The script driven as OBS would (settings, recording events, timer ticks) against a real
    sidecar with a tiny random translation model: a language the sidecar refuses shows in the
    status while the captions go on; Spanish then goes to a Text source of its own and to the
    recording's talk.es.srt on the captions' times, and under the captions once that source is
    emptied."""
    module, fake = script
    audio, reference = speech("1089-134691-0000", "1089-134691-0001", pause=1.5, tail=1.0)
    fake.recording = str(tmp_path / "talk.mkv")
    settings = {
        "venv": "",
        "address": sidecar_server.address,
        "token_file": "",
        "tls_ca": "",
        "text_source": "Captions",
        "input": str(write_wav(tmp_path / "two.wav", audio)),
        "language": "",
        "lines": 2,
        "chars_per_line": 42,
        "srt": True,
        "clear_seconds": 0,
        "debug_log": "",
        "translate_to": "xx",
        "translation_model": str(m2m100),
        "translated_source": "Title",
    }

    tick_until = functools.partial(ticked_until, module)

    module.script_load(settings)
    module.script_update(settings)
    module.on_event(fake.OBS_FRONTEND_EVENT_RECORDING_STARTED)
    session = module.State.session
    try:
        tick_until(lambda: module.State.srt.cues(), 30, "a caption while xx is refused")
        status = module.status_text()
        assert f"Sidecar at {sidecar_server.address}: connected" in status, status
        assert "Translation into xx: failed: INVALID_ARGUMENT: unknown target language 'xx'" in status, status
        module.State.data = {}
        module.script_properties()
        assert ("info type", fake.OBS_TEXT_INFO_WARNING) in fake.properties["status"][3]
        module.script_update({**settings, "translate_to": "es"})
        tick_until(lambda: module.State.pending is None, 5, "Spanish applied")
        assert module.State.session is session, "the captions go on: only the translation starts again"
        tick_until(lambda: not session.running and not module.State.translation.backlog, 60, "every translation")
        module.tick()  # takes the last ones
        status = module.status_text()
        assert "Translating into es" in status and "Writing talk.es.srt" in status, status
        module.script_update({**settings, "translate_to": "es", "translated_source": ""})
        tick_until(lambda: module.State.pending is None, 5, "the translation under the captions")
        module.tick()
        together = fake.texts["Captions"][-1].splitlines()
        module.on_event(fake.OBS_FRONTEND_EVENT_RECORDING_STOPPED)
    finally:
        module.script_unload()

    original = subtitles.parse_srt((tmp_path / "talk.srt").read_text())
    assert word_error_rate(reference, " ".join(" ".join(c.lines) for c in original)) < 0.3, original
    translated = subtitles.parse_srt((tmp_path / "talk.es.srt").read_text())
    assert translated and not (tmp_path / "talk.xx.srt").exists()
    check_srt(tmp_path / "talk.es.srt")
    # Each translation is spread over its original's words: within the captions' times, but for
    # the lead-in and the time to read that a longer text may take (SRT times are whole ms).
    assert original[0].end < translated[0].start, "the captions said while xx was refused stay untranslated"
    assert original[-1].start - subtitles.LEAD_IN_SECONDS - 0.001 <= translated[0].start < original[-1].end
    assert translated[-1].end <= original[-1].end + subtitles.CueRules().max_duration
    shown = [text for text in fake.texts["Title"] if text]
    assert shown and fake.texts["Title"][-1] == "", "emptied when the translation moved under the captions"
    written = " ".join(" ".join(c.lines) for c in translated).split()
    assert set(shown[-1].split()) <= set(written), (shown[-1], written)
    assert len(together) > 2 and set(together[-1].split()) <= set(written), together
    assert fake.texts["Captions"][-1] == "", "no caption stays on screen once the script is unloaded"


def test_script_downloads_the_caption_model_and_captions_with_it(script, tmp_path):
    """ "Download the models" pressed as a person would, against a real
    sidecar whose hub is a loopback one serving a tiny random Whisper as "small": the captions
    it refused for want of the model start once the model is in, and the Status line says what
    came, and why others did not (a licence not accepted, a name the catalogue lacks)."""
    from sidecar_client.downloads import ModelDownloads
    from tests.fake_hub import FakeHub
    from tests.harness import serving
    from tests.tiny_whisper import build_tiny_whisper

    module, fake = script
    audio, _ = speech("1089-134691-0000", "1089-134691-0001", pause=1.0, tail=1.0)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update(HF_HUB_CACHE=str(tmp_path / "cache"), HF_HUB_DISABLE_TELEMETRY="1")
    with FakeHub() as hub:
        hub.add("Systran/faster-whisper-small", build_tiny_whisper(tmp_path / "small"))
        with serving(tmp_path, env={**env, "HF_ENDPOINT": hub.endpoint}) as client:
            settings = {
                **dict.fromkeys(("venv", "token_file", "tls_ca", "language", "debug_log", "translated_source"), ""),
                **dict.fromkeys(("translate_to", "translation_model"), ""),
                "address": client.address,
                "text_source": "Captions",
                "input": str(write_wav(tmp_path / "talk.wav", audio)),
                "model": "small",
                "accept_licenses": False,
                "lines": 2,
                "chars_per_line": 42,
                "srt": False,
                "clear_seconds": 0,
            }
            module.script_load(settings)
            module.script_update(settings)
            try:
                ticked_until(module, lambda: module.State.status.startswith("failed"), 30, "the refusal")
                assert "small" in module.status_text(), module.status_text()
                assert module.download_clicked(None, None)
                assert "Downloading small" in module.status_text() or "asking" in module.status_text()
                ticked_until(module, lambda: not module.State.downloads.running, 60, "the download")
                module.tick()  # takes the model that came: the captions start again with it
                assert "Downloaded small" in module.status_text(), module.status_text()
                module.State.data = {}
                module.script_properties()  # the button's own line says it too: the Status is scrolled away
                assert "Downloaded small" in module.State.data["download_status"]
                assert fake.properties["download_status"][2] == (fake.OBS_TEXT_INFO,)
                ticked_until(module, lambda: module.State.status == "connected", 30, "captions with small")
                assert [m.name for m in client.downloadable_models() if m.downloaded and m.name == "small"]
            finally:
                module.script_unload()

            others = ModelDownloads(module.State.live.LiveOptions(address=client.address).connection(),
                                    ["whisper-huge", "xtts_v2", "base", "small"]).start()  # fmt: skip
            deadline = time.monotonic() + 30
            while others.running and time.monotonic() < deadline:
                time.sleep(0.1)
            assert others.status.splitlines() == [
                "whisper-huge: not in the sidecar's catalogue (`sidecar models list` names what it can download)",
                "xtts_v2: its licence must be accepted first (https://coqui.ai/cpml): tick the box",
                "base: already downloaded",
                "small: already downloaded",
            ]
            assert others.take_downloaded() == []
    empty = {**settings, "model": ""}
    module.script_update(empty)
    module.State.pending = None
    module.apply_settings(module.read_settings(empty))
    module.download_clicked(None, None)
    assert "Name a Caption model or a Translation model to download" in module.status_text()


def test_script_reconnects_to_a_restarted_sidecar_and_keeps_the_srt(script, tmp_path):
    """The script driven as OBS would, against a real `sidecar serve` killed with SIGKILL once the
    first utterance is final and started again on the same port a while later: the status says
    the script is reconnecting, the captions come back within 5 s of the new sidecar being
    ready, and the recording's SRT keeps the cues it had."""
    module, fake = script
    port, ready = free_port(), tmp_path / "ready"
    server = serve(port, ready)
    # "Stuff it into you ..." then a pause that closes its cues, then speech past the restart
    # (27 s in all).
    audio, _ = speech("1089-134686-0001", "1089-134691-0000", "1089-134691-0001", "1089-134686-0000", pause=1.5)
    fake.recording = str(tmp_path / "talk.mkv")
    address = f"127.0.0.1:{port}"
    settings = {
        "venv": "", "address": address, "token_file": "", "tls_ca": "", "text_source": "Captions",
        "input": str(write_wav(tmp_path / "talk.wav", audio)), "language": "", "lines": 2,
        "chars_per_line": 42, "srt": True, "clear_seconds": 0, "debug_log": "", "translate_to": "",
        "translation_model": "", "translated_source": "",
    }  # fmt: skip

    tick_until = functools.partial(ticked_until, module)

    module.script_load(settings)
    module.script_update(settings)
    module.on_event(fake.OBS_FRONTEND_EVENT_RECORDING_STARTED)
    try:
        tick_until(lambda: "him" in (tmp_path / "talk.srt").read_text().lower(), 30, "the first utterance")
        final_before = subtitles.parse_srt((tmp_path / "talk.srt").read_text())
        server.send_signal(signal.SIGKILL)
        server.wait()
        tick_until(lambda: "no sidecar answers" in module.State.status, 15, "the script to miss the sidecar")
        reconnecting = module.status_text()
        module.script_properties()
        warned = ("info type", fake.OBS_TEXT_INFO_WARNING) in fake.properties["status"][3]
        # Back some 15 s after the kill, as when a person restarts it: long enough for a
        # client's backoff between tries to have grown to seconds.
        back_at = time.monotonic() + 10
        tick_until(lambda: time.monotonic() >= back_at, 11, "the restart")
        server = serve(port, ready)
        ready_at = time.monotonic()
        tick_until(lambda: module.State.words_at > ready_at, 15, "captions after the restart")
        resumed, status = module.State.words_at - ready_at, module.status_text()
        tick_until(lambda: len(module.State.srt.cues()) > len(final_before), 30, "a cue after the restart")
    finally:
        module.script_unload()
        server.kill()
        server.wait()
    assert f"Sidecar at {address}: reconnecting: no sidecar answers at {address}" in reconnecting, reconnecting
    assert warned, "the status property shows a warning while the sidecar is away"
    assert f"Sidecar at {address}: connected" in status, status
    assert resumed < 5.0, f"captions came back {resumed:.1f} s after the new sidecar was ready"
    cues = subtitles.parse_srt((tmp_path / "talk.srt").read_text())
    kept = cues[: len(final_before)]
    assert [(c.start, c.lines) for c in kept] == [(c.start, c.lines) for c in final_before], (final_before, cues)
    assert cues[len(kept)].start > kept[-1].start and "wait" in cues[len(kept)].text.lower(), cues


def ticked_until(module, done, seconds: float, what: str) -> None:
    """Runs the script's timer, as OBS would, until done() or `seconds` have passed."""
    deadline = time.monotonic() + seconds
    while not done():
        assert time.monotonic() < deadline, f"no {what} in {seconds} s: {module.status_text()}"
        module.tick()
        time.sleep(module.TICK_MS / 1000)

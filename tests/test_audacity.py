"""The Audacity plugin against a real Audacity 3.2 under Xvfb and a real sidecar.

One Audacity serves the module (starting it costs seconds); each test starts from an empty
project, imports real speech, selects a range, runs an action through the bridge, and reads
the result back through the pipe.
"""

from __future__ import annotations

import functools
import os
import pathlib
import re
import subprocess
import sys
import time

import numpy as np
import pytest

from sidecar.media.audio import decode_file
from tests.audacity_fixtures import Desktop, audacity, clear_project, missing, real_audacity  # noqa: F401
from tests.conftest import word_error_rate
from tests.xvfb import artifacts_dir

pytestmark = pytest.mark.skipif(missing() is not None, reason=missing() or "")

# demo-1089.flac: the four LibriSpeech clips in uid order with 0.6 s gaps (23.01 s).
DEMO_SECONDS = 23.01
SECOND_CLIP_START = 11.035  # the second utterance starts here; the selection starts before it
DITHER_SLACK = 1e-3  # Audacity dithers each 16-bit export differently (a few LSB)
TIME_SLACK = 0.02  # label and clip times are written to the microsecond, audio to the sample


@pytest.fixture()
def demo(audacity, data_dir):
    """The project holds demo-1089 as track 0."""
    audacity.command("Import2", Filename=str(data_dir / "demo-1089.flac"))
    return audacity.tracks()[0]


def test_caption_labels_the_selection_in_project_time(audacity, demo, client, librispeech):
    from sidecar_audacity import actions

    start, end = 10.8, DEMO_SECONDS
    audacity.select(start, end, [0])
    outcome = actions.caption(audacity, client)
    tracks = audacity.tracks()
    assert [t.name for t in tracks] == ["demo-1089", "Captions"]
    assert (tracks[0].start, tracks[0].end) == (demo.start, demo.end)  # the original is untouched
    labels = audacity.labels()[1]
    assert len(labels) >= 2 and outcome.sidecar_seconds > 0
    assert all(start - TIME_SLACK <= label.start < label.end <= end + TIME_SLACK for label in labels)
    assert labels[0].start >= SECOND_CLIP_START - 0.5  # in project time, not selection time
    reference = " ".join(librispeech[uid][1] for uid in ("1089-134686-0001", "1089-134691-0000", "1089-134691-0001"))
    assert word_error_rate(reference, " ".join(label.text for label in labels)) <= 0.15
    assert audacity.selection().user_range == pytest.approx((start, end), abs=1e-3)  # put back
    assert [t.name for t in audacity.tracks()] == ["demo-1089", "Captions"]  # reading it undid nothing
    assert audacity.labels()[1] == labels
    # One undo step, as Edit > Undo shows it: the first Ctrl+Z takes the whole action back.
    assert undo_menu(audacity)[0] == "Undo Label"
    audacity.command("Undo")
    assert [t.name for t in audacity.tracks()] == ["demo-1089"] and undo_menu(audacity)[0] == "Undo Import"
    audacity.command("Redo")
    assert [t.name for t in audacity.tracks()] == ["demo-1089", "Captions"] and audacity.labels()[1] == labels


def undo_menu(audacity) -> tuple[str, str]:
    """The Edit menu's Undo and Redo items as the user reads them ("Undo Import", "Redo")."""
    items = [m["label"] for m in audacity.get_info("Menus") if str(m.get("label", "")).startswith(("Undo", "Redo"))]
    return items[0], items[1]


def test_caption_takes_the_whole_project_when_nothing_is_selected(audacity, client, librispeech, tmp_path):
    from sidecar_audacity import actions
    from sidecar_audacity.errors import PluginError
    from sidecar_common.subtitles import parse_srt

    path, reference = librispeech["1089-134691-0001"]  # 5.4 s
    audacity.command("Import2", Filename=str(path))
    audacity.select(1.0, 1.0, [])  # a cursor, no track
    actions.caption(audacity, client, actions.CaptionOptions(track_name="Subs"))
    labels = audacity.labels()[1]
    assert word_error_rate(reference, " ".join(label.text for label in labels)) <= 0.15
    assert labels[0].start < 1.0 and labels[-1].end > 4.5

    srt, vtt = tmp_path / "demo.srt", tmp_path / "demo.vtt"
    actions.export_subtitles(audacity, srt)
    actions.export_subtitles(audacity, vtt, track_names=("Subs",))
    cues = parse_srt(srt.read_text())
    assert [" ".join(c.lines) for c in cues] == [label.text for label in labels]
    assert all(len(c.lines) <= 2 and max(map(len, c.lines)) <= 42 for c in cues), "wrapped as `sidecar subtitle` does"
    assert any(len(c.lines) == 2 for c in cues) or all(len(label.text) <= 42 for label in labels)
    assert [c.start for c in cues] == pytest.approx([label.start for label in labels], abs=1e-3)
    assert vtt.read_text().startswith("WEBVTT") and labels[0].text in vtt.read_text().replace("\n", " ")
    before = srt.read_text()
    with pytest.raises(PluginError, match="exists"):
        actions.export_subtitles(audacity, srt)  # nothing of the user's is overwritten
    assert srt.read_text() == before
    actions.caption(audacity, client, actions.CaptionOptions(track_name="Subs"))  # a second run
    assert [t.name for t in audacity.tracks()][1:] == ["Subs", "Subs 2"]


def test_denoise_adds_an_aligned_track_and_leaves_the_original(audacity, demo, client, tmp_path):
    from sidecar_audacity import actions

    start, end = 2.0, 6.0
    original = str(tmp_path / "before.wav")
    audacity.export(original, start, end, [0], 1)
    audacity.select(start, end, [0])
    outcome = actions.denoise(audacity, client, actions.DenoiseOptions(attenuation_limit_db=12))
    tracks = audacity.tracks()
    assert [t.name for t in tracks] == ["demo-1089", "demo-1089 (denoised)"]
    assert tracks[1].start == pytest.approx(start, abs=TIME_SLACK)
    assert tracks[1].end - tracks[1].start == pytest.approx(end - start, abs=TIME_SLACK)
    assert (tracks[0].start, tracks[0].end) == (demo.start, demo.end)
    after = str(tmp_path / "after.wav")
    audacity.export(after, start, end, [0], 1)
    before_samples, after_samples = decode_file(original).samples, decode_file(after).samples
    assert before_samples.shape == after_samples.shape  # the original's audio is untouched
    assert np.abs(before_samples - after_samples).max() < DITHER_SLACK
    assert outcome.sidecar_seconds > 0
    assert focused(audacity) == 1  # the new track, scrolled into view
    audacity.selection()  # reading the selection (add a label, undo) undoes nothing of the action
    assert placed(audacity.tracks()[1]) == placed(tracks[1])
    for _ in range(2):  # undo steps: the import (named after its file), the move into place
        audacity.command("Undo")
    assert [t.name for t in audacity.tracks()] == ["demo-1089"]
    for _ in range(2):
        audacity.command("Redo")
    assert placed(audacity.tracks()[1]) == placed(tracks[1])  # redo brings it back, name and place


def placed(track) -> tuple:
    return track.name, track.start, track.end


def focused(audacity) -> int | None:
    """The index of the track with the keyboard focus (the yellow frame)."""
    return next((i for i, t in enumerate(audacity.get_info("Tracks")) if t.get("focused")), None)


def test_stems_add_one_aligned_track_per_stem(audacity, demo, sidecar_server, client, tmp_path):
    from sidecar_audacity import actions
    from tests.stems_fixtures import TINY_NAME, TINY_SOURCES, make_tiny_repo

    repository = make_tiny_repo(tmp_path / "demucs")
    start, end = 3.0, 5.0
    audacity.select(start, end, [0])
    actions.split_stems(audacity, client, actions.StemsOptions(model=TINY_NAME, model_repository=str(repository)))
    tracks = audacity.tracks()
    assert sorted(t.name for t in tracks[1:]) == sorted(f"demo-1089 - {s}" for s in TINY_SOURCES)
    for track in tracks[1:]:
        assert track.start == pytest.approx(start, abs=TIME_SLACK)
        assert track.end - track.start == pytest.approx(end - start, abs=TIME_SLACK)


def test_caption_speakers_gives_a_label_track_per_speaker(audacity, client, data_dir):
    from sidecar_audacity import actions

    audacity.command("Import2", Filename=str(data_dir / "ami" / "dev00.flac"))
    start, end = 9.0, 17.0  # MEE009 until 13.3 s, then MEE012 (ami/ami-excerpts.rttm)
    audacity.select(start, end, [0])
    outcome = actions.caption_speakers(audacity, client, actions.CaptionOptions(speaker_count=2))
    label_tracks = [t for t in audacity.tracks() if t.kind == "label"]
    assert len(label_tracks) == 2, outcome.summary
    assert focused(audacity) == label_tracks[0].index  # the first new track, with the others below it
    assert {t.name for t in label_tracks} == set(outcome.summary.split(": ")[1].split(", "))
    labels = audacity.labels()
    for track in label_tracks:
        assert labels[track.index] and all(label.text for label in labels[track.index])
        assert all(start - TIME_SLACK <= label.start < label.end <= end + TIME_SLACK for label in labels[track.index])


def test_cancel_stops_the_sidecar_and_adds_nothing(audacity, demo, client):
    from sidecar_audacity import actions
    from sidecar_audacity.errors import CancelledError

    cancelled_at = []

    def cancel_once_running(fraction: float, stage: str) -> None:
        if stage == "enhancing" and not cancelled_at:
            cancelled_at.append(time.monotonic())
            job.cancel()

    job = actions.Job(cancel_once_running)
    with pytest.raises(CancelledError):
        actions.denoise(audacity, client, job=job)
    assert time.monotonic() - cancelled_at[0] < 2  # the call ends at once, the sidecar within a block
    assert [t.name for t in audacity.tracks()] == ["demo-1089"]
    audacity.select(1.0, 2.0, [0])
    actions.denoise(audacity, client)  # the same sidecar and pipe take the next job
    assert [t.name for t in audacity.tracks()] == ["demo-1089", "demo-1089 (denoised)"]


def test_empty_project_and_empty_selection_are_reported(audacity, demo, client):
    from sidecar_audacity import actions
    from sidecar_audacity.errors import EmptySelectionError

    audacity.select(40.0, 50.0, [0])  # after the audio ends
    with pytest.raises(EmptySelectionError, match="holds no audio"):
        actions.denoise(audacity, client)
    clear_project(audacity)
    with pytest.raises(EmptySelectionError, match="no audio tracks"):
        actions.caption(audacity, client)


def test_cli_captions_and_reports_unreachable_audacity(audacity, demo, sidecar_server, tmp_path, capsys):
    from sidecar_audacity import cli

    audacity.select(0.0, 3.0, [0])
    audacity.close()  # the CLI is another client: the pipe serves one at a time
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "sidecar_audacity.cli",
            "caption",
            "--server",  # the sidecar's options come after the action too
            sidecar_server.address,
            "-q",
            "--track-name",
            "From CLI",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert re.fullmatch(r"(1 caption|(0|[2-9]|\d\d+) captions) in 'From CLI'\n", done.stdout), done.stdout
    assert [t.name for t in audacity.tracks()] == ["demo-1089", "From CLI"]  # reconnects

    assert cli.main(["--pipe-dir", str(tmp_path), "caption"]) == 2
    assert "scripting pipe" in capsys.readouterr().err
    audacity.close()
    assert cli.main(["--server", "127.0.0.1:9", "denoise"]) == 2
    assert "no sidecar answers at 127.0.0.1:9" in capsys.readouterr().err
    audacity.close()
    assert cli.main(["export-subtitles", str(tmp_path / "out.txt")]) == 1
    assert "must end in .srt or .vtt" in capsys.readouterr().err


def test_panel_runs_an_action_and_cancels_one(real_audacity, audacity, demo, sidecar_server):
    import tkinter as tk

    from sidecar_audacity.panel import Panel

    root = tk.Tk(screenName=real_audacity.display)
    try:
        panel = Panel(root, address=sidecar_server.address)
        audacity.select(4.0, 6.0, [0])
        audacity.close()
        panel.attenuation.set("12")
        panel.start("denoise")
        pump(root, lambda: not panel.busy)
        assert panel.outcome is not None, panel.status.get()
        assert "(denoised)" in panel.status.get() and panel.progress["value"] == 1.0

        audacity.select(0.0, DEMO_SECONDS, [0])
        audacity.close()
        panel.start("denoise")
        # The last result does not stay up while the next action gets going.
        assert panel.progress["value"] == 0.0 and "(denoised)" not in panel.status.get()
        pump(root, lambda: panel.status.get().startswith("Enhancing"))
        panel.cancel()
        pump(root, lambda: not panel.busy)
        assert panel.outcome is None and "cancelled" in panel.status.get()
        assert [t.name for t in audacity.tracks()] == ["demo-1089", "demo-1089 (denoised)"]
        panel.attenuation.set("-3")
        panel.start("denoise")
        assert not panel.busy and "0 to 100 dB" in panel.status.get()
    finally:
        root.destroy()


def pump(root, done, seconds: float = 60.0) -> None:
    """Runs the Tk loop until done() or the time is up."""
    deadline = time.monotonic() + seconds
    while not done():
        assert time.monotonic() < deadline, "the panel did not get there in time"
        root.update()
        time.sleep(0.02)


def test_unreachable_audacity_fails_fast_with_a_reason(tmp_path):
    from sidecar_audacity.errors import AudacityUnreachableError
    from sidecar_audacity.pipe import PipeConnection, pipe_paths

    began = time.monotonic()
    with pytest.raises(AudacityUnreachableError, match="scripting pipe|not running"):
        PipeConnection(str(tmp_path), connect_timeout=0.5).connect()
    for path in pipe_paths(str(tmp_path)):
        os.mkfifo(path)  # stale FIFOs that no Audacity reads: a blocking open would hang here
    with pytest.raises(AudacityUnreachableError):
        PipeConnection(str(tmp_path), connect_timeout=0.5).connect()
    assert time.monotonic() - began < 5


def test_a_modal_dialog_is_reported_not_waited_for(real_audacity, audacity, tmp_path):
    """Importing a labels text file opens an error dialog in Audacity 3.2, which stalls the pipe."""
    from sidecar_audacity.errors import AudacityStalledError

    labels = tmp_path / "labels.txt"
    labels.write_text("0.5\t1.5\thello\n")
    began = time.monotonic()
    with pytest.raises(AudacityStalledError, match="dialog"):
        audacity.command("Import2", Filename=str(labels), timeout=3)
    assert time.monotonic() - began < 10
    with pytest.raises(AudacityStalledError):
        audacity.tracks()  # still stalled: said so again, no reply is mistaken for another's
    real_audacity.restart()  # a new Audacity: the same bridge reconnects on its next command
    assert audacity.tracks() == []


def test_new_tracks_are_scrolled_into_view_and_focused(audacity, client, librispeech):
    """In a project taller than the window the new track (at the bottom: moving it up would cost
    an undo step per place) is scrolled into view, and the action stays one undo step."""
    from sidecar_audacity import actions

    path, _ = librispeech["1089-134691-0001"]
    for _ in range(5):
        audacity.command("Import2", Filename=str(path))
    audacity.command("FirstTrack")  # the view at the top, as a project opens
    assert len(rulers(audacity)) < 5  # not every track fits
    audacity.select(0.0, 5.0, [0])
    actions.caption(audacity, client)
    tracks = audacity.tracks()
    assert tracks[-1].name == "Captions" and focused(audacity) == len(tracks) - 1
    heights = [bottom - top for _, top, _, bottom in rulers(audacity)]
    assert heights[-1] < heights[0]  # the lowest track in view is the label track (shorter than audio)
    assert undo_menu(audacity)[0] == "Undo Label" and [t.selected for t in tracks] == [True] + [False] * 5


def rulers(audacity) -> list[list[int]]:
    """The vertical rulers of the tracks in view, top to bottom (GetInfo lists no others)."""
    return [box["box"] for box in audacity.get_info("Boxes") if box.get("label") == "VRuler"]


def test_an_open_dialog_stops_an_action_before_it_changes_anything(
    real_audacity, audacity, demo, sidecar_server, capsys
):
    """Audacity answers its pipe behind Preferences and behind the save prompt, so an action
    would run behind them: it refuses to start instead, and runs once the dialog is closed."""
    from sidecar_audacity import cli, dialogs

    desktop = Desktop(real_audacity.display)
    audacity.select(0.0, 3.0, [0])
    before = (audacity.tracks(), undo_menu(audacity))
    desktop.press("^demo-1089$", "ctrl+p", until=lambda: desktop.windows("^Preferences"))
    assert dialogs.listed_dialogs(audacity.get_info("Boxes")) == ["Preferences: Devices"]  # the pipe's own view
    audacity.close()  # the CLI is another client
    caption = ["--server", sidecar_server.address, "-q", "caption"]
    assert cli.main(caption) == 2
    assert "a dialog is open in Audacity (Preferences: Devices): close it and run the action again" in (
        capsys.readouterr().err
    )
    assert (audacity.tracks(), undo_menu(audacity)) == before  # nothing added, no undo step
    audacity.close()
    desktop.press("^Preferences", "Escape", until=lambda: not desktop.windows("^Preferences"), click_corner=True)

    # GTK draws the save prompt itself: GetInfo does not list it, X11 shows it modal.
    boxes = functools.partial(audacity.get_info, "Boxes")
    desktop.press("^demo-1089$", "ctrl+w", until=lambda: desktop.windows("^Save changes"))
    assert dialogs.listed_dialogs(boxes()) == []
    assert dialogs.open_dialog(boxes) == "Save changes to demo-1089?"
    desktop.press("^Save changes", "Escape", until=lambda: not desktop.windows("^Save changes"))
    assert dialogs.open_dialog(boxes) is None  # the Welcome window stays open: it is not modal

    audacity.close()
    assert cli.main(caption) == 0, capsys.readouterr().err
    assert [t.name for t in audacity.tracks()] == ["demo-1089", "Captions"]


def test_panel_shows_whether_the_sidecar_answers_and_fails_fast_without_it(
    real_audacity, audacity, demo, sidecar_server, tmp_path
):
    import tkinter as tk

    from sidecar_audacity.panel import Panel

    dead = "127.0.0.1:9"  # nothing listens on the discard port
    root = tk.Tk(screenName=real_audacity.display)
    try:
        panel = Panel(root, address=sidecar_server.address)
        audacity.select(0.0, 3.0, [0])
        audacity.close()
        pump(root, lambda: panel.sidecar_status.get() == f"Sidecar: connected ({sidecar_server.address})", 15)
        screenshot(real_audacity.display, root, tmp_path, "audacity-panel-connected.png")

        panel.server.set(dead)  # the next check and the next action use the field
        pump(root, lambda: panel.sidecar_status.get().startswith(f"Sidecar: not reachable at {dead}"), 15)
        assert panel.sidecar_status.get().endswith("start it with `sidecar serve`")
        screenshot(real_audacity.display, root, tmp_path, "audacity-panel-unreachable.png")
        began = time.monotonic()
        panel.start("caption")
        pump(root, lambda: not panel.busy, 10)
        assert time.monotonic() - began < 1.5
        assert panel.outcome is None and f"no sidecar answers at {dead}" in panel.status.get()
        assert [t.name for t in audacity.tracks()] == ["demo-1089"]
        audacity.close()
        panel.server.set(sidecar_server.address)
        pump(root, lambda: panel.sidecar_status.get().startswith("Sidecar: connected"), 15)
    finally:
        root.destroy()


def screenshot(display: str, root, tmp_path: pathlib.Path, name: str) -> None:
    """The panel as the user sees it, kept under $SIDECAR_TEST_ARTIFACTS (else the test's tmp_path)."""
    root.update()
    geometry = (root.winfo_rootx(), root.winfo_rooty(), root.winfo_width(), root.winfo_height())
    shot = Desktop(display).grab(artifacts_dir(tmp_path) / name, *geometry)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert gray(shot).std() > 20  # drawn, not a blank region


def gray(png: pathlib.Path) -> np.ndarray:
    """The image's pixels as grey levels, decoded by ffmpeg."""
    done = subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(png), "-f", "rawvideo", "-pix_fmt", "gray", "-"],
        capture_output=True,
        check=True,
        timeout=30,
    )
    return np.frombuffer(done.stdout, np.uint8)


def test_a_sidecar_killed_mid_action_changes_nothing_and_the_next_action_works(real_audacity, audacity, demo, tmp_path):
    """kill -9 of a real `sidecar serve` while the panel denoises the whole demo: the project
    keeps its tracks and samples, the panel says the sidecar went away (no traceback), and the
    next action runs once a new sidecar serves on the same port."""
    import signal
    import tkinter as tk

    from sidecar_audacity.panel import Panel
    from tests.harness import free_port, serve

    port, ready = free_port(), tmp_path / "ready"
    server = serve(port, ready)
    audacity.export(str(tmp_path / "before.wav"), 0.0, DEMO_SECONDS, [0], 1)
    audacity.select(0.0, DEMO_SECONDS, [0])
    before = audacity.tracks()
    audacity.close()
    root = tk.Tk(screenName=real_audacity.display)
    try:
        panel = Panel(root, address=f"127.0.0.1:{port}")
        panel.start("denoise")
        pump(root, lambda: panel.status.get().startswith("Enhancing"))
        server.send_signal(signal.SIGKILL)
        server.wait()
        pump(root, lambda: not panel.busy, 15)
        went_away = panel.status.get()
        assert panel.outcome is None and went_away.startswith("the sidecar went away while denoising"), went_away
        assert went_away.endswith("; nothing was added") and "Traceback" not in went_away
        assert audacity.tracks() == before
        audacity.export(str(tmp_path / "after.wav"), 0.0, DEMO_SECONDS, [0], 1)
        samples = [decode_file(str(tmp_path / f"{name}.wav")).samples for name in ("before", "after")]
        assert samples[0].shape == samples[1].shape and np.abs(samples[0] - samples[1]).max() < DITHER_SLACK

        server = serve(port, ready)
        audacity.select(1.0, 2.0, [0])
        audacity.close()
        panel.start("denoise")
        pump(root, lambda: not panel.busy)
        assert panel.outcome is not None, panel.status.get()
        assert [t.name for t in audacity.tracks()] == ["demo-1089", "demo-1089 (denoised)"]
    finally:
        root.destroy()
        server.kill()
        server.wait()


def test_the_panel_downloads_a_model_with_progress_and_cancels_one(real_audacity, tmp_path):
    """ "Download models..." lists the sidecar's catalogue, downloads one into the sidecar's
    cache (here from a loopback hub) on the panel's progress bar, and Cancel stops another,
    leaving no partial file."""
    import tkinter as tk

    from sidecar_audacity.panel import Panel
    from tests.fake_hub import FakeHub
    from tests.harness import free_port, serve

    weights = tmp_path / "weights"
    weights.mkdir()
    (weights / "config.json").write_text("{}")
    (weights / "model.bin").write_bytes(os.urandom(24 << 20))
    cache = tmp_path / "cache"
    with FakeHub() as hub:
        hub.add("Systran/faster-whisper-small", weights)
        hub.add("Systran/faster-whisper-medium", weights)
        hub.slow.add("model.bin")  # 3 s each, time to see it and to cancel one
        env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
        env.update(HF_ENDPOINT=hub.endpoint, HF_HUB_CACHE=str(cache), HF_HUB_DISABLE_TELEMETRY="1")
        port = free_port()
        server = serve(port, tmp_path / "ready", env=env)
        root = tk.Tk(screenName=real_audacity.display)
        try:
            panel = Panel(root, address=f"127.0.0.1:{port}")
            dialog = panel.open_models()
            pump(root, lambda: dialog.models, 15)
            assert "xtts_v2" in dialog.models and not dialog.models["small"].downloaded
            dialog.table.selection_set("small")
            dialog.table.see("small")
            root.update()
            dialog.download()
            pump(root, lambda: panel.status.get().startswith("Downloading small: 10 of 24 MiB"), 15)
            assert 0.3 < panel.progress["value"] < 0.6 and str(dialog.download_button["state"]) == "disabled"
            screenshot(real_audacity.display, dialog.window, tmp_path, "audacity-models-downloading.png")
            pump(root, lambda: not panel.busy, 30)
            assert panel.outcome is not None, panel.status.get()
            assert panel.status.get() == "small is downloaded and checked: the sidecar can use it now."
            pump(root, lambda: dialog.models["small"].downloaded, 15)
            assert "downloaded" in dialog.table.item("small", "tags") and dialog.table.selection() == ("small",)
            screenshot(real_audacity.display, dialog.window, tmp_path, "audacity-models-downloaded.png")

            dialog.table.selection_set("medium")
            dialog.table.see("medium")
            root.update()
            dialog.download()
            pump(root, lambda: panel.status.get().startswith("Downloading medium: 10"), 15)
            medium = cache / "models--Systran--faster-whisper-medium"
            assert any(medium.rglob("*.part"))
            panel.cancel()
            pump(root, lambda: not panel.busy, 15)
            assert panel.status.get() == "cancelled; the sidecar stopped and removed the partial download"
            # The panel's RPC ends at its cancel; the sidecar's pull stops at its next read and then
            # removes its part and the ref it made, a moment later on a loaded machine.
            pump(
                root,
                lambda: (
                    not any(p.suffix in (".part", ".incomplete") for p in medium.rglob("*"))
                    and not (medium / "refs" / "main").exists()
                ),
                5,
            )
        finally:
            root.destroy()
            server.terminate()
            server.wait(30)

"""`sidecar live` end to end: a real sidecar, real speech, the subtitle file as it grows."""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
import time
from itertools import pairwise

import pytest

from sidecar_common import subtitles
from tests.conftest import word_error_rate
from tests.harness import free_port, serve, wait_until
from tests.streaming_fixtures import boundary_errors, speech, write_wav

SIDECAR = [sys.executable, "-m", "sidecar.cli.main"]
ENV = {
    **os.environ,
    "HF_HUB_OFFLINE": "1",
    "PYTHONPATH": os.pathsep.join(
        [str(pathlib.Path(__file__).parents[1] / "plugins"), os.environ.get("PYTHONPATH", "")]
    ),
}


@pytest.fixture(scope="module")
def two_utterances(tmp_path_factory):
    audio, reference = speech("1089-134691-0000", "1089-134691-0001", pause=1.5, tail=1.0)
    return write_wav(tmp_path_factory.mktemp("live") / "two.wav", audio), reference


def srt_text(path: pathlib.Path) -> str:
    return " ".join(cue.text.replace("\n", " ") for cue in subtitles.parse_srt(path.read_text()))


def test_live_file_prints_captions_and_keeps_the_srt_valid(two_utterances, sidecar_server, tmp_path):
    wav, reference = two_utterances
    output = tmp_path / "live.srt"
    process = subprocess.Popen(
        [*SIDECAR, "live", "-i", str(wav), "--fast", "-o", str(output), "--server", sidecar_server.address],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    snapshots = set()
    while process.poll() is None:
        if output.exists():
            snapshots.add(output.read_text())
        time.sleep(0.02)
    out, err = process.communicate()
    assert process.returncode == 0, err
    snapshots.add(output.read_text())
    for text in snapshots:  # every state the file was ever seen in parses as SRT
        assert text == "" or subtitles.parse_srt(text)
    assert word_error_rate(reference, srt_text(output)) <= 0.2
    printed = [line.split("] ", 1)[1] for line in out.splitlines()]
    assert word_error_rate(reference, " ".join(printed)) <= 0.2
    assert out.splitlines()[0].startswith("[00:00:00.")  # the first words, timed to the input
    # Rolled up: a line ends at a sentence end or where the next word would not fit, not at
    # each final result.
    assert all(len(line) <= 42 for line in printed), printed
    for line, after in pairwise(printed):
        assert line.endswith((".", "?", "!")) or len(line) + 1 + len(after.split()[0]) > 42, printed
    assert "live.srt: " in err
    assert "behind the audio" not in err, "sent as fast as it goes, the audio is always ahead"


def test_live_keeps_captioning_when_its_subtitle_file_cannot_be_written(two_utterances, sidecar_server, tmp_path):
    wav, reference = two_utterances
    folder = tmp_path / "gone"
    folder.mkdir()
    process = subprocess.Popen(
        [*SIDECAR, "live", "-i", str(wav), "-o", str(folder / "live.srt"), "--server", sidecar_server.address],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    while process.poll() is None and not (folder / "live.srt").exists():
        time.sleep(0.02)
    (folder / "live.srt").unlink()
    folder.rmdir()
    folder.write_text("")  # a file where the folder was: the next caption cannot be written
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert f"cannot write {folder / 'live.srt'}" in err and "captions go on here only" in err
    printed = [line.split("] ", 1)[1] for line in out.splitlines()]
    assert word_error_rate(reference, " ".join(printed)) <= 0.2  # every caption still printed
    assert "cues" not in err


def test_a_final_that_starts_inside_the_previous_one_is_kept():
    """Only a restarted stream's words before its resume point were shown already: within a
    stream, a final starting before the previous one's end (from a server whose word times go
    back) is new words, not a repeat."""
    from sidecar.v1 import streaming_recognition_pb2 as pb
    from sidecar_client.live import LiveCaptions

    def final(*timed):
        response = pb.StreamingRecognizeResponse()
        for text, start, end in timed:
            word = response.final_result.words.add(text=text)
            word.time_range.start_offset.FromMilliseconds(round(start * 1000))
            word.time_range.end_offset.FromMilliseconds(round(end * 1000))
        return response

    live = LiveCaptions(capture=None)
    live._take(final((" to", 6.5, 6.8), (" be", 6.8, 9.2)), origin=0.0, resumed_at=0.0)
    live._take(final((" ladled", 7.0, 7.5), (" out", 7.5, 8.0)), origin=0.0, resumed_at=0.0)
    assert [f.text for f in live._finals] == ["to be", "ladled out"] and live.resume_point == 9.2
    restarted = LiveCaptions(capture=None, start=9.2)
    restarted._take(final((" be", 8.8, 9.3), (" ladled", 9.3, 9.8)), origin=0.0, resumed_at=9.2)
    assert [f.text for f in restarted._finals] == ["ladled"]


def test_a_failure_inside_the_client_is_its_status(sidecar_server):
    """A bug in the client's thread ends it with a status that says so, not "connected"."""
    from sidecar_client.live import LiveCaptions, LiveOptions

    class BrokenCapture:
        def oldest(self) -> float:
            raise RuntimeError("the capture broke")

        def take_notices(self) -> list[str]:
            return []

    live = LiveCaptions(BrokenCapture(), LiveOptions(address=sidecar_server.address)).start()
    assert wait_until(lambda: not live.running, 30)
    assert live.poll().status == "failed: RuntimeError: the capture broke"


def test_lag_is_reported_once_each_way():
    from sidecar_client.live import LagWatch

    watch = LagWatch(limit=5.0)
    said = [watch.check(lag) for lag in (0.5, 6.0, 7.0, 4.0, 3.0, 9.0)]
    assert [s and s.split(" ", 3)[3][:6] for s in said] == [None, "6.0 s ", None, "up wit", None, "9.0 s "]


def test_live_refuses_to_overwrite_and_names_bad_input(two_utterances, tmp_path):
    wav, _ = two_utterances
    taken = tmp_path / "taken.vtt"
    taken.write_text("mine")
    cases = [
        (["-i", str(wav), "-o", str(taken)], "pass --force"),
        (["-i", str(tmp_path / "missing.wav")], "no such file"),
        (["-i", str(wav), "-o", str(tmp_path / "x.txt")], "must end in .srt, .vtt"),
    ]
    for argv, message in cases:
        done = subprocess.run([*SIDECAR, "live", *argv], capture_output=True, text=True, env=ENV)
        assert done.returncode == 2 and message in done.stderr, done.stderr
    assert taken.read_text() == "mine"


def test_live_carries_on_when_the_sidecar_is_killed_and_restarted(librispeech, tmp_path):
    # "Stuff it into you ..." from 0.9 s, "He could wait ..." from 5.9 s, "For a full hour ..."
    # from 9.3 s: the sidecar dies once the first is final (the 1.5 s pause after it closes its
    # cues), well before the others are spoken; they are decoded from the capture's backlog.
    first, *later = "1089-134686-0001", "1089-134691-0000", "1089-134691-0001"
    audio, _ = speech(first, *later, pause=1.5)
    wav = write_wav(tmp_path / "three.wav", audio)
    port, ready, output = free_port(), tmp_path / "ready", tmp_path / "live.srt"
    server = serve(port, ready, env=ENV)
    live = subprocess.Popen(
        [*SIDECAR, "live", "-i", str(wav), "-o", str(output), "--reconnect", "--server", f"127.0.0.1:{port}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    try:
        deadline = time.monotonic() + 30
        while "him" not in (output.read_text().lower() if output.exists() else ""):
            assert live.poll() is None and time.monotonic() < deadline, live.stderr.read()
            time.sleep(0.05)
        server.send_signal(signal.SIGKILL)
        server.wait()
        final_before = subtitles.parse_srt(output.read_text())
        server = serve(port, ready, env=ENV)
        out, err = live.communicate(timeout=60)
    finally:
        for process in (live, server):
            if process.poll() is None:
                process.kill()
                process.wait()
    assert live.returncode == 0, err
    assert "reconnecting" in err
    cues = subtitles.parse_srt(output.read_text())
    kept, after = cues[: len(final_before)], cues[len(final_before) :]
    # Every cue final before the kill stays as it was (its end may stretch into the pause) ...
    assert [(c.start, c.text) for c in kept] == [(c.start, c.text) for c in final_before], (final_before, kept)
    assert all(c.end >= b.end for c, b in zip(kept, final_before, strict=True))
    # ... and what was said after it comes once, in time order, timed to the input.
    said_after = " ".join(librispeech[uid][1] for uid in later)
    texts = [" ".join(c.text.split()) for c in cues]
    assert word_error_rate(said_after, " ".join(texts[len(kept) :])) <= 0.2, texts
    boundary = [" ".join(texts[: len(kept)]), " ".join(texts[len(kept) :])]
    assert not boundary_errors(f"{librispeech[first][1]} {said_after}", boundary, reach=2), boundary
    assert after[0].start >= kept[-1].start and after[0].start == pytest.approx(5.9, abs=0.6), after
    hour = next(c for c in after if "hour" in c.text.lower())
    assert hour.start == pytest.approx(9.3, abs=0.6)
    assert [c.start for c in cues] == sorted(c.start for c in cues)

"""Capture robustness: a device whose ffmpeg goes away is reopened and the captions carry on,
timed with the time it was away; a file read fast stays just ahead of the stream.

Real ffmpeg processes throughout: FFmpeg's lavfi input stands in for a microphone (a sine
paced by `arealtime`, or `amovie` reading a named pipe that the test writes in real time, so
the "device" goes away when the writer closes it and comes back when it writes again).
"""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import threading
import time

import pytest

from sidecar_client.capture import (
    BYTES_PER_SECOND,
    CHUNK_BYTES,
    CHUNK_SECONDS,
    LOOKAHEAD_SECONDS,
    SAMPLE_RATE,
    AudioCapture,
    CaptureOptions,
)
from sidecar_common import subtitles
from tests.conftest import DATA, normalize
from tests.streaming_fixtures import speech, write_wav
from tests.test_live_cli import ENV, SIDECAR

SINE = "lavfi:sine=frequency=440:sample_rate=16000,arealtime"
AWAY_SECONDS = 3.0  # how long the named-pipe "microphone" stays silent between two takes


def test_a_device_whose_ffmpeg_dies_is_reopened_and_the_gap_counts_as_time():
    capture = AudioCapture(SINE, CaptureOptions(restart_first_seconds=0.5)).start()
    try:
        chunks = capture.chunks_from(0.0, threading.Event())
        before = [next(chunks) for _ in range(10)]  # one second of "microphone"
        os.kill(capture.pid, signal.SIGKILL)  # as when the device is unplugged
        killed = time.monotonic()
        rest = list(chunks)  # this run of chunks ends where the device went away
        after = capture.chunks_from(rest[-1].end if rest else before[-1].end, threading.Event())
        resumed = next(after)
        back = time.monotonic()
        notices = capture.take_notices()
    finally:
        capture.stop()
    assert capture.restarts == 1 and capture.error is None
    assert any("lost lavfi:sine" in n and "reopening it in 0.5 s" in n for n in notices), notices
    assert any("again after" in n for n in notices), notices
    # The reopened device's audio sits where the wall clock says, not right after the last
    # chunk: the gap counts as time passing.
    gap = resumed.offset - (rest or before)[-1].end
    assert gap >= 0.45, gap
    assert resumed.end == pytest.approx(capture.capture_time(back), abs=0.3)
    assert capture.capture_time(killed) == pytest.approx((rest or before)[-1].end, abs=0.3)


def test_a_device_that_never_opens_fails_with_ffmpegs_message():
    capture = AudioCapture("lavfi:no_such_filter_here", CaptureOptions()).start()
    assert list(capture.chunks_from(0.0, threading.Event())) == []
    capture.stop()
    assert capture.ended and capture.restarts == 0
    assert "ffmpeg failed on 'lavfi:no_such_filter_here'" in capture.error


def test_a_fast_file_stays_just_ahead_of_the_stream():
    capture = AudioCapture(str(DATA / "demo-1089.flac"), CaptureOptions(realtime=False)).start()
    started, ahead, total = time.monotonic(), [], 0.0
    try:
        for chunk in capture.chunks_from(0.0, threading.Event()):
            total += len(chunk.data) / BYTES_PER_SECOND
            if len(ahead) < 20:
                time.sleep(0.02)  # a slow stream: the reader must wait for it
            ahead.append(capture.captured - chunk.end)
    finally:
        capture.stop()
    assert capture.ended and capture.error is None and total == pytest.approx(capture.captured)
    assert total > 20 and time.monotonic() - started < total / 4, "a fast file is not paced"
    assert max(ahead) <= LOOKAHEAD_SECONDS + 2 * CHUNK_SECONDS, max(ahead)


def play(pipe: pathlib.Path, data: bytes) -> float:
    """Writes a WAV file's bytes into the named pipe in real time (once ffmpeg opened it);
    the time.monotonic() when the audio began."""
    header, pcm = data[:44], data[44:]
    step = CHUNK_BYTES
    with open(pipe, "wb", buffering=0) as f:  # blocks until the reader opens the pipe
        began = time.monotonic()
        f.write(header)
        for i in range(0, len(pcm), step):
            f.write(pcm[i : i + step])
            time.sleep(max(0.0, began + (i + step) / BYTES_PER_SECOND - time.monotonic()))
    return began


def like_a_terminal_program() -> None:
    """Ctrl-C reaches the child as it would in a terminal: a shell script that runs the suite in
    the background makes its commands ignore SIGINT, and the child would inherit that."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_live_carries_on_when_the_device_goes_away_and_comes_back(sidecar_server, tmp_path):
    audio, _ = speech("1089-134691-0001", lead=0.5, tail=1.5)  # "For a full hour he ..."
    data = write_wav(tmp_path / "talk.wav", audio).read_bytes()
    pipe, output = tmp_path / "mic", tmp_path / "live.srt"
    os.mkfifo(pipe)
    process = subprocess.Popen(
        [*SIDECAR, "live", "-i", f"lavfi:amovie={pipe}", "-o", str(output), "--server", sidecar_server.address],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
        preexec_fn=like_a_terminal_program,
    )
    try:
        first = play(pipe, data)  # the writer closing the pipe ends ffmpeg: the device is lost
        time.sleep(AWAY_SECONDS)
        second = play(pipe, data)
        time.sleep(1.0)
        process.send_signal(signal.SIGINT)  # Ctrl-C: ends the capture, finishes the captions
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert "lost lavfi:amovie=" in err and "capturing lavfi:amovie=" in err, err
    cues = subtitles.parse_srt(output.read_text())
    takes = [cue for cue in cues if "hour" in normalize(cue.text)]
    assert len(takes) == 2, cues
    # The second take is as far after the first as the wall clock says: the time the device
    # was away is in the captions' times, not collapsed.
    assert takes[1].start - takes[0].start == pytest.approx(second - first, abs=0.5)
    assert second - first > len(audio) / SAMPLE_RATE + AWAY_SECONDS - 0.5
    words = normalize(" ".join(c.text for c in cues))
    assert words.count("paced") == 2 and words.count("waiting") == 2, words
    assert "finishing the captions" in err and "live.srt: " in err


def test_a_device_that_hangs_without_exiting_is_killed_and_reopened():
    capture = AudioCapture(SINE, CaptureOptions(stall_seconds=1.0)).start()
    give_up = threading.Event()  # without a watchdog the reads below would wait for ever
    timer = threading.Timer(10.0, give_up.set)
    timer.start()
    try:
        chunks = capture.chunks_from(0.0, give_up)
        before = [next(chunks) for _ in range(5)]
        hung = capture.pid
        os.kill(hung, signal.SIGSTOP)  # alive but silent, as a hung driver or sound server
        stopped = time.monotonic()
        rest = list(chunks)  # ends where the device went quiet
        resumed = next(capture.chunks_from((rest or before)[-1].end, give_up), None)
        back = time.monotonic()
        notices = capture.take_notices()
    finally:
        timer.cancel()
        capture.stop()
    assert resumed is not None and not give_up.is_set(), "the hung device was never reopened"
    assert capture.restarts == 1 and capture.pid != hung
    assert any("no audio from lavfi:sine" in n and "for 1 s" in n for n in notices), notices
    assert 1.0 <= back - stopped < 5.0  # noticed after stall_seconds, reopened after the backoff
    assert resumed.offset - (rest or before)[-1].end >= 0.9  # the silent time counts as time
    with pytest.raises(ValueError, match="stall_seconds"):
        CaptureOptions(stall_seconds=0).validate()


def test_a_url_or_file_that_stalls_ends_with_a_clear_error():
    capture = AudioCapture(str(DATA / "demo-1089.flac"), CaptureOptions(stall_seconds=1.0)).start()
    try:
        chunks = capture.chunks_from(0.0, threading.Event())
        next(chunks)
        os.kill(capture.pid, signal.SIGSTOP)  # a server that stops sending without closing
        list(chunks)
    finally:
        capture.stop()
    assert capture.ended and capture.restarts == 0
    assert capture.error == f"no audio from {str(DATA / 'demo-1089.flac')!r} for 1 s"

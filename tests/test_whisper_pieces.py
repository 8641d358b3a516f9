"""Long audio in pieces decoded side by side (TranscriptionOptions.pieces,
sidecar.engines.whisper_pieces), on the real tiny.en: the cut, the words and their times, the
priority gate, closing and errors; and how a CPU batches long audio instead by default."""

import threading
import time

import numpy as np
import pytest

from sidecar.engines import whisper, whisper_models, whisper_pieces
from sidecar.engines.catalogue import ModelSettings
from sidecar.runtime.priority import ComputeGate, Priority
from tests import streaming_fixtures
from tests.conftest import word_error_rate

pytest.importorskip("faster_whisper")

SAMPLE_RATE = whisper.SAMPLE_RATE
TWO_PIECES = whisper.TranscriptionOptions(pieces=2)
SETTINGS = ModelSettings(
    device="cpu",
    cpu_threads=0,
    default_whisper_model="tiny.en",
    agree_coqui_license=False,
    demucs_repositories=(),
    models_dirs=(),
    allow_client_model_paths=False,
)


@pytest.fixture(scope="module")
def engine():
    loaded, _ = whisper.load(whisper_models.resolve("tiny.en"), SETTINGS)
    return loaded


@pytest.fixture(scope="module")
def three_readings():
    """The demo clip (23 s, four sentences) three times over: 69 s, two pieces."""
    audio, reference = streaming_fixtures.demo()
    return np.tile(audio, 3), " ".join([reference] * 3), len(audio) / SAMPLE_RATE


def piece_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("whisper-piece")]


def wait_for_no_piece_threads(timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while piece_threads() and time.monotonic() < deadline:
        time.sleep(0.05)
    return not piece_threads()


def test_the_cut_falls_in_a_pause_near_the_middle():
    audio, _ = streaming_fixtures.speech(
        "1089-134686-0000", "1089-134686-0001", "1089-134691-0000", "1089-134691-0001", pause=0.4
    )
    (start,) = whisper_pieces.starts(audio, 2)[1:]
    assert abs(start - len(audio) / 2) <= len(audio) / 4
    around = audio[start - SAMPLE_RATE // 10 : start + SAMPLE_RATE // 10]  # 100 ms each side
    assert np.max(np.abs(around)) < 0.01 * np.max(np.abs(audio))  # silence, not a word cut in two


def test_long_audio_decodes_in_pieces_side_by_side_with_its_words_in_place(engine, three_readings):
    audio, reference, reading = three_readings
    assert engine.pieces_for(TWO_PIECES, len(audio) / SAMPLE_RATE) == 2
    info, segments = engine.transcribe(audio, TWO_PIECES)
    first = next(segments)
    seen_decoding = len(piece_threads())
    segments = [first, *segments]
    assert seen_decoding == 2
    assert info.language == "en" and 0.8 * info.duration < info.speech_duration <= info.duration
    # A sanity bound: 14.4 %, as the second piece's last window repeats a sentence (one window
    # after another: 3.4 %; bench/transcribe_overhead.py measures the cost on long readings).
    assert word_error_rate(reference, " ".join(s.text for s in segments)) <= 0.2
    words = [w for s in segments for w in s.words]
    assert [w.start for w in words] == sorted(w.start for w in words)
    assert [s.index for s in segments] == list(range(len(segments)))
    # Each reading starts "He hoped there would be stew": in the second piece too, at its place
    # in the whole audio, not in the piece.
    for copy in range(3):
        he = min((w for w in words if w.start >= copy * reading - 0.5), key=lambda w: w.start)
        assert he.text.strip().lower() == "he" and he.start == pytest.approx(copy * reading + 0.5, abs=1.0)
    assert wait_for_no_piece_threads(5)


def test_audio_is_cut_only_when_asked_and_into_long_pieces(engine):
    long = 600.0
    assert engine.pieces_for(whisper.TranscriptionOptions(), long) == 1
    assert engine.pieces_for(whisper.TranscriptionOptions(pieces=8), long) == 8
    assert engine.pieces_for(whisper.TranscriptionOptions(pieces=8), 3.5 * whisper_pieces.MIN_PIECE_SECONDS) == 3
    assert engine.pieces_for(TWO_PIECES, 2 * whisper_pieces.MIN_PIECE_SECONDS - 1) == 1
    assert engine.pieces_for(whisper.TranscriptionOptions(pieces=2, trim_window=True), long) == 1


def test_pieces_wait_while_a_live_step_runs_and_stop_when_closed(engine, three_readings):
    audio, _, _ = three_readings
    gate = ComputeGate()
    live_holds, live_done = threading.Event(), threading.Event()

    def live_step():
        with gate.turn(Priority.LIVE):
            live_holds.set()
            live_done.wait(10)

    threading.Thread(target=live_step, daemon=True).start()
    live_holds.wait(5)
    _, segments = engine.transcribe(audio, TWO_PIECES, turn=lambda: gate.turn(Priority.BATCH))
    arrived = []
    consumer = threading.Thread(target=lambda: arrived.append(next(segments)), daemon=True)
    consumer.start()
    consumer.join(1.5)
    assert not arrived and len(piece_threads()) == 2  # both pieces wait for their turn
    assert gate.busy()["batch"] == 0
    live_done.set()
    consumer.join(30)
    assert arrived
    segments.close()  # the client left: the pieces stop after the window each is decoding
    assert wait_for_no_piece_threads(10)


def test_an_error_in_a_piece_reaches_the_reader(engine, three_readings):
    audio, _, _ = three_readings
    turns = iter(range(3))

    def failing_turn():
        if next(turns, None) is None:
            raise RuntimeError("the gate broke")
        return gate.turn(Priority.INTERACTIVE)

    gate = ComputeGate()
    _, segments = engine.transcribe(audio, TWO_PIECES, turn=failing_turn)
    with pytest.raises(RuntimeError, match="the gate broke"):
        list(segments)
    assert wait_for_no_piece_threads(10)


def test_a_cpu_batches_long_audio_timed_by_word_unless_told_otherwise(engine):
    """One window after another is asked for with batch_size 1, and kept for audio of one
    window, for text without word times (a batched window is one segment, which cues could not
    cut) and without the VAD (windows would be cut through words), and for pieces."""
    long = 600.0
    assert engine.batch_size_for(whisper.TranscriptionOptions(), long) == whisper.CPU_BATCH_SIZE == 4
    assert engine.batch_size_for(whisper.TranscriptionOptions(), whisper.BATCHED_WINDOW_SECONDS) == 1
    assert engine.batch_size_for(whisper.TranscriptionOptions(word_timestamps=False), long) == 1
    assert engine.batch_size_for(whisper.TranscriptionOptions(vad_filter=False), long) == 1
    assert engine.batch_size_for(whisper.TranscriptionOptions(batch_size=1), long) == 1
    assert engine.batch_size_for(whisper.TranscriptionOptions(batch_size=8), long) == 8
    assert engine.batch_size_for(TWO_PIECES, long) == 1


def test_a_cpu_encodes_batched_windows_26_s_long():
    """Whisper's 30 s of features, zero-padded after the audio: 26 s for windows of at most 20 s,
    the audio and a 3 s margin for a longer one, never more than the features hold."""
    features = np.zeros((4, 80, 3000), np.float32)
    features[:, :, :2000] = 1.0
    assert whisper.cpu_batched_frames(features) == 2600
    features[2, :, :2500] = 1.0
    assert whisper.cpu_batched_frames(features) == 2800
    features[1, :, :2900] = 1.0
    assert whisper.cpu_batched_frames(features) == 3000

"""What `pieces=2` costs in word error rate, over several placements of the same reading.

Cutting a file into pieces moves every 30 s window of the pieces after the first, and tiny.en's
WER moves by about a point with its windows' placement whichever way a file is decoded: one run
says little. So each reading is decoded whole (one window after another) and in two pieces with
0, 0.7, 1.4, 2.1 and 2.8 s of silence before it, through the engine (no server), and the mean
WER of each way is printed with its spread and time. The readings: tests/data/ljspeech-lj001.ogg
twice over (7.4 min, what bench/transcribe_overhead.py captions, written to FLAC and read back
as it does), and the same reading with 46 pauses of 0.6 to 1.2 s (4.4 min,
tests/data/ljspeech-lj001-pauses.txt).

    .venv/bin/python bench/whisper_pieces.py [--model tiny.en] [--cpu-threads 1]
"""

from __future__ import annotations

import argparse
import os
import pathlib
import statistics
import sys
import tempfile
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
LEADS = (0.0, 0.7, 1.4, 2.1, 2.8)


def readings(folder: pathlib.Path) -> dict[str, tuple[np.ndarray, str]]:
    import transcribe_overhead

    from sidecar.media.audio import decode_file
    from tests import streaming_fixtures

    flac = folder / "long.flac"
    _, reference = transcribe_overhead.make_long_clip(7.4, flac)
    return {
        "reading x2 (7.4 min)": (decode_file(flac, sample_rate=16_000, mono=True).samples[0], reference),
        "reading with pauses (4.4 min)": streaming_fixtures.paced_long_form(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny.en")
    parser.add_argument("--cpu-threads", type=int, default=0, help="threads per decode (default: the library's)")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sidecar.engines import whisper, whisper_models
    from sidecar.engines.catalogue import ModelSettings
    from tests.conftest import word_error_rate

    settings = ModelSettings("cpu", args.cpu_threads, args.model, False, (), (), False)
    engine, _ = whisper.load(whisper_models.resolve(args.model), settings)
    ways = {"whole": whisper.TranscriptionOptions(batch_size=1), "2 pieces": whisper.TranscriptionOptions(pieces=2)}
    print(
        f"model {args.model}, int8 on CPU, {os.cpu_count()} cores, {args.cpu_threads or 'default'} threads per decode"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for name, (audio, reference) in readings(pathlib.Path(tmp)).items():
            wers: dict[str, list[float]] = {way: [] for way in ways}
            seconds: dict[str, list[float]] = {way: [] for way in ways}
            for lead in LEADS:
                shifted = np.concatenate([np.zeros(int(lead * 16_000), np.float32), audio.astype(np.float32)])
                for way, options in ways.items():
                    started = time.perf_counter()
                    _, segments = engine.transcribe(shifted, options)
                    text = " ".join(s.text for s in segments)
                    seconds[way].append(time.perf_counter() - started)
                    wers[way].append(100 * word_error_rate(reference, text))
            print(name)
            for way in ways:
                print(
                    f"  {way:9} WER mean {statistics.mean(wers[way]):5.2f} % "
                    f"({', '.join(f'{w:.2f}' for w in wers[way])}), median {statistics.median(seconds[way]):6.2f} s"
                )
            cost = statistics.mean(wers["2 pieces"]) - statistics.mean(wers["whole"])
            speed = statistics.median(seconds["whole"]) / statistics.median(seconds["2 pieces"])
            print(f"  2 pieces: {cost:+.2f} points of WER, {speed:.2f}x as fast (issue 17: >= 1.8x at <= +0.5)")


if __name__ == "__main__":
    main()

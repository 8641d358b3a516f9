"""Live captions' last words: does a stream that ends keep every word it showed?

Plays a clip N times in real time through `sidecar_client.live.LiveCaptions` (the client of
`sidecar live` and the OBS script) against an in-process sidecar, optionally with busy
processes beside it (a loaded CPU moves the decodes, and with them tiny.en's failures at the
end of a buffer). For each run it prints the last words of the finals, and at the end how many
runs lost any of the reference's last words that the plain library finds, next to the plain
library's own transcript of the clip (faster-whisper's transcribe(), same model), and how
many runs said a word twice in a row where the reference does not ("flour-fattened fattened").

    .venv/bin/python bench/live_endings.py --runs 20 --busy 2

Before 18cccfd, 7 of 105 such runs with two busy processes lost words at the end
(the last one, or "ladled out in thick peppered" of the default clip).
"""

from __future__ import annotations

import argparse
import multiprocessing
import pathlib
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "plugins")]

from sidecar.server.inprocess import InProcessSidecar  # noqa: E402
from sidecar_client.capture import AudioCapture  # noqa: E402
from sidecar_client.live import LiveCaptions, LiveOptions  # noqa: E402
from tests.conftest import DATA, normalize  # noqa: E402

TAIL_WORDS = 8  # the reference's last words a run must keep
RUN_SECONDS = 60  # a run that has not ended by then is reported as stuck


def busy(stop) -> None:
    while not stop.is_set():
        sum(range(10_000))


def caption(address: str, clip: pathlib.Path, model: str) -> tuple[list[str], str]:
    capture = AudioCapture(str(clip)).start()
    live = LiveCaptions(capture, LiveOptions(address=address, language_code="en", model=model)).start()
    texts, deadline = [], time.monotonic() + RUN_SECONDS
    try:
        while live.running and time.monotonic() < deadline:
            texts += [f.text for f in live.poll().finals]
            time.sleep(0.05)
        update = live.poll()
        return texts + [f.text for f in update.finals], update.status
    finally:
        live.stop()
        capture.stop()


def doubled_words(words: list[str]) -> list[str]:
    return [a for a, b in zip(words, words[1:]) if a == b]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clip", default="1089-134686-0000", help="a LibriSpeech id in tests/data")
    parser.add_argument("--model", default="tiny.en")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--busy", type=int, default=0, help="busy processes beside the sidecar while it runs")
    args = parser.parse_args()

    from faster_whisper import WhisperModel

    from sidecar.engines import whisper_models

    clip = DATA / f"{args.clip}.flac"
    plain = WhisperModel(str(whisper_models.resolve(args.model).path), device="cpu", compute_type="int8")
    plain_words = normalize(" ".join(s.text for s in plain.transcribe(str(clip), language="en")[0]))
    lines = (DATA / f"{args.clip.rsplit('-', 1)[0]}.trans.txt").read_text().splitlines()
    reference = normalize(next(line for line in lines if line.startswith(args.clip + " ")).split(" ", 1)[1])
    tail = [w for w in reference[-TAIL_WORDS:] if w in plain_words]  # what the model can hear at all
    print(
        f"plain faster-whisper: ...{' '.join(plain_words[-TAIL_WORDS:])}  (keeps {len(tail)} of the last {TAIL_WORDS})"
    )

    stop = multiprocessing.Event()
    burners = [multiprocessing.Process(target=busy, args=(stop,), daemon=True) for _ in range(args.busy)]
    for burner in burners:
        burner.start()
    server = InProcessSidecar().start()
    lost = repeated = 0
    try:
        for run in range(args.runs):
            texts, status = caption(server.address, clip, args.model)
            said = normalize(" ".join(texts))
            missing = [w for w in tail if w not in said]
            lost += bool(missing) or status != "ended"
            doubled = sorted(set(doubled_words(said)) - set(doubled_words(reference)))
            repeated += bool(doubled)
            note = (f"  lost: {' '.join(missing)}" if missing else "") + (
                f"  twice: {' '.join(doubled)}" if doubled else ""
            )
            print(f"run {run + 1:3d} {status:8s} ...{' '.join(said[-TAIL_WORDS:])}{note}", flush=True)
    finally:
        server.stop()
        stop.set()
        for burner in burners:
            burner.join()
    print(f"runs that lost words at the end: {lost} of {args.runs} ({args.busy} busy processes)")
    print(f"runs that said a word twice in a row: {repeated} of {args.runs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

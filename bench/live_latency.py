"""Live-caption latency: how long after a word is spoken it shows up, interim and final.

Streams speech through StreamingRecognize at real-time pace (each 100 ms chunk sent once it
has "been recorded") and, for every final word, measures from the word's end in the audio
to (a) its first appearance in an interim result (same text, about the same time; the final
result itself when it never showed as interim) and (b) its final commit. Prints p50/p90 of
both, the stream's WER, and next to it the plain library's offline WER and speed on the same
audio in the same run (faster-whisper's transcribe() on the whole file, same model, same
language).

    .venv/bin/python bench/live_latency.py                 # tests/data/demo-1089.flac, tiny.en
    .venv/bin/python bench/live_latency.py --repeat 3 --model base --server HOST:PORT
    .venv/bin/python bench/live_latency.py --paced --runs 3     # the long form's goals
    .venv/bin/python bench/live_latency.py --clip fleurs-de --model base --repeat 4

Long clips count what short ones hide, for the stream and for offline: phrases said twice in a
row where the reference says them once, reference words dropped, and sentence ends (right, of
those put after words that match the reference; a caption that ends a sentence at every pause
has many more than the reference). The last lines say whether the live-caption goals are met:
stream WER at most offline x 1.1 + 0.01 in every run, no phrase said twice, first interim p50
under 1 s, final p50 under 2 s and p90 under 3 s (percentiles over the words of all runs).
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "plugins")]

from sidecar.server.inprocess import InProcessSidecar  # noqa: E402
from sidecar_client.client import SidecarClient, streaming_config  # noqa: E402
from sidecar_common.durations import seconds  # noqa: E402
from tests.conftest import word_error_rate  # noqa: E402
from tests.streaming_fixtures import (  # noqa: E402
    bare,
    demo,
    dropped_words,
    long_form,
    paced_long_form,
    pcm_chunks,
    repeated_phrases,
    sentence_ends,
    words_of,
)

SAMPLE_RATE = 16_000
CHUNK_SECONDS = 0.1  # as tests.streaming_fixtures.pcm_chunks sends
MATCH_SECONDS = 0.6  # an interim word is "the same word" when its end is this close
GAP_SECONDS = 1.0  # silence between repeats of the input


def stream(
    client: SidecarClient, audio: np.ndarray, model: str, beam_size: int, language: str, pace: float = 1.0
) -> dict:
    """Streams at `pace` times real time (0: at once); returns final words with their commit
    and first-seen times."""
    first_seen: list[tuple[str, float, float]] = []  # (bare text, audio end, wall time)
    finals: list[tuple[str, float, float]] = []  # (text, audio end, wall time)
    lags: list[float] = []
    started = time.perf_counter()
    language = "" if model.endswith(".en") else language
    config = streaming_config(SAMPLE_RATE, model=model, beam_size=beam_size, language_code=language)
    for r in client.streaming_recognize(pcm_chunks(audio, pace=pace), config=config):
        now = time.perf_counter() - started
        lags.append(seconds(r.lag_duration))
        for w in r.interim_result.words:
            first_seen.append((bare(w.text), seconds(w.time_range.end_offset), now))
        for w in r.final_result.words:
            finals.append((w.text, seconds(w.time_range.end_offset), now))
    return summarize(first_seen, finals, lags, time.perf_counter() - started)


def simulate(audio: np.ndarray, model: str, beam_size: int, language: str) -> dict:
    """The policy alone on a virtual clock charged with the CPU time each step used.

    Mirrors the server's decoding thread (take all audio that has arrived, step, repeat) but
    advances time by the process CPU time of each step instead of the wall time, so the figures
    say what one stream gets on a CPU of this kind that is not shared with other work (an upper
    bound: CPU time of all threads is charged as if they had run one after another).
    """
    from sidecar.config import ServerConfig
    from sidecar.engines import streaming
    from sidecar.runtime.runtime import Runtime

    engine = Runtime(ServerConfig()).whisper(model)
    options = streaming.StreamingOptions(
        beam_size=beam_size or streaming.StreamingOptions.beam_size,
        language=None if model.endswith(".en") else language,
    )
    recognizer = streaming.StreamingRecognizer(engine, options)
    chunk = int(CHUNK_SECONDS * SAMPLE_RATE)
    first_seen, finals = [], []
    clock, fed = 0.0, 0
    while True:
        recorded = int(clock / CHUNK_SECONDS + 1e-9)  # chunks recorded (0.6 / 0.1 is 5.999...)
        arrived = min(len(audio), recorded * chunk)
        if arrived == fed and fed < len(audio):
            clock = (recorded + 1) * CHUNK_SECONDS  # idle until the next chunk
            continue
        recognizer.accept(audio[fed:arrived])
        fed = arrived
        used = time.process_time()
        updates = recognizer.finish() if fed == len(audio) else recognizer.step()
        clock += time.process_time() - used
        for update in updates:
            for w in update.interim or ():
                first_seen.append((bare(w.text), w.end, clock))
            for w in update.final:
                finals.append((w.text, w.end, clock))
        if fed == len(audio):
            break
    return summarize(first_seen, finals, [0.0], clock)


def summarize(first_seen, finals, lags, wall) -> dict:
    to_interim, to_final = [], []
    for text, end, committed in finals:
        if not bare(text):  # a mark settled after the word it ends: punctuation, not a word's latency
            continue
        seen = [t for b, e, t in first_seen if b == bare(text) and abs(e - end) <= MATCH_SECONDS]
        to_interim.append(min(seen + [committed]) - end)
        to_final.append(committed - end)
    return {
        "text": "".join(t for t, _, _ in finals),
        "to_interim": to_interim,
        "to_final": to_final,
        "max_lag": max(lags, default=0.0),
        "wall": wall,
    }


def offline(audio: np.ndarray, model_path: str, language: str) -> tuple[str, float, float]:
    """The plain library on the whole audio: faster-whisper's own transcribe(), VAD on."""
    from faster_whisper import WhisperModel

    model = WhisperModel(model_path, device="cpu", compute_type="int8")
    started, used = time.perf_counter(), time.process_time()
    segments, _ = model.transcribe(audio, language=language, vad_filter=True, word_timestamps=True)
    text = " ".join(s.text for s in segments)
    return text, time.perf_counter() - started, time.process_time() - used


def percentiles(values: list[float]) -> str:
    if not values:
        return "n/a"
    p50, p90 = np.percentile(values, [50, 90])
    return f"p50 {p50:5.2f} s   p90 {p90:5.2f} s   (n={len(values)})"


CLIPS = {
    "demo": "tests/data/demo-1089.flac: four LibriSpeech sentences, 24 s",
    "long-form": "tests/data/ljspeech-lj001.ogg: one reader reading on, 3.7 min",
    "paced": "the long form read as an address is, 46 pauses mid-sentence, 4.4 min",
    "fleurs-de": "tests/data/fleurs/fleurs-de-000.ogg: a German sentence, 18 s",
    "fleurs-es": "tests/data/fleurs/fleurs-es-000.ogg: a Spanish sentence, 13 s",
    "fleurs-fr": "tests/data/fleurs/fleurs-fr-007.ogg: a French sentence, 12 s",
}


def clip(name: str) -> tuple[np.ndarray, str, str]:
    """(audio, reference, language) of one of CLIPS."""
    if name.startswith("fleurs-"):
        from sidecar.media import audio as media

        path = ROOT / "tests/data/fleurs" / f"{name}-{'007' if name.endswith('fr') else '000'}.ogg"
        audio = media.decode_file(path, sample_rate=SAMPLE_RATE, mono=True).mono()
        return audio, path.with_suffix(".txt").read_text(encoding="utf-8"), name.removeprefix("fleurs-")
    fixture = {"demo": demo, "long-form": long_form, "paced": paced_long_form}[name]
    return (*fixture(), "en")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="tiny.en")
    parser.add_argument("--beam-size", type=int, default=0, help="0: the streaming default (5)")
    parser.add_argument("--clip", choices=CLIPS, default="demo", help="; ".join(f"{k}: {v}" for k, v in CLIPS.items()))
    parser.add_argument("--long-form", action="store_const", const="long-form", dest="clip", help="--clip long-form")
    parser.add_argument("--paced", action="store_const", const="paced", dest="clip", help="--clip paced")
    parser.add_argument("--repeat", type=int, default=1, help="play the clip this many times in one stream")
    parser.add_argument("--runs", type=int, default=1, help="stream it this many times; the goals take them all")
    parser.add_argument("--server", help="a running sidecar; default: one in-process")
    parser.add_argument("--fast", action="store_true", help="send the audio at once, not at real-time pace")
    parser.add_argument(
        "--simulate",
        action="store_true",
        help="run the policy on a virtual clock charged with CPU time (no gRPC): "
        "an upper bound on the latency on an unshared CPU of this kind",
    )
    args = parser.parse_args()

    speech, reference, args.language = clip(args.clip)
    gap = np.zeros(int(GAP_SECONDS * SAMPLE_RATE), np.float32)
    audio = np.concatenate([np.concatenate([speech, gap])] * args.repeat)
    reference = " ".join([reference] * args.repeat)
    if args.simulate:
        results = [simulate(audio, args.model, args.beam_size, args.language) for _ in range(args.runs)]
    else:
        results = served(audio, args)
    report(audio, reference, results, args)
    return 0


def served(audio: np.ndarray, args: argparse.Namespace) -> list[dict]:
    server = None if args.server else InProcessSidecar().start()
    address = args.server or server.address
    try:
        with SidecarClient(address) as client:
            client.wait_ready()
            warm = streaming_config(SAMPLE_RATE, model=args.model)  # load the model first
            list(client.streaming_recognize([b"\0\0" * SAMPLE_RATE], config=warm))
            pace = 0.0 if args.fast else 1.0
            return [
                stream(client, audio, args.model, args.beam_size, args.language, pace=pace) for _ in range(args.runs)
            ]
    finally:
        if server is not None:
            server.stop()


def report(audio: np.ndarray, reference: str, results: list[dict], args: argparse.Namespace) -> None:
    from sidecar.engines import whisper_models

    plain_text, plain_wall, plain_cpu = offline(audio, str(whisper_models.resolve(args.model).path), args.language)
    plain_seconds = plain_cpu if args.simulate else plain_wall
    duration = len(audio) / SAMPLE_RATE
    plain_wer = word_error_rate(reference, plain_text)
    how = (
        "on a virtual clock charged with CPU time"
        if args.simulate
        else "as fast as it goes (--fast)"
        if args.fast
        else "at real-time pace"
    )
    print(
        f"{args.clip}: audio {duration:.1f} s, model {args.model}, streamed {how} {len(results)} time(s) "
        f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)"
    )
    for run, result in enumerate(results, 1):
        text = result["text"]
        print(f"run {run} transcript: {text.strip()}")
        right, said, meant = sentence_ends(reference, text)
        print(
            f"run {run}: {result['wall']:.1f} s, WER {word_error_rate(reference, text):.3f}, "
            f"phrases said twice {repeated_phrases(reference, text)}, words dropped {dropped_words(reference, text)}, "
            f"sentence ends {right} right of {said} (reference {meant}), largest lag {result['max_lag']:.2f} s"
        )
    right, said, meant = sentence_ends(reference, plain_text)
    print(f"offline transcript: {plain_text.strip()}")
    print(
        f"offline faster-whisper: WER {plain_wer:.3f}, phrases said twice {repeated_phrases(reference, plain_text)}, "
        f"words dropped {dropped_words(reference, plain_text)} (of {len(words_of(reference))}), "
        f"sentence ends {right} right of {said}; {plain_seconds:.1f} s {'CPU' if args.simulate else 'wall'} "
        f"({duration / plain_seconds:.1f}x real time)"
    )
    worst = max(word_error_rate(reference, r["text"]) for r in results)
    repeats = sum(repeated_phrases(reference, r["text"]) for r in results)
    goals = [
        (
            f"stream WER {worst:.3f} (worst run) <= offline x 1.1 + 0.01 = {plain_wer * 1.1 + 0.01:.3f}",
            worst <= plain_wer * 1.1 + 0.01,
        ),
        (f"phrases said twice {repeats} == 0", repeats == 0),
    ]
    if not args.fast:  # sent at once, words are "recorded" before they are sent: no latency to speak of
        to_interim = [t for r in results for t in r["to_interim"]]
        to_final = [t for r in results for t in r["to_final"]]
        print(f"word end -> first interim : {percentiles(to_interim)}")
        print(f"word end -> final commit  : {percentiles(to_final)}")
        interim50, (final50, final90) = np.percentile(to_interim, 50), np.percentile(to_final, [50, 90])
        goals += [
            (f"first interim p50 {interim50:.2f} s < 1 s", interim50 < 1.0),
            (f"final p50 {final50:.2f} s < 2 s", final50 < 2.0),
            (f"final p90 {final90:.2f} s < 3 s", final90 < 3.0),
        ]
    for goal, met in goals:
        print(f"goal {'met   ' if met else 'MISSED'} {goal}")


if __name__ == "__main__":
    sys.exit(main())

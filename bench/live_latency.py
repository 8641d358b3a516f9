"""Live-caption latency: how long after a word is spoken it shows up, interim and final.

Streams speech through StreamingRecognize at real-time pace (each 100 ms chunk sent once it
has "been recorded") and, for every final word, measures from the word's end in the audio
to (a) its first appearance in an interim result (same text, about the same time; the final
result itself when it never showed as interim) and (b) its final commit. Prints p50/p90 of
both, the stream's WER, and next to it the plain library's offline WER and speed on the same
audio in the same run (faster-whisper's transcribe() on the whole file, same model).

    .venv/bin/python bench/live_latency.py                 # tests/data/demo-1089.flac, tiny.en
    .venv/bin/python bench/live_latency.py --repeat 3 --model base --server HOST:PORT
    .venv/bin/python bench/live_latency.py --long-form [--fast]   # 3.7 min of continuous speech

The long form (tests/data/ljspeech-lj001.ogg) also counts what short clips hide: phrases the
stream emits twice in a row where the reference says them once, and reference words the stream
drops.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import re
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "plugins")]

from sidecar.server.inprocess import InProcessSidecar  # noqa: E402
from sidecar_client.client import SidecarClient, streaming_config  # noqa: E402
from sidecar_common.durations import seconds  # noqa: E402
from tests.conftest import word_error_rate  # noqa: E402
from tests.streaming_fixtures import demo, long_form, pcm_chunks  # noqa: E402

SAMPLE_RATE = 16_000
CHUNK_SECONDS = 0.1  # as tests.streaming_fixtures.pcm_chunks sends
MATCH_SECONDS = 0.6  # an interim word is "the same word" when its end is this close
GAP_SECONDS = 1.0  # silence between repeats of the input


def bare(text: str) -> str:
    return re.sub(r"[^\w']+", "", text.lower())


def stream(client: SidecarClient, audio: np.ndarray, model: str, beam_size: int, pace: float = 1.0) -> dict:
    """Streams at `pace` times real time (0: at once); returns final words with their commit
    and first-seen times."""
    first_seen: list[tuple[str, float, float]] = []  # (bare text, audio end, wall time)
    finals: list[tuple[str, float, float]] = []  # (text, audio end, wall time)
    lags: list[float] = []
    started = time.perf_counter()
    config = streaming_config(SAMPLE_RATE, model=model, beam_size=beam_size)
    for r in client.streaming_recognize(pcm_chunks(audio, pace=pace), config=config):
        now = time.perf_counter() - started
        lags.append(seconds(r.lag_duration))
        for w in r.interim_result.words:
            first_seen.append((bare(w.text), seconds(w.time_range.end_offset), now))
        for w in r.final_result.words:
            finals.append((w.text, seconds(w.time_range.end_offset), now))
    return summarize(first_seen, finals, lags, time.perf_counter() - started)


def simulate(audio: np.ndarray, model: str, beam_size: int) -> dict:
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
    options = streaming.StreamingOptions(beam_size=beam_size or streaming.StreamingOptions.beam_size)
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


def offline(audio: np.ndarray, model_path: str) -> tuple[str, float, float]:
    """The plain library on the whole audio: faster-whisper's own transcribe(), VAD on."""
    from faster_whisper import WhisperModel

    model = WhisperModel(model_path, device="cpu", compute_type="int8")
    started, used = time.perf_counter(), time.process_time()
    segments, _ = model.transcribe(audio, language="en", vad_filter=True, word_timestamps=True)
    text = " ".join(s.text for s in segments)
    return text, time.perf_counter() - started, time.process_time() - used


def words_of(text: str) -> list[str]:
    return [w for w in (bare(t) for t in text.split()) if w]


def repeated_phrases(reference: str, hypothesis: str, n: int = 2) -> int:
    """Places where the hypothesis says an n-word phrase twice in a row and the reference
    never does."""
    hyp, ref = words_of(hypothesis), " ".join(words_of(reference))
    count = 0
    for i in range(len(hyp) - 2 * n + 1):
        phrase = hyp[i : i + n]
        if phrase == hyp[i + n : i + 2 * n] and " ".join(phrase * 2) not in ref:
            count += 1
    return count


def dropped_words(reference: str, hypothesis: str) -> int:
    """Reference words with no counterpart in the hypothesis (deletions of a word alignment)."""
    ref, hyp = words_of(reference), words_of(hypothesis)
    previous = list(range(len(hyp) + 1))
    deletions = [0] * (len(hyp) + 1)
    for i in range(1, len(ref) + 1):
        current, current_deletions = [i] + [0] * len(hyp), [i] + [0] * len(hyp)
        for j in range(1, len(hyp) + 1):
            options = [
                (previous[j - 1] + (ref[i - 1] != hyp[j - 1]), deletions[j - 1]),  # match or substitution
                (previous[j] + 1, deletions[j] + 1),  # a reference word dropped
                (current[j - 1] + 1, current_deletions[j - 1]),  # a word inserted
            ]
            current[j], current_deletions[j] = min(options)
        previous, deletions = current, current_deletions
    return deletions[len(hyp)]


def percentiles(values: list[float]) -> str:
    if not values:
        return "n/a"
    p50, p90 = np.percentile(values, [50, 90])
    return f"p50 {p50:5.2f} s   p90 {p90:5.2f} s   (n={len(values)})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="tiny.en")
    parser.add_argument("--beam-size", type=int, default=0, help="0: the streaming default (5)")
    parser.add_argument("--repeat", type=int, default=1, help="play the demo this many times")
    parser.add_argument("--server", help="a running sidecar; default: one in-process")
    parser.add_argument("--long-form", action="store_true", help="tests/data/ljspeech-lj001.ogg, 3.7 min")
    parser.add_argument("--fast", action="store_true", help="send the audio at once, not at real-time pace")
    parser.add_argument(
        "--simulate",
        action="store_true",
        help="run the policy on a virtual clock charged with CPU time (no gRPC): "
        "the latency on an unshared CPU of this kind",
    )
    args = parser.parse_args()

    speech, reference = long_form() if args.long_form else demo()
    gap = np.zeros(int(GAP_SECONDS * SAMPLE_RATE), np.float32)
    audio = np.concatenate([np.concatenate([speech, gap])] * args.repeat)
    reference = " ".join([reference] * args.repeat)
    if args.simulate:
        result = simulate(audio, args.model, args.beam_size)
    else:
        result = served(audio, args)
    report(audio, reference, result, args)
    return 0


def served(audio: np.ndarray, args: argparse.Namespace) -> dict:
    server = None if args.server else InProcessSidecar().start()
    address = args.server or server.address
    try:
        with SidecarClient(address) as client:
            client.wait_ready()
            warm = streaming_config(SAMPLE_RATE, model=args.model)  # load the model first
            list(client.streaming_recognize([b"\0\0" * SAMPLE_RATE], config=warm))
            return stream(client, audio, args.model, args.beam_size, pace=0.0 if args.fast else 1.0)
    finally:
        if server is not None:
            server.stop()


def report(audio: np.ndarray, reference: str, result: dict, args: argparse.Namespace) -> None:
    from sidecar.engines import whisper_models

    plain_text, plain_wall, plain_cpu = offline(audio, str(whisper_models.resolve(args.model).path))
    plain_seconds = plain_cpu if args.simulate else plain_wall
    duration = len(audio) / SAMPLE_RATE
    stream_wer, plain_wer = word_error_rate(reference, result["text"]), word_error_rate(reference, plain_text)
    how = (
        "on a virtual clock charged with CPU time"
        if args.simulate
        else "as fast as it goes (--fast)"
        if args.fast
        else "at real-time pace"
    )
    print(
        f"audio {duration:.1f} s, model {args.model}, streamed {how} in {result['wall']:.1f} s "
        f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)"
    )
    if not args.fast:  # sent at once, words are "recorded" before they are sent: no latency to speak of
        print(f"word end -> first interim : {percentiles(result['to_interim'])}")
        print(f"word end -> final commit  : {percentiles(result['to_final'])}")
    print(f"largest reported lag      : {result['max_lag']:.2f} s")
    print(f"final transcript: {result['text'].strip()}")
    print(
        f"WER streaming {stream_wer:.3f}   offline faster-whisper {plain_wer:.3f}   "
        f"(ratio {stream_wer / plain_wer if plain_wer else float('nan'):.2f})"
    )
    print(
        f"phrases said twice in a row (not in the reference): streaming "
        f"{repeated_phrases(reference, result['text'])}, offline {repeated_phrases(reference, plain_text)}"
    )
    print(
        f"reference words dropped: streaming {dropped_words(reference, result['text'])}, "
        f"offline {dropped_words(reference, plain_text)} (of {len(words_of(reference))})"
    )
    print(
        f"offline faster-whisper on the whole audio: {plain_seconds:.1f} s "
        f"{'CPU' if args.simulate else 'wall'} "
        f"({duration / plain_seconds:.1f}x real time)"
    )


if __name__ == "__main__":
    sys.exit(main())

"""Voice cloning through the sidecar against coqui-tts called directly, with the tiny XTTS.

One process loads the same model twice: once with coqui-tts' own loader for the direct
calls, once inside an in-process sidecar (licence agreed for the run, voices in a temporary
directory). The text has SENTENCES alike sentences; every sentence generates exactly the
same number of audio tokens (a random model never stops, so the bound is always reached),
so each way produces the same length of audio. Alternating, `--runs` times each:

  library inference()  Xtts.inference on the whole text in one call (the library's plain
                       call; its own sentence splitting needs spaCy): first audio = the end.
  library stream       Xtts.inference_stream sentence by sentence, in process: the same calls
                       the sidecar makes, without gRPC.
  sidecar              Synthesize over gRPC with a saved voice, timed at the client.

The direct calls run in a worker thread, as the sidecar's jobs do: on this machine torch
ran the same decoder 3 to 6 times slower from the main thread (its OpenMP team spins on
oversubscribed cores), which would flatter the sidecar.

Prints the median time to first audio (TTFA) and real-time factor (wall time / audio time;
below 1 is faster than real time) of each, and the ratios against the sidecar. Voice
conditioning (CreateVoice against the library's two conditioning calls) is timed too.

    .venv/bin/python bench/synthesis.py [--runs 3] [--sentence-seconds 1.0] [--model DIR]
"""

from __future__ import annotations

import argparse
import math
import os
import pathlib
import statistics
import sys
import tempfile
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

TEXT = (
    "The tide came in slowly over the flats. Gulls circled above the harbour wall. "
    "By noon the boats were back at their moorings."
)
SENTENCES = 3
SEED = 11


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=3, help="runs of each way (default 3)")
    p.add_argument(
        "--sentence-seconds",
        type=float,
        default=1.0,
        help="speech generated per sentence (default 1.0 s = 22 audio tokens)",
    )
    p.add_argument("--chunk-tokens", type=int, default=20, help="audio tokens per streamed chunk")
    p.add_argument("--model", type=pathlib.Path, help="an XTTS model directory (default: build the tiny one)")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    return p.parse_args()


def library_model(directory: pathlib.Path, device: str):
    from TTS.tts.configs.xtts_config import XttsConfig
    from TTS.tts.models.xtts import Xtts

    config = XttsConfig()
    config.load_json(str(directory / "config.json"))
    model = Xtts(config)
    model.load_checkpoint(config, checkpoint_dir=str(directory), eval=True)
    return model.to(device)


def reference_tensor():
    import torch

    from sidecar.engines import xtts
    from sidecar.media import audio as media
    from tests.xtts_fixtures import REFERENCE

    audio = media.decode_file(ROOT / "tests" / "data" / REFERENCE, sample_rate=xtts.REFERENCE_SAMPLE_RATE, mono=True)
    return torch.from_numpy(audio.mono())[None, :]


def time_library_inference(model, latent, embedding, tokens: int) -> tuple[float, float, float]:
    import torch

    torch.manual_seed(SEED)
    started = time.perf_counter()
    out = model.inference(TEXT, "en", latent, embedding, max_new_tokens=tokens)
    seconds = time.perf_counter() - started
    return seconds, seconds, len(out["wav"]) / model.args.output_sample_rate


def time_library_stream(model, sentences, latent, embedding, tokens: int, chunk_tokens: int):
    import torch

    torch.manual_seed(SEED)
    started = time.perf_counter()
    first = None
    samples = 0
    for sentence in sentences:
        for wav in model.inference_stream(
            sentence, "en", latent, embedding, stream_chunk_size=chunk_tokens, max_new_tokens=tokens
        ):
            first = first if first is not None else time.perf_counter() - started
            samples += wav.numel()
    return first, time.perf_counter() - started, samples / model.args.output_sample_rate


def time_sidecar(client, voice_id: str, sentence_seconds: float):
    from sidecar.v1 import synthesis_pb2

    options = synthesis_pb2.SynthesisOptions(seed=SEED)
    options.max_sentence_duration.FromNanoseconds(round(sentence_seconds * 1e9))
    started = time.perf_counter()
    first = None
    samples = 0
    for response in client.synthesize_stream(TEXT, "en", voice_id=voice_id, options=options):
        if response.WhichOneof("event") == "audio":
            first = first if first is not None else time.perf_counter() - started
            samples += len(response.audio.data) // 4
    return first, time.perf_counter() - started, samples / 24_000


def in_thread(work, *args):
    """work(*args) in a fresh thread, like a sidecar job; returns its result."""
    result = []
    thread = threading.Thread(target=lambda: result.append(work(*args)))
    thread.start()
    thread.join()
    return result[0]


def conditioning(model, reference) -> tuple:
    from sidecar.engines import xtts

    latent = model.get_gpt_cond_latents(
        reference,
        xtts.REFERENCE_SAMPLE_RATE,
        length=int(model.config.gpt_cond_len),
        chunk_length=int(model.config.gpt_cond_chunk_len),
    )
    return latent, model.get_speaker_embedding(reference, xtts.REFERENCE_SAMPLE_RATE)


def main() -> int:
    args = parse_args()
    from sidecar.engines import xtts
    from tests.xtts_fixtures import REFERENCE

    scratch = tempfile.TemporaryDirectory(prefix="bench-synthesis-")
    directory = args.model
    if directory is None:
        from tests.xtts_fixtures import build_tiny_xtts

        directory = build_tiny_xtts(pathlib.Path(scratch.name) / "tiny-xtts")
    from sidecar.server.inprocess import InProcessSidecar
    from sidecar_client import SidecarClient

    model = library_model(directory, args.device)
    sentences = xtts.split_sentences(TEXT)
    assert len(sentences) == SENTENCES, sentences
    per_sentence = min(
        int(model.gpt.max_gen_mel_tokens), math.ceil(args.sentence_seconds * xtts.AUDIO_TOKENS_PER_SECOND)
    )
    reference = reference_tensor()
    rows: dict[str, list[tuple[float, float, float]]] = {"library inference()": [], "library stream": [], "sidecar": []}
    timings = {"library": [], "sidecar": []}  # voice conditioning
    # The bench's user agrees to the CPML for this run only; its voices go in the scratch directory.
    with (
        InProcessSidecar(
            device=args.device, agree_coqui_license=True, voices_dir=str(pathlib.Path(scratch.name) / "voices")
        ) as server,
        SidecarClient(server.address) as client,
    ):
        client.wait_ready()
        for run in range(args.runs):
            started = time.perf_counter()
            latent, embedding = in_thread(conditioning, model, reference)
            timings["library"].append(time.perf_counter() - started)
            started = time.perf_counter()
            voice = client.create_voice(
                ROOT / "tests" / "data" / REFERENCE, voice_id=f"bench-{run}", model=str(directory)
            )
            if run > 0:  # the first CreateVoice also loads the model
                timings["sidecar"].append(time.perf_counter() - started)
            rows["library inference()"].append(
                in_thread(time_library_inference, model, latent, embedding, per_sentence * SENTENCES)
            )
            rows["library stream"].append(
                in_thread(time_library_stream, model, sentences, latent, embedding, per_sentence, args.chunk_tokens)
            )
            rows["sidecar"].append(time_sidecar(client, voice.voice_id, args.sentence_seconds))
    print(
        f"model {directory} on {args.device}; {SENTENCES} sentences x {per_sentence} audio tokens; "
        f"{args.runs} runs each, medians"
    )
    print(f"{'':22} {'TTFA s':>8} {'total s':>8} {'audio s':>8} {'RTF':>6}")
    medians = {}
    for name, runs in rows.items():
        first, total, audio = (statistics.median(r[i] for r in runs) for i in range(3))
        medians[name] = (first, total / audio)
        print(f"{name:22} {first:8.2f} {total:8.2f} {audio:8.2f} {total / audio:6.2f}")
    side_first, side_rtf = medians["sidecar"]
    for name in ("library inference()", "library stream"):
        first, rtf = medians[name]
        print(f"sidecar / {name}: TTFA {side_first / first:.2f}x, RTF {side_rtf / rtf:.2f}x")
    if timings["sidecar"]:
        lib, side = statistics.median(timings["library"]), statistics.median(timings["sidecar"])
        print(f"voice conditioning: library {lib:.2f} s, sidecar CreateVoice {side:.2f} s ({side / lib:.2f}x)")
    scratch.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())

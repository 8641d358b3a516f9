"""The Audacity plugin's overhead: from invoking Caption (or Denoise) on a 1-minute selection to
its labels (or track) being in the project, against the sidecar's own processing time.

Runs a real Audacity under Xvfb (as the tests do) and an in-process sidecar, imports 60 s of
LibriSpeech speech, warms both models up, then times each action RUNS times. For each it
prints: the whole action; the sidecar's processing time (from the job's summary); the same
request made straight through the client, without Audacity (the gRPC and upload share); and
the scripting-pipe commands the plugin sent, with their mean round trip.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/audacity_overhead.py [RUNS]
"""

from __future__ import annotations

import os
import pathlib
import statistics
import sys
import tempfile
import time
import wave

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "plugins")]
os.environ.setdefault("HF_HUB_OFFLINE", "1")

SELECTION_SECONDS = 60.0
WARM_UP_SECONDS = 3.0


class CountingPipe:
    """Wraps PipeConnection.command to count commands and their round trips."""

    def __init__(self, pipe) -> None:
        self.pipe, self.count, self.seconds = pipe, 0, 0.0
        self._command = pipe.command
        pipe.command = self.command

    def command(self, text: str, timeout: float | None = None) -> str:
        began = time.monotonic()
        try:
            return self._command(text, timeout)
        finally:
            self.count += 1
            self.seconds += time.monotonic() - began

    def reset(self) -> None:
        self.count, self.seconds = 0, 0.0


def one_minute_wav(path: str) -> None:
    """60 s of speech: demo-1089 (four LibriSpeech utterances) repeated, as 16-bit mono WAV."""
    import numpy as np

    from sidecar.media.audio import decode_file

    audio = decode_file(str(ROOT / "tests/data/demo-1089.flac"))
    samples = audio.samples.mean(axis=0)
    needed = int(SELECTION_SECONDS * audio.sample_rate)
    looped = np.tile(samples, needed // samples.size + 1)[:needed]
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(audio.sample_rate)
        w.writeframes((np.clip(looped, -1, 1) * 32767).astype("<i2").tobytes())


def remove_tracks_after(audacity, count: int) -> None:
    extra = len(audacity.tracks()) - count
    if extra > 0:
        audacity.command("SelectTracks", Track=count, TrackCount=extra, Mode="Set")
        audacity.command("RemoveTracks")


def main(runs: int) -> None:
    from sidecar.v1 import audio_pb2, enhancement_pb2, transcription_pb2
    from sidecar_audacity import actions
    from sidecar_audacity.audacity import Audacity
    from sidecar_audacity.pipe import PipeConnection
    from sidecar_client import SidecarClient
    from tests.audacity_fixtures import START_SECONDS, AudacityUnderXvfb
    from tests.harness import RunningSidecar

    app, sidecar = AudacityUnderXvfb().start(), RunningSidecar()
    try:
        with (
            tempfile.TemporaryDirectory() as tmp,
            SidecarClient(sidecar.address) as client,
            Audacity(PipeConnection(connect_timeout=START_SECONDS)) as audacity,
        ):
            counter = CountingPipe(audacity.pipe)
            clip = os.path.join(tmp, "one-minute.wav")
            one_minute_wav(clip)
            audacity.command("Import2", Filename=clip)
            base = len(audacity.tracks())
            cases = {
                "Caption": (
                    lambda: actions.caption(audacity, client),
                    lambda: (
                        client.transcribe(
                            clip, options=transcription_pb2.TranscriptionOptions(word_timestamps=True)
                        ).summary.processing_duration
                    ),
                ),
                "Denoise": (
                    lambda: actions.denoise(audacity, client),
                    lambda: _enhance_directly(client, clip, enhancement_pb2, audio_pb2),
                ),
            }
            for name, (action, direct) in cases.items():
                audacity.select(0.0, WARM_UP_SECONDS, [0])  # loads the model
                action()
                remove_tracks_after(audacity, base)
                totals, sidecar_seconds, direct_seconds, commands = [], [], [], []
                for _ in range(runs):
                    audacity.select(0.0, SELECTION_SECONDS, [0])
                    counter.reset()
                    began = time.monotonic()
                    outcome = action()
                    totals.append(time.monotonic() - began)
                    sidecar_seconds.append(outcome.sidecar_seconds)
                    commands.append((counter.count, counter.seconds))
                    remove_tracks_after(audacity, base)
                    began = time.monotonic()
                    direct()
                    direct_seconds.append(time.monotonic() - began)
                    print(
                        f"  {name} run: {totals[-1]:.2f} s, sidecar {sidecar_seconds[-1]:.2f} s, "
                        f"direct {direct_seconds[-1]:.2f} s, {commands[-1][0]} pipe commands",
                        flush=True,
                    )
                report(name, totals, sidecar_seconds, direct_seconds, commands)
    finally:
        sidecar.stop()
        app.stop()


def _enhance_directly(client, clip, enhancement_pb2, audio_pb2) -> None:
    call = client.enhance_stream(
        clip, options=enhancement_pb2.EnhancementOptions(), output_encoding=audio_pb2.AUDIO_ENCODING_PCM_S16LE
    )
    for _ in call:
        pass


def report(name, totals, sidecar_seconds, direct_seconds, commands) -> None:
    overheads = [total - own for total, own in zip(totals, sidecar_seconds, strict=True)]
    total, own, direct, overhead = (statistics.median(v) for v in (totals, sidecar_seconds, direct_seconds, overheads))
    count = statistics.median(c for c, _ in commands)
    pipe = statistics.median(s for _, s in commands)
    print(
        f"{name} on a {SELECTION_SECONDS:.0f} s selection (median of {len(totals)}; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs):"
    )
    print(f"  invoke -> result in Audacity  {total:6.2f} s")
    print(f"  sidecar's own processing      {own:6.2f} s")
    print(f"  plugin overhead               {overhead:6.2f} s   (invoke -> result minus the sidecar's time)")
    print(f"  same request without Audacity {direct:6.2f} s   (client call, wall time)")
    print(
        f"  scripting-pipe commands       {count:6.0f}     {pipe:5.2f} s in all, "
        f"{pipe / max(count, 1) * 1000:.0f} ms each"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2)

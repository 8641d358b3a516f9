"""`sidecar live`: live captions from a device, file or URL, in the terminal and as SRT/WebVTT.

Audio goes to the sidecar's StreamingRecognize as 16 kHz mono PCM in 100 ms chunks: a file
or URL at its own pace (or as fast as the sidecar takes it with --fast), a capture device as
it records. Final captions print as lines; the pending (interim) words show on the line
below them on a terminal. The subtitle file is rewritten atomically after every final result,
so it is complete and valid at every moment. With --reconnect, a sidecar that goes away is
waited for and the captions carry on, timed to the input.
"""

from __future__ import annotations

import argparse
import dataclasses
import pathlib
import shutil
import subprocess
import sys
import time
from typing import Iterator

import numpy as np

from sidecar.cli.connection import add_server_arguments, connect
from sidecar.cli.files import UsageError, write_atomically
from sidecar.media import subtitles

SAMPLE_RATE = 16_000  # what the stream sends: 16 kHz mono s16le, Whisper's rate
CHUNK_SECONDS = 0.1
BYTES_PER_SECOND = SAMPLE_RATE * 2
FORMATS = {".srt": subtitles.format_srt, ".vtt": subtitles.format_vtt}
DEVICE_FORMATS = ("pulse", "alsa", "lavfi", "avfoundation", "dshow", "oss", "jack")
RECONNECT_WAIT_SECONDS = 1.0
RECONNECT_GIVE_UP_SECONDS = 60.0


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("live", help="live captions from a device, file or URL")
    p.add_argument("--input", "-i", required=True, metavar="DEVICE|FILE|URL",
                   help="a file, a URL FFmpeg reads, or a capture device as FORMAT:NAME "
                        f"(FORMAT one of {', '.join(DEVICE_FORMATS)}; e.g. pulse:default, "
                        "alsa:hw:0, avfoundation::0, dshow:audio=Microphone)")
    p.add_argument("-o", "--output", type=pathlib.Path,
                   help="subtitle file (.srt or .vtt) written as captions become final")
    p.add_argument("--fast", action="store_true",
                   help="send a file or URL as fast as the sidecar takes it, not in real time")
    p.add_argument("--language", help="spoken language (e.g. en, de); default: English-only "
                                      "models use English, others detect")
    p.add_argument("--model", help="Whisper model name or directory (default: the server's)")
    p.add_argument("--hotwords", help="comma-separated words to favour")
    p.add_argument("--initial-prompt", help="text that conditions decoding (names, spellings)")
    p.add_argument("--endpoint-silence", type=float, default=0.0, metavar="SECONDS",
                   help="silence that ends an utterance (default 0.5)")
    p.add_argument("--no-interim", action="store_true", help="show final captions only")
    p.add_argument("--reconnect", action="store_true",
                   help="when the sidecar goes away, wait for it and carry on")
    p.add_argument("--force", action="store_true", help="overwrite an existing output file")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    add_server_arguments(p)
    return p


def run(args: argparse.Namespace) -> int:
    from sidecar_client import SidecarError

    try:
        source = open_source(args.input, fast=args.fast)
        writer = CaptionWriter(plan_output(args)) if args.output else None
    except UsageError as exc:
        print(f"sidecar live: {exc}", file=sys.stderr)
        return 2
    display = Display(sys.stdout, interim=not args.no_interim, quiet=args.quiet)
    session = Session(source, writer, display)
    try:
        with connect(args) as client:
            session.stream(client, config_for(args))
            while args.reconnect and session.interrupted is not None:
                display.notice(f"sidecar unavailable ({session.interrupted}); reconnecting")
                session.stream(reconnected(client), config_for(args))
    except SidecarError as exc:
        display.close()
        print(f"sidecar live: {args.input}: {exc}", file=sys.stderr)
        return 1
    finally:
        source.close()
    display.close()
    if session.interrupted is not None:
        print(f"sidecar live: the sidecar went away: {session.interrupted}", file=sys.stderr)
        return 1
    if writer is not None and not args.quiet:
        print(f"{writer.path}: {len(writer.cues())} cues", file=sys.stderr)
    return 0


def config_for(args: argparse.Namespace):
    from sidecar.v1 import streaming_recognition_pb2 as pb
    from sidecar_client.client import streaming_config

    vad = pb.VoiceActivityConfig()
    if args.endpoint_silence:
        vad.endpoint_silence_duration.FromNanoseconds(round(args.endpoint_silence * 1e9))
    return streaming_config(
        SAMPLE_RATE, model=args.model or "", language_code=args.language or "",
        interim_results=not args.no_interim, hotwords=args.hotwords or "",
        initial_prompt=args.initial_prompt or "", voice_activity=vad)


def reconnected(client):
    """Waits until the same sidecar answers again, up to RECONNECT_GIVE_UP_SECONDS."""
    from sidecar_client import SidecarError

    deadline = time.monotonic() + RECONNECT_GIVE_UP_SECONDS
    while True:
        try:
            client.wait_ready(timeout=RECONNECT_WAIT_SECONDS)
            return client
        except SidecarError:
            if time.monotonic() > deadline:
                raise
            time.sleep(RECONNECT_WAIT_SECONDS)


def plan_output(args: argparse.Namespace) -> pathlib.Path:
    output = args.output
    if output.suffix.lower() not in FORMATS:
        raise UsageError(f"{output}: the output must end in {', '.join(FORMATS)}")
    if pathlib.Path(args.input).exists() and output.resolve() == pathlib.Path(args.input).resolve():
        raise UsageError(f"{output}: refusing to overwrite the input")
    if output.exists() and not args.force:
        raise UsageError(f"{output} exists: pass --force to overwrite it")
    return output


# --- audio sources ----------------------------------------------------------------------------


class Source:
    """16 kHz mono s16le chunks of CHUNK_SECONDS; `sent` counts the seconds handed out."""

    def __init__(self, blocks: Iterator[np.ndarray], *, pace: bool, stop=None) -> None:
        self._blocks = blocks
        self._pace = pace
        self._stop = stop
        self._started: float | None = None
        self.sent = 0.0
        self.ended = False

    def chunks(self) -> Iterator[bytes]:
        """The next chunks; a new call after an interruption carries on where this stopped."""
        if self._started is None:
            self._started = time.monotonic()
        for block in self._blocks:
            data = (np.clip(block, -1.0, 1.0) * 32767.0).round().astype("<i2").tobytes()
            if self._pace:  # a file in real time: hand out no audio before its time
                wait = self._started + self.sent - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
            self.sent += len(data) / BYTES_PER_SECOND
            yield data
        self.ended = True

    def close(self) -> None:
        if self._stop is not None:
            self._stop()


def open_source(spec: str, *, fast: bool) -> Source:
    """A file or URL (decoded with PyAV), or FORMAT:NAME, a capture device."""
    kind, _, name = spec.partition(":")
    if kind in DEVICE_FORMATS and name and not pathlib.Path(spec).exists():
        return _device(kind, name)
    if "://" not in spec and not pathlib.Path(spec).is_file():
        raise UsageError(f"{spec}: no such file, and not a URL or FORMAT:DEVICE")
    from sidecar.errors import InvalidAudioError
    from sidecar.media.audio import DecodedStream

    try:
        stream = DecodedStream(spec, sample_rate=SAMPLE_RATE, mono=True)
    except InvalidAudioError as exc:
        raise UsageError(str(exc)) from None
    blocks = (block[0] for block in stream.blocks(block_seconds=CHUNK_SECONDS))
    return Source(blocks, pace=not fast)


def _device(kind: str, name: str) -> Source:
    """Captures with PyAV when it has the input format, else with an ffmpeg process."""
    import av

    if kind in av.formats_available:
        try:
            container = av.open(name, format=kind)
        except (av.error.FFmpegError, OSError) as exc:
            raise UsageError(f"cannot open {kind} device {name!r}: {exc}") from None
        if not container.streams.audio:
            container.close()
            raise UsageError(f"{kind} device {name!r} has no audio")
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)

        def blocks() -> Iterator[np.ndarray]:
            for frame in container.decode(container.streams.audio[0]):
                for out in resampler.resample(frame):
                    yield out.to_ndarray()[0]

        return Source(blocks(), pace=False, stop=container.close)
    if shutil.which("ffmpeg") is None:
        raise UsageError(f"this PyAV lacks the {kind} input and there is no ffmpeg on PATH")
    process = subprocess.Popen(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-f", kind, "-i", name,
         "-ac", "1", "-ar", str(SAMPLE_RATE), "-f", "f32le", "-"],
        stdout=subprocess.PIPE)
    chunk_bytes = int(SAMPLE_RATE * CHUNK_SECONDS) * 4

    def piped() -> Iterator[np.ndarray]:
        while data := process.stdout.read(chunk_bytes):
            yield np.frombuffer(data[: len(data) // 4 * 4], "<f4")

    def stop() -> None:
        process.terminate()
        process.wait()

    return Source(piped(), pace=False, stop=stop)


# --- captions ---------------------------------------------------------------------------------


class CaptionWriter:
    """Keeps the subtitle file complete: cues of ended utterances plus the current one's."""

    def __init__(self, path: pathlib.Path) -> None:
        self.path = path
        self._format = FORMATS[path.suffix.lower()]
        self._closed: list[subtitles.Cue] = []  # cues of utterances that ended
        self._open: list[subtitles.TimedWord] = []  # final words of the current utterance
        write_atomically(path, self._format([]))

    def cues(self) -> list[subtitles.Cue]:
        return self._closed + subtitles.build_cues(self._open)

    def add(self, words: list[subtitles.TimedWord]) -> None:
        self._open.extend(words)
        write_atomically(self.path, self._format(self.cues()))

    def end_utterance(self) -> None:
        """Freezes the current utterance's cues, so later rewrites need not rebuild them."""
        self._closed = self.cues()
        self._open = []


class Display:
    """Final captions as lines; on a terminal the interim words on the line below."""

    def __init__(self, out, *, interim: bool, quiet: bool) -> None:
        self._out = out
        self._tty = out.isatty()
        self._interim = interim and self._tty and not quiet
        self._quiet = quiet
        self._shown = ""

    def final(self, start: float, text: str) -> None:
        if self._quiet:
            return
        self._clear()
        print(f"[{subtitles.format_timestamp(start, vtt=True)}] {text}", file=self._out, flush=True)

    def interim(self, text: str) -> None:
        if self._interim and text != self._shown:
            self._clear()
            self._out.write(f"\033[2m… {text}\033[0m")
            self._out.flush()
            self._shown = text

    def notice(self, text: str) -> None:
        self._clear()
        print(f"sidecar live: {text}", file=sys.stderr, flush=True)

    def close(self) -> None:
        self._clear()

    def _clear(self) -> None:
        if self._shown:
            self._out.write("\r\033[K")
            self._shown = ""


@dataclasses.dataclass
class Session:
    """Runs the stream, once or again after the sidecar went away, timed to the input."""

    source: Source
    writer: CaptionWriter | None
    display: Display
    interrupted: str | None = None  # why the last stream stopped early, if it did

    def stream(self, client, config) -> None:
        import grpc
        from sidecar.v1 import streaming_recognition_pb2 as pb
        from sidecar_client import SidecarError
        from sidecar_client.client import seconds

        self.interrupted = None
        offset = self.source.sent  # input time where this stream begins
        try:
            for response in client.streaming_recognize(self.source.chunks(), config=config):
                if response.HasField("final_result") and response.final_result.words:
                    result = response.final_result
                    words = [subtitles.TimedWord(w.text, offset + seconds(w.start_offset),
                                                 offset + seconds(w.end_offset))
                             for w in result.words]
                    self.display.final(words[0].start, result.transcript)
                    if self.writer is not None:
                        self.writer.add(words)
                if response.HasField("interim_result"):
                    self.display.interim(response.interim_result.transcript)
                if response.speech_event == pb.SPEECH_EVENT_END and self.writer is not None:
                    self.writer.end_utterance()
        except SidecarError as exc:
            if exc.code != grpc.StatusCode.UNAVAILABLE or self.source.ended:
                raise
            self.interrupted = exc.details
        if self.writer is not None:
            self.writer.end_utterance()

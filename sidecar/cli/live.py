"""`sidecar live`: live captions from a device, file or URL, in the terminal, as SRT/WebVTT and in OBS.

The work is `sidecar_client.live`, the same client code the OBS script runs: an ffmpeg
capture (a device as it records, a file or URL at its own pace or, with --fast, as fast as
the sidecar takes it; a lost device is reopened), a stream to the sidecar's
StreamingRecognize that carries on after the sidecar restarts (--reconnect), and a subtitle
file rewritten atomically after every final result, valid at every moment. This module
shows the captions: final ones as lines, the pending (interim) words on the line below on a
terminal, and with --obs in an OBS Text source and OBS's stream through obs-websocket.
Ctrl-C ends a device's capture; the pending words are finalized before the command exits.
With --to each final is translated too (live_translation.py).

A little over 400 lines on purpose: the terminal, the caption files and OBS follow the one
stream of finals here, in one loop.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
import threading
import time

from sidecar.cli import live_translation
from sidecar.cli.connection import add_server_arguments, connect
from sidecar.cli.files import UsageError, check_output
from sidecar_client import SidecarError, live, translating
from sidecar_client.capture import DEVICE_FORMATS, AudioCapture, CaptureOptions, is_device
from sidecar_client.obs_websocket import DEFAULT_URL, ObsError, ObsWebSocket
from sidecar_common import rollup, subtitles
from sidecar_common.limits import BEAM_SIZE

TICK_SECONDS = 0.05  # how often the captions that arrived are shown
RECONNECT_GIVE_UP_SECONDS = 60.0  # with --reconnect, how long the sidecar may stay away
OBS_RETRY_SECONDS = 2.0  # how often a lost OBS connection is tried again
OBS_TIMEOUT_SECONDS = 3.0  # longest wait for OBS's answer (the captions wait meanwhile)
OBS_PASSWORD_VARIABLE = "OBS_WEBSOCKET_PASSWORD"


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("live", help="live captions from a device, file or URL")
    p.add_argument(
        "--input",
        "-i",
        required=True,
        metavar="DEVICE|FILE|URL",
        help="a file, a URL FFmpeg reads, or a capture device as FORMAT:NAME "
        f"(FORMAT one of {', '.join(DEVICE_FORMATS)}; e.g. pulse:default, "
        "alsa:hw:0, avfoundation::0, dshow:audio=Microphone)",
    )
    p.add_argument(
        "-o", "--output", type=pathlib.Path, help="subtitle file (.srt or .vtt) written as captions become final"
    )
    p.add_argument(
        "--fast", action="store_true", help="send a file or URL as fast as the sidecar takes it, not in real time"
    )
    p.add_argument(
        "--language", help="spoken language (e.g. en, de); default: English-only models use English, others detect"
    )
    p.add_argument("--model", help="Whisper model name or directory (default: the server's)")
    p.add_argument("--hotwords", help="comma-separated words to favour")
    p.add_argument(
        "--beam-size", type=int, default=0, help=f"beam width (default {BEAM_SIZE}; 1 is greedy and cheaper)"
    )
    p.add_argument("--initial-prompt", help="text that conditions decoding (names, spellings)")
    p.add_argument(
        "--endpoint-silence",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="silence that ends an utterance (default 0.5)",
    )
    p.add_argument("--no-interim", action="store_true", help="show final captions only")
    p.add_argument("--reconnect", action="store_true", help="when the sidecar goes away, wait for it and carry on")
    p.add_argument(
        "--obs",
        nargs="?",
        const=DEFAULT_URL,
        metavar="ws://HOST:PORT",
        help=f"push captions into OBS through obs-websocket (OBS 28+; default "
        f"{DEFAULT_URL}): the Text source's text and, while OBS streams, "
        "the stream's captions",
    )
    p.add_argument(
        "--obs-password",
        default=os.environ.get(OBS_PASSWORD_VARIABLE),
        help=f"obs-websocket password (default: ${OBS_PASSWORD_VARIABLE})",
    )
    p.add_argument("--obs-text-source", metavar="NAME", help="the OBS Text source that shows the captions")
    p.add_argument(
        "--lines",
        type=int,
        default=rollup.BoardOptions.lines,
        help="lines of captions in the Text source (default %(default)s)",
    )
    p.add_argument(
        "--chars-per-line",
        type=int,
        default=rollup.BoardOptions.chars_per_line,
        help="characters per line in the Text source (default %(default)s)",
    )
    live_translation.add_arguments(p)
    p.add_argument("--force", action="store_true", help="overwrite an existing output file")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    add_server_arguments(p)
    return p


def run(args: argparse.Namespace) -> int:
    check_input(args.input)
    output = plan_output(args) if args.output else None
    translated_output = live_translation.plan(args, output)
    board = board_options(args)
    display = Display(sys.stdout, board.chars_per_line, interim=not args.no_interim, quiet=args.quiet)
    try:
        capture = AudioCapture(args.input, CaptureOptions(realtime=not args.fast))
        obs = ObsCaptions(args, rollup.CaptionBoard(board)) if args.obs else None
    except (ObsError, FileNotFoundError) as exc:
        print(f"sidecar live: {exc}", file=sys.stderr)
        return 1
    writer = live.CaptionFile(output, overwrite=args.force) if output else None
    translation = None
    try:
        with connect(args) as client:
            options = live_options(args, client)
            if args.to:
                translation = live_translation.start(client, options.connection(), args, translated_output)
            captions = live.LiveCaptions(capture.start(), options)
            # Behind the audio means something only when it arrives at its own pace.
            lag = None if args.fast or args.quiet else live.LagWatch()
            status, writer = follow(captions.start(), display, writer, obs, lag, translation)
            if translation is not None:
                display.translations(translation.language, translation.finish())
    except SidecarError as exc:
        status = f"failed: {exc}"
    finally:
        capture.stop()
        if obs is not None:
            obs.close()
    display.close()
    if status != "ended":
        print(f"sidecar live: {args.input}: {status.removeprefix('failed: ')}", file=sys.stderr)
        return 1
    for done in (writer, translation and translation.writer):
        if done is not None and not args.quiet:
            print(f"{done.path}: {len(done.cues())} cues", file=sys.stderr)
    return 0


def follow(
    captions: live.LiveCaptions,
    display: Display,
    writer: live.CaptionFile | None,
    obs: ObsCaptions | None,
    lag: live.LagWatch | None,
    translation: translating.LiveTranslation | None = None,
) -> tuple[str, live.CaptionFile | None]:
    """Shows what arrives until the captions end; the final status, and the caption file
    unless writing it failed. The first Ctrl-C ends the capture (the stream then finalizes its
    pending words), a second one quits at once."""
    status, interrupted = "", False
    while True:
        try:
            running = captions.running
            update = captions.poll()
            obs_notices = obs.take_notices() if obs is not None else []
            for notice in [*update.notices, *obs_notices, lag and lag.check(update.lag)]:
                if notice:
                    display.notice(notice)
            if update.status != status:
                status = update.status
                if status.startswith("reconnecting: "):
                    display.notice(f"sidecar unavailable ({status.removeprefix('reconnecting: ')}); reconnecting")
            for final in update.finals:
                display.final(final)
                if writer is not None:
                    try:
                        writer.add(final)
                    except OSError as exc:  # a full disk or a removed folder: keep captioning
                        display.notice(f"cannot write {writer.path}: {exc}; captions go on here only")
                        writer = None
                if obs is not None:
                    obs.final(final)
                if translation is not None:
                    translation.add(final)
            if translation is not None:
                display.translations(translation.language, translation.take())
            display.interim(update.interim)
            if obs is not None:
                obs.interim(update.interim)
            if not running:
                return status, writer
            time.sleep(TICK_SECONDS)
        except KeyboardInterrupt:
            if interrupted:
                captions.stop()
                raise
            interrupted = True
            display.notice("finishing the captions (Ctrl-C again to quit at once)")
            captions.capture.stop()


def live_options(args: argparse.Namespace, client) -> live.LiveOptions:
    """The stream's settings; it opens its own channels to the sidecar `client` reaches."""
    return live.LiveOptions(
        address=client.address,
        token=client.token,
        tls=bool(args.server and args.tls),
        tls_ca=args.tls_ca if args.server else None,
        language_code=args.language or "",
        model=args.model or "",
        interim_results=not args.no_interim,
        hotwords=args.hotwords or "",
        initial_prompt=args.initial_prompt or "",
        endpoint_silence_seconds=args.endpoint_silence,
        beam_size=args.beam_size,
        give_up_seconds=RECONNECT_GIVE_UP_SECONDS if args.reconnect else 0.0,
    )


def check_input(spec: str) -> None:
    if not is_device(spec) and "://" not in spec and not pathlib.Path(spec).is_file():
        raise UsageError(f"{spec}: no such file, and not a URL or FORMAT:DEVICE")


def plan_output(args: argparse.Namespace) -> pathlib.Path:
    # A device or URL input is no file the output could be.
    source = pathlib.Path(args.input) if pathlib.Path(args.input).exists() else None
    check_output(args.output, inputs=[source], force=args.force, suffixes=subtitles.WRITERS)
    return args.output


def board_options(args: argparse.Namespace) -> rollup.BoardOptions:
    """The OBS Text source's layout from --lines and --chars-per-line."""
    options = rollup.BoardOptions(args.lines, args.chars_per_line)
    try:
        options.validate()
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return options


class ObsCaptions:
    """Captions into a running OBS through obs-websocket: the Text source shows the board, each
    final caption goes into the stream while OBS streams. Requests run in a thread of their
    own, so a slow or hung OBS never holds up the terminal or the caption file. A lost
    connection is tried again every OBS_RETRY_SECONDS (stream captions meanwhile are dropped:
    late captions are worse than none), with a notice when it goes and comes back."""

    def __init__(self, args: argparse.Namespace, board: rollup.CaptionBoard) -> None:
        self._url, self._password, self._source = args.obs, args.obs_password, args.obs_text_source
        self._board = board
        self._lines = rollup.CaptionLines(board.options.chars_per_line)
        self._ws: ObsWebSocket | None = self._connect()  # at once: a wrong setting fails the start
        self._changed = threading.Condition()
        self._captions: list[str] = []  # whole caption lines not yet sent into the stream
        self._text = board.text()  # what the Text source should show
        self._notices: list[str] = []
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="sidecar-live-obs", daemon=True)
        self._thread.start()

    def final(self, final: live.Final) -> None:
        self._board.add_final(final.text)
        with self._changed:
            self._captions += [text for _, text in self._lines.add(final.words)]
            self._text = self._board.text()
            self._changed.notify()

    def interim(self, text: str) -> None:
        self._board.set_interim(text)
        with self._changed:
            self._text = self._board.text()
            self._changed.notify()

    def take_notices(self) -> list[str]:
        with self._changed:
            notices, self._notices = self._notices, []
            return notices

    def close(self) -> None:
        """Sends what is pending (if OBS is there), then closes the connection."""
        with self._changed:
            self._captions += [text for _, text in self._lines.flush()]
            self._closing = True
            self._changed.notify()
        self._thread.join(timeout=2 * OBS_TIMEOUT_SECONDS)

    def _connect(self) -> ObsWebSocket:
        ws = ObsWebSocket(self._url, self._password, timeout=OBS_TIMEOUT_SECONDS)
        try:
            if self._source:
                ws.text_source_settings(self._source)  # names a missing or wrong source now
        except BaseException:
            ws.close()
            raise
        return ws

    def _run(self) -> None:
        shown: str | None = None
        try:
            while True:
                with self._changed:
                    while not (self._closing or self._captions or self._text != shown):
                        self._changed.wait()
                    captions, self._captions, text = self._captions, [], self._text
                    closing = self._closing
                if self._ws is None and not self._reconnect(closing):
                    if closing:
                        return
                    continue
                try:
                    for caption in captions:
                        self._ws.send_stream_caption(caption)
                    if self._source and text != shown:
                        self._ws.set_text(self._source, text)
                    shown = text
                except ObsError as exc:
                    self._note(f"lost OBS ({exc}); trying again every {OBS_RETRY_SECONDS:g} s")
                    self._ws.close()
                    self._ws, shown = None, None
                if closing:
                    return
        finally:
            if self._ws is not None:
                self._ws.close()

    def _reconnect(self, closing: bool) -> bool:
        """Connects again; False (after waiting OBS_RETRY_SECONDS, unless closing) when OBS is
        still away."""
        try:
            self._ws = self._connect()
        except ObsError:
            with self._changed:
                if not (closing or self._closing):
                    self._changed.wait_for(lambda: self._closing, OBS_RETRY_SECONDS)
            return False
        self._note(f"connected to OBS at {self._url} again")
        return True

    def _note(self, notice: str) -> None:
        with self._changed:
            self._notices.append(notice)


class Display:
    """Final captions as lines that fill up to the line width or end at a sentence end, each
    printed once complete; on a terminal the line being filled and the interim words show
    below, rewritten as they change."""

    def __init__(self, out, chars_per_line: int, *, interim: bool, quiet: bool) -> None:
        self._out = out
        self._tty = out.isatty()
        self._interim = interim and not quiet
        self._quiet = quiet
        self._lines = rollup.CaptionLines(chars_per_line)
        self._pending = ""  # interim words
        self._shown = ""

    def final(self, final: live.Final) -> None:
        self._print(self._lines.add(final.words))

    def interim(self, text: str) -> None:
        self._pending = text if self._interim else ""
        self._show()

    def translations(self, language: str, done: list) -> None:
        """Each translated final on a line of its own, "[time] (es) text"; failures as notices."""
        for item in done:
            if isinstance(item, str):
                self.notice(item)
            elif item.words:
                self._print([(item.words[0].start, f"({language}) {item.text}")])

    def _print(self, lines: list[tuple[float, str]]) -> None:
        if self._quiet:
            return
        if lines:
            self._clear()
        for start, text in lines:
            print(f"[{subtitles.format_timestamp(start, vtt=True)}] {text}", file=self._out, flush=True)
        self._show()

    def _show(self) -> None:
        """The line being filled, then the interim words dimmed, on one rewritable line."""
        if not self._tty or self._quiet:
            return
        text = " ".join(t for t in (self._lines.pending, self._pending and f"\033[2m{self._pending}\033[0m") if t)
        if text != self._shown:
            self._clear()
            self._out.write(text)
            self._out.flush()
            self._shown = text

    def notice(self, text: str) -> None:
        self._clear()
        print(f"sidecar live: {text}", file=sys.stderr, flush=True)

    def close(self) -> None:
        self._pending = ""
        self._print(self._lines.flush())
        self._clear()

    def _clear(self) -> None:
        if self._shown:
            self._out.write("\r\033[K")
            self._shown = ""

"""OBS Studio script: live captions from the audio sidecar into a Text source, an SRT and the stream.

Load it in Tools > Scripts (OBS 28+ with Python scripting). OBS's Python API cannot hand a
script an audio source's samples, so the script captures audio itself with an ffmpeg process
(a capture device, or a file for testing), streams it to a running sidecar, and shows the
captions in the chosen Text source (FreeType 2 or GDI+) from a main-thread timer. While
recording it writes an SRT next to the recording, timed to it; while streaming it sends the
captions into the stream a whole line at a time (CEA-608 captions,
`obs_output_output_caption_text2`). When the
sidecar restarts it reconnects by itself; a capture device that goes away is reopened.

OBS's Python must import grpcio, protobuf and the sidecar's client package: set "Sidecar
virtual environment" to the sidecar's venv (created with OBS's Python version) and the script
adds its site-packages to sys.path. The work happens in `sidecar_client.live`; this file only
talks to OBS.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import site
import sys
import time

import obspython as obs

TICK_MS = 100  # how often the Text source is refreshed from the captions that arrived
# OBS sends a stream caption only once the previous one's time is up, so captions that stay
# up longer than the time between finals would fall further and further behind the speech.
CAPTION_CHARS_PER_SECOND = 20.0  # reading speed that sets a stream caption's time
MIN_CAPTION_SECONDS = 1.0
MAX_CAPTION_SECONDS = 3.0
TEXT_SOURCE_IDS = ("text_ft2_source", "text_gdiplus")  # unversioned ids of OBS's Text sources
DEVICE_EXAMPLES = ("pulse:default", "alsa:default", "dshow:audio=Microphone", "avfoundation::0")


@dataclasses.dataclass(frozen=True)
class Settings:
    """The script's properties, as read from OBS."""

    venv: str = ""  # the sidecar's virtual environment; empty: OBS's Python already has the packages
    address: str = "127.0.0.1:50051"
    token_file: str = ""  # a file holding the sidecar's token; empty: $SIDECAR_TOKEN, if set
    tls_ca: str = ""  # PEM roots to verify a TLS sidecar against; empty: no TLS
    text_source: str = ""
    input: str = "pulse:default"  # FORMAT:DEVICE for ffmpeg, or a file read in real time
    language: str = ""
    lines: int = 2
    chars_per_line: int = 42
    srt: bool = True
    debug_log: str = ""  # a file that gets a JSON line per text shown (read back from OBS)


DEFAULTS = Settings()


class State:
    """Everything the script holds between OBS's calls (OBS runs one script instance)."""

    settings = DEFAULTS
    live = None  # the sidecar_client.live module, once importable
    session = None  # LiveCaptions
    board = None  # CaptionBoard
    lines = None  # CaptionLines for the stream's captions
    srt = None  # CaptionFile while recording
    shown = None  # the text last put in the Text source
    status = ""
    lag = None  # LagWatch of the running session


def script_description() -> str:
    return (
        "<b>Live captions from the audio sidecar.</b><br>Captures the input with FFmpeg, "
        "shows captions in a Text source, writes an SRT next to recordings and sends "
        "captions into the stream. Needs a running sidecar (<code>sidecar serve</code>)."
    )


def script_defaults(settings) -> None:
    obs.obs_data_set_default_string(settings, "address", DEFAULTS.address)
    obs.obs_data_set_default_string(settings, "input", DEFAULTS.input)
    obs.obs_data_set_default_int(settings, "lines", DEFAULTS.lines)
    obs.obs_data_set_default_int(settings, "chars_per_line", DEFAULTS.chars_per_line)
    obs.obs_data_set_default_bool(settings, "srt", DEFAULTS.srt)


def script_properties():
    props = obs.obs_properties_create()
    obs.obs_properties_add_path(props, "venv", "Sidecar virtual environment", obs.OBS_PATH_DIRECTORY, "", None)
    obs.obs_properties_add_text(props, "address", "Sidecar address (host:port)", obs.OBS_TEXT_DEFAULT)
    obs.obs_properties_add_path(props, "token_file", "Sidecar token file", obs.OBS_PATH_FILE, "", None)
    obs.obs_properties_add_path(
        props, "tls_ca", "TLS roots (PEM; empty: no TLS)", obs.OBS_PATH_FILE, "PEM files (*.pem *.crt)", None
    )
    sources = obs.obs_properties_add_list(
        props, "text_source", "Text source", obs.OBS_COMBO_TYPE_EDITABLE, obs.OBS_COMBO_FORMAT_STRING
    )
    for name in text_source_names():
        obs.obs_property_list_add_string(sources, name, name)
    inputs = obs.obs_properties_add_list(
        props, "input", "Input device (FORMAT:DEVICE) or file", obs.OBS_COMBO_TYPE_EDITABLE, obs.OBS_COMBO_FORMAT_STRING
    )
    for example in DEVICE_EXAMPLES:
        obs.obs_property_list_add_string(inputs, example, example)
    obs.obs_properties_add_text(props, "language", "Language (e.g. en; empty: the model's)", obs.OBS_TEXT_DEFAULT)
    obs.obs_properties_add_int(props, "lines", "Lines", 1, 10, 1)
    obs.obs_properties_add_int(props, "chars_per_line", "Characters per line", 8, 200, 1)
    obs.obs_properties_add_bool(props, "srt", "Write an SRT next to each recording")
    obs.obs_properties_add_path(
        props, "debug_log", "Debug: log shown text to", obs.OBS_PATH_FILE_SAVE, "JSON lines (*.jsonl)", None
    )
    return props


def script_load(settings) -> None:
    obs.obs_frontend_add_event_callback(on_event)
    obs.timer_add(tick, TICK_MS)


def script_update(settings) -> None:
    new = read_settings(settings)
    old, State.settings = State.settings, new
    if State.live is None or new.venv != old.venv:
        State.live = import_live(new.venv)
    if State.live is None:
        return
    try:
        from sidecar_common import rollup  # importable once sidecar_client is

        State.board = rollup.CaptionBoard(rollup.BoardOptions(new.lines, new.chars_per_line))
        State.lines = rollup.CaptionLines(new.chars_per_line)
    except ValueError as exc:
        report(f"bad caption layout: {exc}")
        return
    State.shown = None
    connection = ("venv", "address", "token_file", "tls_ca", "input", "language")
    if State.session is None or any(getattr(new, k) != getattr(old, k) for k in connection):
        restart_session()


def script_unload() -> None:
    obs.timer_remove(tick)
    obs.obs_frontend_remove_event_callback(on_event)
    stop_session()


def read_settings(settings) -> Settings:
    return Settings(
        venv=obs.obs_data_get_string(settings, "venv").strip(),
        address=obs.obs_data_get_string(settings, "address").strip(),
        token_file=obs.obs_data_get_string(settings, "token_file").strip(),
        tls_ca=obs.obs_data_get_string(settings, "tls_ca").strip(),
        text_source=obs.obs_data_get_string(settings, "text_source"),
        input=obs.obs_data_get_string(settings, "input").strip(),
        language=obs.obs_data_get_string(settings, "language").strip(),
        lines=obs.obs_data_get_int(settings, "lines"),
        chars_per_line=obs.obs_data_get_int(settings, "chars_per_line"),
        srt=obs.obs_data_get_bool(settings, "srt"),
        debug_log=obs.obs_data_get_string(settings, "debug_log").strip(),
    )


def import_live(venv: str):
    """sidecar_client.live, after adding the venv's site-packages to sys.path; None (and a
    message in the script log) when the packages cannot be imported."""
    if venv:
        try:
            site.addsitedir(str(site_packages(pathlib.Path(venv))))
        except ValueError as exc:
            report(str(exc))
            return None
    try:
        from sidecar_client import live
    except ImportError as exc:
        report(
            f"cannot import the sidecar client ({exc}): set 'Sidecar virtual environment' to "
            f"a venv made with Python {sys.version_info.major}.{sys.version_info.minor} "
            f"that has the sidecar installed"
        )
        return None
    return live


def site_packages(venv: pathlib.Path) -> pathlib.Path:
    """The venv's site-packages, checked against this Python's version (compiled packages such
    as grpcio only load into the minor version they were built for)."""
    config = venv / "pyvenv.cfg"
    if not config.is_file():
        raise ValueError(f"{venv} is not a virtual environment (no pyvenv.cfg)")
    fields = {}
    for line in config.read_text().splitlines():
        key, _, value = line.partition("=")
        fields[key.strip()] = value.strip()
    version = fields.get("version_info") or fields.get("version", "")
    ours = f"{sys.version_info.major}.{sys.version_info.minor}"
    if ".".join(version.split(".")[:2]) != ours:
        raise ValueError(
            f"{venv} is Python {version or 'of unknown version'} but OBS runs Python "
            f"{ours}: create the venv with python{ours}"
        )
    if sys.platform == "win32":
        return venv / "Lib" / "site-packages"
    return venv / "lib" / f"python{ours}" / "site-packages"


def restart_session() -> None:
    stop_session()
    settings, live = State.settings, State.live
    try:
        options = live.LiveOptions(
            address=settings.address,
            token_file=settings.token_file or None,
            tls_ca=settings.tls_ca or None,
            language_code=settings.language,
        )
        options.validate()
        from sidecar_client.capture import AudioCapture  # importable once the venv is on the path

        capture = AudioCapture(settings.input).start()
    except (ValueError, OSError) as exc:
        report(f"cannot start live captions: {exc}")
        return
    State.session = live.LiveCaptions(capture, options).start()
    State.lag = live.LagWatch()
    report(f"captioning {settings.input} through the sidecar at {settings.address}")


def stop_session() -> None:
    session, State.session = State.session, None
    if session is not None:
        session.stop()
        session.capture.stop()
    State.srt = None


def tick() -> None:
    session, board = State.session, State.board
    if session is None or board is None:
        return
    update = session.poll()
    if update.status != State.status:
        State.status = update.status
        report(f"sidecar: {update.status}")
    for notice in update.notices:  # the capture device lost and reopened
        report(notice)
    lag_notice = State.lag.check(update.lag)
    if lag_notice:
        report(lag_notice)
    for final in update.finals:
        board.add_final(final.text)
        add_to_srt(final)
        for _, line in State.lines.add(final.words):
            send_stream_caption(line)
    board.set_interim(update.interim)
    text = board.text()
    if text != State.shown and show(text):
        State.shown = text


def add_to_srt(final) -> None:
    if State.srt is None:
        return
    try:
        State.srt.add(final)
    except OSError as exc:
        report(f"cannot write {State.srt.path}: {exc}; no more captions go to it")
        State.srt = None


def show(text: str) -> bool:
    """Puts the text in the Text source; False while the source does not exist (yet)."""
    source = obs.obs_get_source_by_name(State.settings.text_source)
    if source is None:
        return False
    try:
        data = obs.obs_data_create()
        obs.obs_data_set_string(data, "text", text)
        obs.obs_source_update(source, data)
        obs.obs_data_release(data)
        if State.settings.debug_log:
            current = obs.obs_source_get_settings(source)
            debug_log({"source": State.settings.text_source, "text": obs.obs_data_get_string(current, "text")})
            obs.obs_data_release(current)
    finally:
        obs.obs_source_release(source)
    return True


def send_stream_caption(text: str) -> None:
    if not text or not obs.obs_frontend_streaming_active():
        return
    output = obs.obs_frontend_get_streaming_output()
    if output is None:
        return
    try:
        duration = min(MAX_CAPTION_SECONDS, max(MIN_CAPTION_SECONDS, len(text) / CAPTION_CHARS_PER_SECOND))
        obs.obs_output_output_caption_text2(output, text, duration)
    finally:
        obs.obs_output_release(output)


def on_event(event) -> None:
    if event == obs.OBS_FRONTEND_EVENT_RECORDING_STARTED:
        start_srt()
    elif event == obs.OBS_FRONTEND_EVENT_RECORDING_STOPPED and State.srt is not None:
        report(f"wrote {State.srt.path} ({len(State.srt.cues())} cues)")
        State.srt = None


def start_srt() -> None:
    """Starts the SRT next to the recording that just began, timed from this moment."""
    if not State.settings.srt or State.session is None:
        return
    recording = obs.obs_frontend_get_last_recording()
    if not recording:
        report("recording started but OBS gave no file name: no SRT")
        return
    origin = State.session.capture.capture_time(time.monotonic())
    recording = pathlib.Path(recording)
    # Never over a file the user has: "<recording>.srt", else "<recording> (2).srt", ...
    for number in range(1, 100):
        path = recording.with_name(recording.stem + (f" ({number})" if number > 1 else "") + ".srt")
        try:
            State.srt = State.live.CaptionFile(path, origin)
            break
        except FileExistsError:
            continue
        except OSError as exc:
            report(f"cannot write {path}: {exc}")
            return
    else:
        report(f"no free name for the captions of {recording}: no SRT")
        return
    report(f"writing captions to {path}")


def text_source_names() -> list[str]:
    sources = obs.obs_enum_sources()
    try:
        return sorted(
            obs.obs_source_get_name(s) for s in sources if obs.obs_source_get_unversioned_id(s) in TEXT_SOURCE_IDS
        )
    finally:
        obs.source_list_release(sources)


def report(message: str) -> None:
    print(f"[sidecar captions] {message}")
    debug_log({"status": message})


def debug_log(entry: dict) -> None:
    path = State.settings.debug_log
    if path:
        with open(os.path.expanduser(path), "a", encoding="utf-8") as f:
            f.write(json.dumps({"time": time.time(), **entry}) + "\n")

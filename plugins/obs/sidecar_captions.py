"""OBS Studio script: live captions from the audio sidecar into a Text source, an SRT and the stream,
and translated live captions beside them.

About 850 lines on purpose: OBS loads a script as one file, and what is here is OBS's side of
live captions (properties, settings applied off the interface thread, the Text sources, the
recording's SRTs, stream captions); capture, streaming, translating, downloads, layout and
caption files are in sidecar_client and sidecar_common.

Load it in Tools > Scripts (OBS 28+ with Python scripting). OBS's Python API cannot hand a
script an audio source's samples, so the script captures audio itself with an ffmpeg process
(a capture device, or a file for testing), streams it to a running sidecar, and shows the
captions in the chosen Text source (FreeType 2 or GDI+) from a main-thread timer. While
recording it writes an SRT next to the recording, timed to it; while streaming it sends the
captions into the stream a whole line at a time (CEA-608 captions,
`obs_output_output_caption_text2`). When the
sidecar restarts it reconnects by itself; a capture device that goes away is reopened.

With "Translate into" set, each final caption is also translated through the sidecar's
TranslationService in a thread of its own (`sidecar_client.translating`, as `sidecar live --to`
does): shown in a Text source of its own, or under the captions when none is chosen, and
written beside the recording's SRT (talk.es.srt) on the original's times. The stream keeps the
original captions: CEA-608 has one caption channel here.

"Download the models" has the sidecar download the models named in
"Caption model" and "Translation model" that it lacks, in a thread of its own
(`sidecar_client.downloads`); the line under the button and the Status show the progress
("Refresh status" updates them) and the captions switch to a caption model once it is in.

OBS calls script_update on its interface thread at every keystroke in a property, so the script
only notes the new settings there; the timer applies them once typing has paused, and an old
session is stopped in a thread of its own: nothing the script does waits on the network or on
ffmpeg in OBS's interface. A settings change or a script reload during a recording keeps the
recording's SRT: the new session's words are added to it.

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
import threading
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
SETTLE_SECONDS = 1.0  # settings apply once the user has stopped typing this long
UNLOAD_WAIT_SECONDS = 1.0  # how long unloading the script waits for the stream to end
DEVICE_LIST_WAIT_SECONDS = 0.3  # Refresh shows devices found this fast; slower ones on the next
# A Text source left at its default font size (256 px) overflows the canvas: the script sizes it
# so that a line of "Characters per line" fits. A character is about 0.6 em wide on average.
CHARACTER_EMS = 0.6
LINE_HEIGHT_EMS = 1.25
CANVAS_SHARE = 0.9
SRT_OF_THIS_RECORDING_SECONDS = 5.0  # an SRT changed since the recording began, less this, is its own


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
    model: str = ""  # the Whisper model of the captions; empty: the sidecar's default
    accept_licenses: bool = False  # the person accepts the licences of the models downloaded
    lines: int = 2
    chars_per_line: int = 42
    srt: bool = True
    clear_seconds: int = 5  # the text clears after this long without new words; 0: never
    debug_log: str = ""  # a file that gets a JSON line per text shown (read back from OBS)
    translate_to: str = ""  # a language code to translate the captions into; empty: no translation
    translation_model: str = ""  # the sidecar's translation model; empty: its default
    translated_source: str = ""  # the Text source of the translation; empty: under the captions


DEFAULTS = Settings()


@dataclasses.dataclass(frozen=True)
class Recording:
    path: pathlib.Path
    started: float  # time.monotonic() when it began
    started_wall: float  # time.time() then, to know the files written since


class State:
    """Everything the script holds between OBS's calls (OBS runs one script instance)."""

    settings = None  # the settings applied, None before the first
    pending = None  # settings typed but not applied yet
    pending_since = 0.0
    data = None  # the script's obs_data: the properties' status line is kept there
    live = None  # the sidecar_client.live module, once importable
    session = None  # LiveCaptions
    problem = ""  # why captioning is not running, when it could not start
    board = None  # CaptionBoard
    lines = None  # CaptionLines for the stream's captions
    recording = None  # Recording while OBS records
    srt = None  # CaptionFile of the recording
    shown = None  # the text last put in the Text source
    words_at = 0.0  # time.monotonic() when words last arrived
    interim = ""  # the interim words last polled
    sized = set()  # Text sources whose font size the script checked
    status = ""
    lag = None  # LagWatch of the running session
    devices = ()  # capture devices found, as sidecar_client.capture.Device
    device_search = None  # the thread listing them
    translation = None  # LiveTranslation of the running session, while translating
    translation_problem = ""  # why translation did not start, or the last one that failed
    translated_board = None  # CaptionBoard of the translated captions
    translated_shown = None  # the text last put in the translated Text source
    translated_srt = None  # CaptionFile of the recording's translation, once one arrived
    translated_srt_refused = None  # a path open_translated_srt must not write (the user's file)
    downloads = None  # ModelDownloads started by the button
    downloads_note = ""  # why the button started none


def script_description() -> str:
    return (
        "<b>Live captions from the audio sidecar.</b><br>Captures the input with FFmpeg, "
        "shows captions in a Text source, writes an SRT next to recordings and sends "
        "captions into the stream. Needs a running sidecar (<code>sidecar serve</code>)."
    )


def script_defaults(settings) -> None:
    obs.obs_data_set_default_string(settings, "venv", default_venv())
    obs.obs_data_set_default_string(settings, "address", DEFAULTS.address)
    obs.obs_data_set_default_string(settings, "input", DEFAULTS.input)
    obs.obs_data_set_default_int(settings, "lines", DEFAULTS.lines)
    obs.obs_data_set_default_int(settings, "chars_per_line", DEFAULTS.chars_per_line)
    obs.obs_data_set_default_bool(settings, "srt", DEFAULTS.srt)
    obs.obs_data_set_default_int(settings, "clear_seconds", DEFAULTS.clear_seconds)


def default_venv() -> str:
    """The venv of the checkout this script is in, or the README's ~/sidecar-venv: the folder
    browser hides '.venv'."""
    checkout = pathlib.Path(__file__).resolve().parents[2]
    for venv in (checkout / ".venv", pathlib.Path.home() / "sidecar-venv"):
        if (venv / "pyvenv.cfg").is_file():
            return str(venv)
    return ""


def script_properties():
    props = obs.obs_properties_create()
    status_now = status_text()
    if State.data is not None:  # an info property shows its setting's text
        obs.obs_data_set_string(State.data, "status", status_now)
    debug_log({"properties_status": status_now})
    status = obs.obs_properties_add_text(props, "status", "Status", obs.OBS_TEXT_INFO)
    failing = State.session is not None and State.status.startswith(("failed", "reconnecting"))
    if State.problem or failing or translation_failing():
        obs.obs_property_text_set_info_type(status, obs.OBS_TEXT_INFO_WARNING)
    obs.obs_properties_add_button(props, "refresh", "Refresh status and devices", refresh_clicked)
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
    for device in State.devices:
        obs.obs_property_list_add_string(inputs, f"{device.description} ({device.spec})", device.spec)
    for example in DEVICE_EXAMPLES:
        obs.obs_property_list_add_string(inputs, example, example)
    obs.obs_properties_add_text(props, "language", "Language (e.g. en; empty: the model's)", obs.OBS_TEXT_DEFAULT)
    obs.obs_properties_add_text(
        props, "model", "Caption model (e.g. small; empty: the sidecar's default)", obs.OBS_TEXT_DEFAULT
    )
    obs.obs_properties_add_int(props, "lines", "Lines", 1, 10, 1)
    obs.obs_properties_add_int(props, "chars_per_line", "Characters per line", 8, 200, 1)
    obs.obs_properties_add_int(
        props, "clear_seconds", "Clear the text after seconds without words (0: never)", 0, 600, 1
    )
    obs.obs_properties_add_bool(props, "srt", "Write an SRT next to each recording")
    obs.obs_properties_add_text(
        props, "translate_to", "Translate into (e.g. es; empty: no translation)", obs.OBS_TEXT_DEFAULT
    )
    obs.obs_properties_add_text(
        props, "translation_model", "Translation model (empty: the sidecar's default)", obs.OBS_TEXT_DEFAULT
    )
    translated = obs.obs_properties_add_list(
        props,
        "translated_source",
        "Translated text source (empty: under the captions)",
        obs.OBS_COMBO_TYPE_EDITABLE,
        obs.OBS_COMBO_FORMAT_STRING,
    )
    for name in text_source_names():
        obs.obs_property_list_add_string(translated, name, name)
    obs.obs_properties_add_bool(props, "accept_licenses", "Accept the licences of the models I download")
    obs.obs_properties_add_button(props, "download", "Download the models", download_clicked)
    # Beside the button, since the Status is scrolled out of sight there. OBS does not build the
    # properties again after a button: the button sets this line's text.
    show_downloads_status()
    obs.obs_properties_add_text(props, "download_status", "Download status", obs.OBS_TEXT_INFO)
    obs.obs_properties_add_path(
        props, "debug_log", "Debug: log shown text to", obs.OBS_PATH_FILE_SAVE, "JSON lines (*.jsonl)", None
    )
    return props


def script_load(settings) -> None:
    State.data = settings
    obs.obs_frontend_add_event_callback(on_event)
    obs.timer_add(tick, TICK_MS)
    if obs.obs_frontend_recording_active():  # the script was reloaded during a recording
        State.recording = current_recording()


def script_update(settings) -> None:
    """Runs on OBS's interface thread at every keystroke: only notes the settings (the first
    ones, as the script loads, apply at once)."""
    new = read_settings(settings)
    if State.settings is None:
        apply_settings(new)
    else:
        State.pending_since = time.monotonic()  # before `pending`: the timer thread reads both
        State.pending = new


def apply_settings(new: Settings) -> None:
    old, State.settings = State.settings or DEFAULTS, new
    if State.live is None or new.venv != old.venv:
        State.live = import_live(new.venv)
        if State.live is not None:
            search_devices()
    if State.live is None:
        return
    if State.board is None or (new.lines, new.chars_per_line) != (old.lines, old.chars_per_line):
        try:
            from sidecar_common import rollup  # importable once sidecar_client is

            State.board = rollup.CaptionBoard(rollup.BoardOptions(new.lines, new.chars_per_line))
            State.lines = rollup.CaptionLines(new.chars_per_line)
        except ValueError as exc:
            State.problem = f"bad caption layout: {exc}"
            report(State.problem)
            return
        State.translated_board = rollup.CaptionBoard(rollup.BoardOptions(new.lines, new.chars_per_line))
        State.sized.clear()
    State.shown = State.translated_shown = None
    if old.translated_source and old.translated_source != translated_source_of(new):
        show("", old.translated_source)  # the translation moved or stopped: no stale line stays
    connection = ("venv", "address", "token_file", "tls_ca", "input", "language", "model")
    if State.session is None or any(getattr(new, k) != getattr(old, k) for k in connection):
        restart_session()
    elif (new.translate_to, new.translation_model) != (old.translate_to, old.translation_model):
        restart_translation()
    if not new.srt and State.srt is not None:
        report(f"stopped writing {State.srt.path} ({len(State.srt.cues())} cues)")
        State.srt = None
        close_translated_srt()
    open_srt()


def script_unload() -> None:
    obs.timer_remove(tick)
    obs.obs_frontend_remove_event_callback(on_event)
    session, State.session = State.session, None
    if session is not None:
        session.stop(timeout=UNLOAD_WAIT_SECONDS)
        session.capture.stop()
    if State.translation is not None:
        State.translation.stop()
    if State.downloads is not None:
        State.downloads.stop()
    if State.srt is not None:
        report(f"wrote {State.srt.path} ({len(State.srt.cues())} cues) until the script was unloaded")
    close_translated_srt()
    if State.settings is not None and State.shown:
        show("", State.settings.text_source)  # no caption stays on screen without the script
    if State.settings is not None and State.translated_shown:
        show("", translated_source_of(State.settings))


def read_settings(settings) -> Settings:
    return Settings(
        venv=obs.obs_data_get_string(settings, "venv").strip(),
        address=obs.obs_data_get_string(settings, "address").strip(),
        token_file=obs.obs_data_get_string(settings, "token_file").strip(),
        tls_ca=obs.obs_data_get_string(settings, "tls_ca").strip(),
        text_source=obs.obs_data_get_string(settings, "text_source"),
        input=obs.obs_data_get_string(settings, "input").strip(),
        language=obs.obs_data_get_string(settings, "language").strip(),
        model=obs.obs_data_get_string(settings, "model").strip(),
        accept_licenses=obs.obs_data_get_bool(settings, "accept_licenses"),
        lines=obs.obs_data_get_int(settings, "lines"),
        chars_per_line=obs.obs_data_get_int(settings, "chars_per_line"),
        srt=obs.obs_data_get_bool(settings, "srt"),
        clear_seconds=obs.obs_data_get_int(settings, "clear_seconds"),
        debug_log=obs.obs_data_get_string(settings, "debug_log").strip(),
        translate_to=obs.obs_data_get_string(settings, "translate_to").strip(),
        translation_model=obs.obs_data_get_string(settings, "translation_model").strip(),
        translated_source=obs.obs_data_get_string(settings, "translated_source"),
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
    """A new session with the settings applied. It keeps capturing from the same input, if that
    did not change, and starts where the old session's final words ended: nothing said while
    the settings changed is lost."""
    old, State.session = State.session, None
    settings, live = State.settings, State.live
    same_input = old is not None and old.capture.spec == settings.input and not old.capture.ended
    retire(old, keep_capture=same_input)
    try:
        options = live.LiveOptions(
            address=settings.address,
            token_file=settings.token_file or None,
            tls_ca=settings.tls_ca or None,
            language_code=settings.language,
            model=settings.model,
        )
        options.validate()
        from sidecar_client.capture import AudioCapture  # importable once the venv is on the path

        capture = old.capture if same_input else AudioCapture(settings.input).start()
    except (ValueError, OSError) as exc:
        if same_input:
            old.capture.stop()
        State.problem = f"cannot start live captions: {exc}"
        report(State.problem)
        restart_translation()  # stops the old session's
        return
    State.problem = ""
    State.status = "connecting"
    State.session = live.LiveCaptions(capture, options, start=old.resume_point if same_input else 0.0).start()
    State.lag = live.LagWatch()
    report(f"captioning {settings.input} through the sidecar at {settings.address}")
    restart_translation()


def restart_translation() -> None:
    """A new translating thread for the session, when "Translate into" is set. The old one's
    queued finals are dropped: they may be timed by a capture clock that is gone."""
    old, State.translation = State.translation, None
    if old is not None:
        old.stop()
    State.translation_problem = ""
    State.translated_board.clear()
    settings = State.settings
    if State.translated_srt is not None and (old is None or old.language != settings.translate_to):
        close_translated_srt()
    if not settings.translate_to or State.session is None:
        return
    from sidecar_client import translating  # importable once the venv is on the path

    if not translating.LANGUAGE_CODE.match(settings.translate_to):
        State.translation_problem = f"{settings.translate_to!r} is not a language code such as es or pt-BR"
        report(f"cannot translate: {State.translation_problem}")
        return
    State.translation = translating.LiveTranslation(
        State.session.options.connection(),
        settings.translate_to,
        source_language=settings.language,
        model=settings.translation_model,
    ).start()
    report(f"translating the captions into {settings.translate_to}")


def retire(session, *, keep_capture: bool = False) -> None:
    """Stops a session in a thread of its own: its stream may take a moment to end."""
    if session is None:
        return

    def stop() -> None:
        session.stop()
        if not keep_capture:
            session.capture.stop()

    threading.Thread(target=stop, name="sidecar-captions-retire", daemon=True).start()


def tick() -> None:
    if State.pending is not None and time.monotonic() - State.pending_since >= SETTLE_SECONDS:
        new, State.pending = State.pending, None
        apply_settings(new)
    take_downloads()
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
    now = time.monotonic()
    if update.finals or (update.interim and update.interim != State.interim):
        State.words_at = now
    State.interim = update.interim
    for final in update.finals:
        board.add_final(final.text)
        State.srt = add_to_file(State.srt, final, session)
        if State.translation is not None:
            State.translation.add(final)
        for _, line in State.lines.add(final.words):
            send_stream_caption(line)
    board.set_interim(update.interim)
    if take_translations(session):
        State.words_at = now  # a translation stays up as long as the words it says
    if State.settings.clear_seconds and now - State.words_at >= State.settings.clear_seconds:
        board.clear()  # nobody spoke for a while, or the input or the sidecar stopped
        State.translated_board.clear()
    show_captions()


def take_translations(session) -> bool:
    """Takes the translations done (the thread's failures go to the status and the log);
    whether any arrived."""
    if State.translation is None:
        return False
    arrived = False
    for done in State.translation.take():
        if isinstance(done, str):
            State.translation_problem = done
            report(done)
            continue
        State.translation_problem, arrived = "", True
        State.translated_board.add_final(done.text)
        if State.translated_srt is None:
            open_translated_srt()
        State.translated_srt = add_to_file(State.translated_srt, done, session)
    return arrived


def show_captions() -> None:
    """The captions in their Text source, and the translation in its own or under them."""
    settings = State.settings
    text = State.board.text()
    translated = State.translated_board.text() if State.translation is not None else ""
    target = translated_source_of(settings)
    if settings.translate_to and not target and translated:
        text = f"{text}\n{translated}"
    if text != State.shown and show(text, settings.text_source):
        State.shown = text
    if target and translated != State.translated_shown and show(translated, target):
        State.translated_shown = translated


def translated_source_of(settings: Settings) -> str:
    """The Text source that shows the translation apart; "" when the translation shows under the
    captions (none chosen, or the captions' own) or there is no translation."""
    if not settings.translate_to or settings.translated_source == settings.text_source:
        return ""
    return settings.translated_source


def add_to_file(caption_file, final, session):
    """Adds a final (or its translation) to a caption file of the recording; the file, or None
    once it cannot be written."""
    if caption_file is None or session.capture.clock_origin is None:
        return caption_file
    # The recording's start in this session's capture time (each capture has its own clock).
    caption_file.origin = State.recording.started - session.capture.clock_origin
    try:
        caption_file.add(final)
    except OSError as exc:
        report(f"cannot write {caption_file.path}: {exc}; no more captions go to it")
        return None
    return caption_file


def show(text: str, name: str) -> bool:
    """Puts the text in the named Text source; False while the source does not exist (yet)."""
    source = obs.obs_get_source_by_name(name)
    if source is None:
        return False
    try:
        if name not in State.sized:
            State.sized.add(name)
            fit_font(source, name)
        data = obs.obs_data_create()
        obs.obs_data_set_string(data, "text", text)
        obs.obs_source_update(source, data)
        obs.obs_data_release(data)
        if State.settings.debug_log:
            current = obs.obs_source_get_settings(source)
            debug_log({"source": name, "text": obs.obs_data_get_string(current, "text")})
            obs.obs_data_release(current)
    finally:
        obs.obs_source_release(source)
    return True


def fit_font(source, name: str) -> None:
    """Sizes a Text source still at its default font so that the caption box fits the canvas."""
    current = obs.obs_source_get_settings(source)
    try:
        if obs.obs_data_has_user_value(current, "font"):
            return  # the user chose a font: theirs to size
        video = obs.obs_video_info()
        if not obs.obs_get_video_info(video):
            return
        settings = State.settings
        # A source showing the translation under the captions holds twice the lines.
        shared = name == settings.text_source and settings.translate_to and not translated_source_of(settings)
        lines = settings.lines * (2 if shared else 1)
        size = int(
            CANVAS_SHARE
            * min(
                video.base_width / (settings.chars_per_line * CHARACTER_EMS),
                video.base_height / (lines * LINE_HEIGHT_EMS),
            )
        )
        font = obs.obs_data_create()
        default = obs.obs_data_get_obj(current, "font")  # the source's default face and style
        if default is not None:
            for key in ("face", "style"):
                obs.obs_data_set_string(font, key, obs.obs_data_get_string(default, key))
            obs.obs_data_set_int(font, "flags", obs.obs_data_get_int(default, "flags"))
            obs.obs_data_release(default)
        obs.obs_data_set_int(font, "size", size)
        data = obs.obs_data_create()
        obs.obs_data_set_obj(data, "font", font)
        obs.obs_source_update(source, data)
        obs.obs_data_release(data)
        obs.obs_data_release(font)
    finally:
        obs.obs_data_release(current)
    report(
        f"set the font of '{name}' to {size} px so that {lines} lines of "
        f"{settings.chars_per_line} characters fit the {video.base_width}x{video.base_height} canvas"
    )


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
        State.recording = current_recording(started=time.monotonic())
        State.translated_srt_refused = None
        open_srt()
    elif event == obs.OBS_FRONTEND_EVENT_RECORDING_STOPPED:
        if State.srt is not None:
            report(f"wrote {State.srt.path} ({len(State.srt.cues())} cues)")
        close_translated_srt()
        State.recording = State.srt = None


def current_recording(started: float | None = None) -> Recording | None:
    """The recording OBS is making; its start from the frames it holds unless given."""
    path = obs.obs_frontend_get_last_recording()
    if not path:
        report("OBS records but gave no file name: no SRT")
        return None
    if started is None:
        output = obs.obs_frontend_get_recording_output()
        video = obs.obs_video_info()
        frames = obs.obs_output_get_total_frames(output) if output is not None else 0
        if output is not None:
            obs.obs_output_release(output)
        fps = video.fps_num / video.fps_den if obs.obs_get_video_info(video) and video.fps_den else 0
        started = time.monotonic() - (frames / fps if fps else 0.0)
    return Recording(pathlib.Path(path), started, time.time() - (time.monotonic() - started))


def open_srt() -> None:
    """Starts the SRT of the recording under way, or goes on with the one it already has (the
    script was reloaded, or SRTs turned off and on). Never writes over a file of the user's."""
    recording, settings = State.recording, State.settings
    if State.srt is not None or recording is None or settings is None or not settings.srt or State.live is None:
        return
    stem = recording.path.stem
    # "<recording>.srt", else "<recording> (2).srt", ...
    names = [recording.path.with_name(stem + (f" ({n})" if n > 1 else "") + ".srt") for n in range(1, 100)]
    since = recording.started_wall - SRT_OF_THIS_RECORDING_SECONDS
    for path in reversed([p for p in names if p.exists()]):
        try:
            if path.stat().st_mtime < since:
                break  # older than the recording: not ours
            State.srt = State.live.CaptionFile(path, append=True)
        except (OSError, ValueError):
            break
        report(f"appending captions to {path} ({len(State.srt.cues())} cues kept)")
        return
    for path in names:
        try:
            State.srt = State.live.CaptionFile(path)
        except FileExistsError:
            continue
        except OSError as exc:
            report(f"cannot write {path}: {exc}")
            return
        report(f"writing captions to {path}")
        return
    report(f"no free name for the captions of {recording.path}: no SRT")


def open_translated_srt() -> None:
    """Starts the translation's SRT beside the recording's (talk.es.srt beside talk.srt), or
    goes on with it after a settings change or a reload, as open_srt does. Called with the first
    translation that arrives, so a refused language leaves no empty file."""
    if State.srt is None or State.translation is None:
        return
    from sidecar_client.translating import translated_path  # importable once the venv is on the path

    path = translated_path(State.srt.path, State.translation.language)
    if path == State.translated_srt_refused:
        return
    since = State.recording.started_wall - SRT_OF_THIS_RECORDING_SECONDS
    try:
        if path.exists() and path.stat().st_mtime < since:
            raise FileExistsError(f"{path.name} is older than the recording, so not the script's to write")
        appending = path.exists()
        State.translated_srt = State.live.CaptionFile(path, append=appending)
    except (OSError, ValueError) as exc:
        State.translated_srt_refused = path
        report(f"no translated SRT: {exc}")
        return
    if appending:
        report(f"appending translated captions to {path} ({len(State.translated_srt.cues())} cues kept)")
    else:
        report(f"writing translated captions to {path}")


def close_translated_srt() -> None:
    if State.translated_srt is not None:
        report(f"wrote {State.translated_srt.path} ({len(State.translated_srt.cues())} cues)")
        State.translated_srt = None


def status_text() -> str:
    """What the properties show: the sidecar's and the input's state."""
    if State.settings is None or State.live is None:
        return State.problem or "the sidecar client is not importable: set 'Sidecar virtual environment'"
    lines = [State.problem] if State.problem else []
    if State.pending is not None:
        lines.append("applying the new settings...")
    session = State.session
    if session is not None:
        capture = session.capture
        if capture.error:
            captured = f"failed: {capture.error}"
        elif capture.ended:
            captured = "ended"
        elif capture.clock_origin is None:
            captured = "waiting for audio"
        else:
            captured = "capturing"
        lines.append(f"Sidecar at {State.settings.address}: {State.status or 'connecting'}")
        lines.append(f"Input {capture.spec if capture.device else pathlib.Path(capture.spec).name}: {captured}")
    if State.settings.translate_to:
        lines.append(translation_status())
    if State.downloads_note or State.downloads is not None:
        lines.append(downloads_status())
    for caption_file in (State.srt, State.translated_srt):
        if caption_file is not None:
            lines.append(f"Writing {caption_file.path.name}")
    return "\n".join(lines)


def translation_status() -> str:
    translation, language = State.translation, State.settings.translate_to
    if translation is not None and translation.error:
        return f"Translation into {language}: failed: {translation.error}"
    if State.translation_problem:
        return f"Translation into {language}: {State.translation_problem}"
    if translation is None:
        return f"Translation into {language}: waits for the captions"
    behind = f" ({translation.backlog} captions waiting)" if translation.backlog > 1 else ""
    return f"Translating into {language}{behind}"


def translation_failing() -> bool:
    if State.settings is None or not State.settings.translate_to:
        return False
    return bool(State.translation_problem or (State.translation is not None and State.translation.error))


def search_devices() -> None:
    """Lists the capture devices in a thread (a hung sound server must not stall OBS)."""
    if State.device_search is not None and State.device_search.is_alive():
        return
    from sidecar_client.capture import list_devices  # importable once the venv is on the path

    def search() -> None:
        State.devices = tuple(list_devices())

    State.device_search = threading.Thread(target=search, name="sidecar-captions-devices", daemon=True)
    State.device_search.start()


def refresh_clicked(props, prop) -> bool:
    show_downloads_status()
    if State.live is not None:
        search_devices()
        State.device_search.join(DEVICE_LIST_WAIT_SECONDS)
    return True  # OBS rebuilds the properties: the status and the devices as now


def download_clicked(props, prop) -> bool:
    """Starts downloading the models the settings name (those typed a moment ago included)."""
    settings = State.pending or State.settings
    if State.live is None or settings is None:
        return True  # the status says the client is not importable
    if State.downloads is not None and State.downloads.running:
        State.downloads_note = ""
        show_downloads_status()
        return True  # the one under way
    from sidecar_client.downloads import ModelDownloads  # importable once the venv is on the path

    names = [settings.model, settings.translation_model if settings.translate_to else ""]
    if not any(names):
        State.downloads, State.downloads_note = None, "Name a Caption model or a Translation model to download"
        show_downloads_status()
        return True
    connection = State.live.LiveOptions(
        address=settings.address, token_file=settings.token_file or None, tls_ca=settings.tls_ca or None
    ).connection()
    State.downloads_note = ""
    State.downloads = ModelDownloads(connection, names, accept_licenses=settings.accept_licenses).start()
    report(f"downloading {', '.join(State.downloads.names)} through the sidecar")
    show_downloads_status()
    return True


def downloads_status() -> str:
    if not State.downloads_note and State.downloads is None:
        return "none yet"
    return State.downloads_note or State.downloads.status


def show_downloads_status() -> None:
    if State.data is not None:
        obs.obs_data_set_string(State.data, "download_status", downloads_status())


def take_downloads() -> None:
    """Reports each model that came, and restarts what was waiting for it."""
    downloads, settings = State.downloads, State.settings
    if downloads is None or settings is None:
        return
    for name in downloads.take_downloaded():
        report(f"downloaded {name}")
        if name == settings.model and State.session is not None:
            restart_session()
        elif name == settings.translation_model and State.translation is not None:
            restart_translation()


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
    path = (State.settings or State.pending or DEFAULTS).debug_log
    if path:
        with open(os.path.expanduser(path), "a", encoding="utf-8") as f:
            f.write(json.dumps({"time": time.time(), **entry}) + "\n")

"""A small always-on-top Tk panel: the sidecar's address and status, the actions, their main
options, progress and Cancel.

Actions and the sidecar's status check run in worker threads (Audacity's pipe and gRPC
block); a worker only puts (kind, payload) events on a queue, which the Tk thread polls,
because Tk may be touched from its own thread only. Cancel cancels the gRPC call, which
stops the sidecar.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import queue
import sys
import threading
import tkinter as tk
from tkinter import filedialog, ttk

from sidecar_audacity import actions, creative, session
from sidecar_audacity.errors import PluginError
from sidecar_audacity.models_dialog import ModelsDialog
from sidecar_audacity.pipe import PIPE_DIR
from sidecar_client import DEFAULT_ADDRESS, Connection

POLL_MS = 100
STATUS_MS = 3000  # how often the panel checks that the sidecar answers
STATUS_READY_SECONDS = 1.0  # how long one check waits for it (in its own thread)
ADDRESS_SETTLE_MS = 400  # after the address is edited, before it is checked
TEXT_WIDTH = 500  # pixels a status line wraps at: the panel's width
STATUS_COLOURS = {None: "gray35", True: "dark green", False: "firebrick"}  # checking, connected, not
TITLE = "Audio sidecar"
BUTTONS = (
    ("Caption", "caption"),
    ("Caption with speakers", "caption-speakers"),
    ("Denoise", "denoise"),
    ("Split stems", "stems"),
    ("Say this", "say"),
    ("Fix phrase", "fix-phrase"),
    ("Generate cue", "cue"),
    ("Mark events", "events"),
)


class Panel:
    """The panel's widgets and the one action it may run at a time."""

    def __init__(
        self,
        root: tk.Tk,
        *,
        address: str | Connection = DEFAULT_ADDRESS,
        token: str | None = None,
        pipe_dir: str = PIPE_DIR,
    ) -> None:
        self.root, self.pipe_dir = root, pipe_dir
        # TLS and token settings stay; the address is the field's.
        self.connection = address if isinstance(address, Connection) else Connection(address, token)
        self.events: queue.Queue = queue.Queue()
        self.job: actions.Job | None = None
        self.outcome: actions.Outcome | None = None  # the last action's, for callers and tests
        self.reachable: tuple[str, bool] | None = None  # the last status check's (address, answered)
        self._checking = False  # a status check's thread is running
        self._next_check = None  # the Tk timer of the next one
        self.models_dialog: ModelsDialog | None = None
        root.title(TITLE)
        root.attributes("-topmost", True)
        root.resizable(False, False)
        frame = ttk.Frame(root, padding=8)
        frame.grid()
        rows = itertools.count()
        self.server = self._field(frame, next(rows), "Sidecar address", self.connection.address, width=24)
        self.sidecar_status = tk.StringVar()
        self.sidecar_label = ttk.Label(frame, textvariable=self.sidecar_status, wraplength=TEXT_WIDTH)
        self.sidecar_label.grid(row=next(rows), column=0, columnspan=2, sticky="w", pady=(0, 6))
        self.language = self._field(frame, next(rows), "Language (empty: detect)", "")
        self.model = self._field(frame, next(rows), "Whisper model (empty: default)", "")
        self.speakers = self._field(frame, next(rows), "Speakers (0: detect)", "0")
        self.attenuation = self._field(frame, next(rows), "Denoise limit, dB (0: none)", "0")
        self.text = self._field(frame, next(rows), "Text, correction or prompt", "", width=24)
        self.voice = self._field(frame, next(rows), "Voice id (empty: selection)", "")
        self.cue_seconds = self._field(frame, next(rows), "Cue at the cursor, s", f"{creative.DEFAULT_CUE_SECONDS:g}")
        # XTTS for Say and Fix phrase, MusicGen for Generate cue, AST/CLAP for Mark events
        self.creative_model = self._field(frame, next(rows), "Say, cue or events model (empty: default)", "")
        self.buttons = []
        for text, name in BUTTONS:
            button = ttk.Button(frame, text=text, command=lambda name=name: self.start(name))
            button.grid(row=next(rows), column=0, columnspan=2, sticky="ew", pady=1)
            self.buttons.append(button)
        export = ttk.Button(frame, text="Export subtitles...", command=self.ask_export)
        export.grid(row=next(rows), column=0, columnspan=2, sticky="ew", pady=1)
        self.buttons.append(export)
        models = ttk.Button(frame, text="Download models...", command=self.open_models)
        models.grid(row=next(rows), column=0, columnspan=2, sticky="ew", pady=1)
        self.progress = ttk.Progressbar(frame, length=260, maximum=1.0)
        self.progress.grid(row=next(rows), column=0, columnspan=2, pady=(8, 2))
        self.status = tk.StringVar(value="Select audio in Audacity (or nothing, for all of it).")
        ttk.Label(frame, textvariable=self.status, wraplength=TEXT_WIDTH).grid(row=next(rows), column=0, columnspan=2)
        self.cancel_button = ttk.Button(frame, text="Cancel", command=self.cancel, state="disabled")
        self.cancel_button.grid(row=next(rows), column=0, columnspan=2, pady=(4, 0))
        self.server.trace_add("write", lambda *_: self._schedule_check(ADDRESS_SETTLE_MS))
        self._schedule_check(0)
        root.after(POLL_MS, self._poll)

    @property
    def busy(self) -> bool:
        return self.job is not None

    def start(self, name: str) -> None:
        """Starts an action on the current selection in a worker thread."""
        if self.busy:
            return
        try:
            options = self.options_for(name)
            connection = self.sidecar_connection()
        except (ValueError, PluginError) as exc:
            self.status.set(str(exc))
            return
        # The status check found no sidecar there: fail at once rather than wait for it.
        known_down = self.reachable == (connection.address, False)
        ready_seconds = session.QUICK_READY_SECONDS if known_down else session.SIDECAR_READY_SECONDS
        self._run(
            lambda job: session.perform(
                name, options, job, address=connection, pipe_dir=self.pipe_dir, ready_seconds=ready_seconds
            )
        )

    def sidecar_connection(self) -> Connection:
        """The connection the next action and status check use: the address field's."""
        address = self.server.get().strip()
        if not address:
            raise PluginError("enter the sidecar's address (host:port) first")
        return dataclasses.replace(self.connection, address=address)

    def export(self, output: str) -> None:
        self._run(lambda job: session.export_subtitles(output, pipe_dir=self.pipe_dir))

    def ask_export(self) -> None:
        output = filedialog.asksaveasfilename(
            parent=self.root,
            title="Export caption labels",
            defaultextension=".srt",
            filetypes=[("SubRip", "*.srt"), ("WebVTT", "*.vtt")],
            confirmoverwrite=True,
        )
        if output:  # the dialog asked before replacing a file
            self._run(lambda job: session.export_subtitles(output, force=True, pipe_dir=self.pipe_dir))

    def open_models(self) -> ModelsDialog:
        if self.models_dialog is None or not self.models_dialog.exists:
            self.models_dialog = ModelsDialog(self)
        else:
            self.models_dialog.window.lift()
        return self.models_dialog

    def download_model(self, name: str, accept_license: bool) -> None:
        """Has the sidecar download a model of its catalogue, as the panel's action."""
        if self.busy:
            return
        try:
            connection = self.sidecar_connection()
        except PluginError as exc:
            self.status.set(str(exc))
            return
        self._run(lambda job: session.download_model(name, accept_license, job, address=connection))

    def cancel(self) -> None:
        if self.job is not None:
            self.status.set("Cancelling...")
            self.job.cancel()

    def options_for(self, name: str):
        if name == "denoise":
            options = actions.DenoiseOptions(attenuation_limit_db=float(self.attenuation.get() or 0))
            options.validate()
            return options
        if name == "stems":
            return actions.StemsOptions()
        text, language, model = self.text.get().strip(), self.language.get().strip(), self.creative_model.get().strip()
        if name == "say":
            return creative.SayOptions(text, language or "en", voice_id=self.voice.get().strip(), model=model)
        if name == "fix-phrase":
            return creative.FixPhraseOptions(
                text,
                language,
                model=model,
                transcription_model=self.model.get().strip(),
                speaker_count=int(self.speakers.get() or 0),
            )
        if name == "cue":
            return creative.CueOptions(text, float(self.cue_seconds.get() or creative.DEFAULT_CUE_SECONDS), model)
        if name == "events":
            return creative.EventOptions(model)
        return actions.CaptionOptions(
            model=self.model.get().strip(),
            language=self.language.get().strip(),
            speaker_count=int(self.speakers.get() or 0),
        )

    # --- the sidecar's status --------------------------------------------------------------

    def _schedule_check(self, delay_ms: int) -> None:
        if self._next_check is not None:
            self.root.after_cancel(self._next_check)
        self._next_check = self.root.after(delay_ms, self._check_sidecar)

    def _check_sidecar(self) -> None:
        """Starts a status check in a worker thread (one at a time) and schedules the next."""
        self._next_check = None
        try:
            connection = self.sidecar_connection()
        except PluginError as exc:
            self._show_sidecar(None, str(exc))
        else:
            if self.reachable is None or self.reachable[0] != connection.address:
                self._show_sidecar(None, f"Sidecar: checking {connection.address}...")
            if not self._checking:
                self._checking = True
                threading.Thread(target=self._probe, args=(connection,), name="sidecar-status", daemon=True).start()
        self._schedule_check(STATUS_MS)

    def _probe(self, connection: Connection) -> None:
        """(Worker thread.) Whether the sidecar answers its health check, as a "sidecar" event."""
        try:
            session.connect(connection, ready_seconds=STATUS_READY_SECONDS).close()
            answered = True
        except Exception:  # the thread's edge: whatever failed, the sidecar did not answer
            answered = False
        self.events.put(("sidecar", (connection.address, answered)))

    def _sidecar_checked(self, address: str, answered: bool) -> None:
        self._checking = False
        if address != self.server.get().strip():
            self._schedule_check(0)  # the address changed meanwhile: check the new one now
            return
        self.reachable = (address, answered)
        if answered:
            self._show_sidecar(True, f"Sidecar: connected ({address})")
        else:
            self._show_sidecar(False, f"Sidecar: not reachable at {address} — start it with `{session.START_HINT}`")

    def _show_sidecar(self, answered: bool | None, text: str) -> None:
        self.sidecar_status.set(text)
        self.sidecar_label.configure(foreground=STATUS_COLOURS[answered])

    # --- the worker and the Tk thread ------------------------------------------------------

    def _run(self, work) -> None:
        self.job = actions.Job(lambda fraction, stage: self.events.put(("progress", (fraction, stage))))
        self.outcome = None
        self._set_running(True)
        self.progress["value"] = 0.0  # nothing of the last action's result stays up meanwhile
        self.status.set("Reaching Audacity and the sidecar...")
        job = self.job

        def worker() -> None:
            try:
                self.events.put(("done", work(job)))
            except PluginError as exc:
                self.events.put(("failed", str(exc)))
            except Exception as exc:  # the thread's edge: any failure must reach the status line
                self.events.put(("failed", f"unexpected error: {exc!r}"))

        threading.Thread(target=worker, name="sidecar-audacity-action", daemon=True).start()

    def _poll(self) -> None:
        while True:
            try:
                kind, payload = self.events.get_nowait()
            except queue.Empty:
                break
            if kind == "sidecar":
                self._sidecar_checked(*payload)
            elif kind == "catalogue":
                if self.models_dialog is not None:
                    self.models_dialog.show(payload)
            elif kind == "progress":
                fraction, stage = payload
                self.progress["value"] = fraction
                if not self.job.cancelled:
                    self.status.set(stage[:1].upper() + stage[1:] + "...")
            else:
                self.outcome = payload if kind == "done" else None
                self.status.set(payload.summary if kind == "done" else payload)
                self.progress["value"] = 1.0 if kind == "done" else 0.0
                self.job = None
                self._set_running(False)
                if self.models_dialog is not None and self.models_dialog.exists:
                    self.models_dialog.finished()
        self.root.after(POLL_MS, self._poll)

    def _set_running(self, running: bool) -> None:
        for button in self.buttons:
            button["state"] = "disabled" if running else "normal"
        self.cancel_button["state"] = "normal" if running else "disabled"
        if self.models_dialog is not None and self.models_dialog.exists:
            self.models_dialog.enable_download()

    @staticmethod
    def _field(frame: ttk.Frame, row: int, text: str, value: str, width: int = 10) -> tk.StringVar:
        variable = tk.StringVar(value=value)
        ttk.Label(frame, text=text).grid(row=row, column=0, sticky="w")
        ttk.Entry(frame, textvariable=variable, width=width).grid(row=row, column=1, sticky="e")
        return variable


def run_panel(
    address: str | Connection = DEFAULT_ADDRESS, *, token: str | None = None, pipe_dir: str = PIPE_DIR
) -> int:
    if os.name == "posix" and not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        print("sidecar-audacity panel: no display (DISPLAY is not set)", file=sys.stderr)
        return 2
    root = tk.Tk()
    Panel(root, address=address, token=token, pipe_dir=pipe_dir)
    root.mainloop()
    return 0

"""The panel's "Download models..." window: the sidecar's catalogue, and a download of one.

The catalogue comes from the sidecar in a worker thread; the download runs as the panel's
action, so it shows on the panel's progress bar and status line and Cancel stops it. A
model whose licence must be accepted (XTTS v2: the CPML) asks first.
"""

from __future__ import annotations

import threading
import tkinter as tk
from tkinter import messagebox, ttk

from sidecar_audacity import session
from sidecar_audacity.errors import PluginError

COLUMNS = (("name", "Model", 170), ("family", "Family", 100), ("size", "About", 60), ("license", "Licence", 150))
DOWNLOADED = "downloaded"  # the tag of rows the sidecar has


class ModelsDialog:
    def __init__(self, panel) -> None:
        self.panel = panel
        self.window = tk.Toplevel(panel.root)
        self.window.title("Sidecar models")
        self.window.attributes("-topmost", True)
        frame = ttk.Frame(self.window, padding=8)
        frame.grid()
        self.table = ttk.Treeview(
            frame, columns=[c[0] for c in COLUMNS], show="headings", height=12, selectmode="browse"
        )
        for key, title, width in COLUMNS:
            self.table.heading(key, text=title)
            self.table.column(key, width=width, anchor="w")
        self.table.tag_configure(DOWNLOADED, foreground="dark green")
        self.table.grid(row=0, column=0, columnspan=2)
        scrollbar = ttk.Scrollbar(frame, orient="vertical", command=self.table.yview)
        scrollbar.grid(row=0, column=2, sticky="ns")
        self.table.configure(yscrollcommand=scrollbar.set)
        self.note = tk.StringVar(value="Asking the sidecar for its models...")
        ttk.Label(frame, textvariable=self.note, wraplength=470).grid(row=1, column=0, columnspan=2, sticky="w")
        self.download_button = ttk.Button(frame, text="Download", command=self.download, state="disabled")
        self.download_button.grid(row=2, column=0, sticky="w", pady=(6, 0))
        ttk.Button(frame, text="Close", command=self.window.destroy).grid(row=2, column=1, sticky="e", pady=(6, 0))
        self.table.bind("<<TreeviewSelect>>", lambda _: self.enable_download())
        self.table.bind("<Double-1>", lambda _: self.download())
        self.models: dict[str, object] = {}
        self._beside(panel.root)
        self.refresh()

    def refresh(self) -> None:
        """Fetches the catalogue in a worker thread; the panel hands it to show()."""
        try:
            connection = self.panel.sidecar_connection()
        except PluginError as exc:
            self.note.set(str(exc))
            return

        def fetch() -> None:
            try:
                self.panel.events.put(("catalogue", session.downloadable_models(connection)))
            except PluginError as exc:
                self.panel.events.put(("catalogue", str(exc)))

        threading.Thread(target=fetch, name="sidecar-models", daemon=True).start()

    def show(self, catalogue) -> None:
        """(Tk thread.) The rows, or why there are none."""
        if not self.exists:
            return
        if isinstance(catalogue, str):
            self.note.set(catalogue)
            return
        chosen = self.table.selection()
        self.table.delete(*self.table.get_children())
        self.models = {m.name: m for m in catalogue}
        for m in catalogue:
            tags = (DOWNLOADED,) if m.downloaded else ()
            licence = m.license + (" (accept first)" if m.license_to_accept else "")
            self.table.insert(
                "", "end", iid=m.name, values=(m.name, m.family, m.approximate_size or "?", licence), tags=tags
            )
        if chosen and chosen[0] in self.models:  # the row chosen before stays chosen, in view
            self.table.selection_set(chosen[0])
            self.table.see(chosen[0])
        have = sum(m.downloaded for m in catalogue)
        self.note.set(f"{len(catalogue)} models; the sidecar has {have} (in green). Choose one to download.")
        self.enable_download()

    def download(self) -> None:
        chosen = self.chosen
        if chosen is None or self.panel.busy:
            return
        accept = False
        if chosen.license_to_accept:
            accept = messagebox.askyesno(
                "Licence",
                f"{chosen.name} is under the {chosen.license} licence:\n{chosen.license_to_accept}\n\n"
                "Download it only if you accept that licence. Do you?",
                parent=self.window,
            )
            if not accept:
                self.note.set(f"{chosen.name} was not downloaded: its licence was not accepted.")
                return
        self.note.set(f"Downloading {chosen.name}: its progress and Cancel are on the panel.")
        self.panel.download_model(chosen.name, accept)

    def finished(self) -> None:
        """(Tk thread.) After a download: the rows again, with what the sidecar has now."""
        if self.exists:
            self.refresh()

    @property
    def chosen(self):
        selected = self.table.selection()
        return self.models.get(selected[0]) if selected else None

    @property
    def exists(self) -> bool:
        return bool(self.window.winfo_exists())

    def _beside(self, root: tk.Tk) -> None:
        """To the right of the panel, whose progress bar and Cancel it uses, within the screen."""
        self.window.update_idletasks()
        width = self.window.winfo_reqwidth()
        x = min(root.winfo_rootx() + root.winfo_width() + 8, root.winfo_screenwidth() - width)
        self.window.geometry(f"+{max(x, 0)}+{root.winfo_rooty()}")
        self.window.lift()  # over the panel where the screen is too narrow for both

    def enable_download(self) -> None:
        self.download_button["state"] = "normal" if self.chosen is not None and not self.panel.busy else "disabled"

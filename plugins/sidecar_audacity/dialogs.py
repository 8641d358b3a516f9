"""Whether a dialog is open in Audacity: every action asks before it changes anything.

Audacity keeps answering its scripting pipe while a dialog the user opened is up
(Preferences, the save prompt, an effect's settings), and a command sent then runs behind
it. What Audacity 3.2 shows of its dialogs (tests/test_audacity.py keeps this true):
- GetInfo: Type=Boxes lists the project window's child windows at depth 1: the window's own
  parts, a wx dialog such as "Preferences: Devices", but also modeless windows (the Welcome
  dialog, the progress window of the GetInfo command itself); it leaves out GTK's native
  message boxes (the "Save changes to ...?" prompt) and says nothing of which window is modal.
- On X11, GTK marks each modal window _NET_WM_STATE_MODAL, the save prompt included. Where
  Audacity's X display can be read (Linux) that decides; elsewhere Boxes does.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from sidecar_audacity import x11
from sidecar_audacity.errors import AudacityDialogError
from sidecar_audacity.pipe import audacity_pids

WINDOW_PARTS = frozenset({"MenuBar", "Panel", "splitter", "status_line", "ToolDock"})
# Windows that leave the project usable; "Get Info" is the progress window of our own GetInfo.
MODELESS = frozenset({"Welcome to Audacity!", "Get Info"})


def check_no_dialog(boxes: Callable[[], list[dict]]) -> None:
    """Raises AudacityDialogError, naming the dialog, while one is open in Audacity.
    `boxes` asks Audacity for GetInfo: Type=Boxes (only where X11 cannot tell)."""
    title = open_dialog(boxes)
    if title is not None:
        raise AudacityDialogError(
            f"a dialog is open in Audacity ({title}): close it and run the action again (nothing was changed)"
        )


def open_dialog(boxes: Callable[[], list[dict]]) -> str | None:
    """The title of a dialog open in Audacity, or None."""
    titles = x11.modal_windows(audacity_display())
    if titles is None:
        titles = listed_dialogs(boxes())
    return titles[0] if titles else None


def listed_dialogs(boxes: list[dict]) -> list[str]:
    """The titles of the windows in a GetInfo: Type=Boxes reply that may be dialogs: all of
    the project window's children but its own parts, known modeless windows and floating toolbars."""
    titles = (str(box.get("label", "")) for box in boxes if box.get("depth") == 1)
    return [t for t in titles if t not in WINDOW_PARTS and t not in MODELESS and not t.endswith(" Toolbar")]


def audacity_display() -> str | None:
    """The X display Audacity runs on: the DISPLAY it was started with (Linux), else ours."""
    for pid in audacity_pids() or ():
        display = x11.display_of(pid)
        if display:
            return display
    return os.environ.get("DISPLAY")

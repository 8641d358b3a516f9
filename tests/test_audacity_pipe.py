"""The pipe protocol's awkward cases, over real FIFOs served the way Audacity serves them.

tests/test_audacity.py drives a real Audacity; these pin down what it does only sometimes:
the bare-newline answer before its window exists, a reply that comes after its command timed
out, and FIFOs re-created after a client leaves. The server side is a thread that follows
mod-script-pipe's Linux loop (mkfifo both, open `to` for reading, `from` for writing, one
reply per line).
"""

from __future__ import annotations

import os
import threading
import time

import pytest

from sidecar_audacity import dialogs, x11
from sidecar_audacity.audacity import Label, Track, nyquist_labels, resolve_selection
from sidecar_audacity.errors import AudacityStalledError, AudacityUnreachableError, EmptySelectionError
from sidecar_audacity.pipe import PipeConnection, pipe_paths

OK = "BatchCommand finished: OK\n\n"


class ScriptServer(threading.Thread):
    """Serves clients one after another; `answer(line)` returns (delay_seconds, reply)."""

    def __init__(self, directory: str, answer) -> None:
        super().__init__(daemon=True)
        self.to_path, self.from_path = pipe_paths(directory)
        self.answer = answer
        self.clients = 0
        self._create()

    def _create(self) -> None:
        for path in (self.to_path, self.from_path):
            if os.path.exists(path):
                os.unlink(path)
            os.mkfifo(path)

    def run(self) -> None:
        while self.clients < 2:
            with open(self.to_path, "rb", buffering=0) as commands, open(self.from_path, "wb", buffering=0) as replies:
                self.clients += 1
                for line in iter(commands.readline, b""):
                    delay, reply = self.answer(line.decode().strip())
                    time.sleep(delay)
                    replies.write(reply.encode())
            self._create()  # as Audacity does after a client leaves


def test_bare_newline_before_the_window_exists_is_retried(tmp_path):
    answers = iter([(0, "\n"), (0, "\n")])

    def answer(line):
        return next(answers, (0, f"echo {line}\n{OK}"))

    ScriptServer(str(tmp_path), answer).start()
    with PipeConnection(str(tmp_path), connect_timeout=5) as pipe:
        assert pipe.command("GetInfo: Type=Tracks") == "echo GetInfo: Type=Tracks\n"


def test_a_late_reply_is_discarded_not_taken_for_the_next_one(tmp_path):
    def answer(line):
        return (0.8 if line.startswith("Slow") else 0), f"reply to {line}\n{OK}"

    ScriptServer(str(tmp_path), answer).start()
    with PipeConnection(str(tmp_path), connect_timeout=5) as pipe:
        with pytest.raises(AudacityStalledError, match="did not answer Slow"):
            pipe.command("Slow:", timeout=0.3)
        assert pipe.command("Fast:") == "reply to Fast:\n"


def test_reconnects_to_the_fifos_audacity_re_creates(tmp_path):
    server = ScriptServer(str(tmp_path), lambda line: (0, f"{line}\n{OK}"))
    server.start()
    pipe = PipeConnection(str(tmp_path), connect_timeout=5)
    assert pipe.command("First:") == "First:\n"
    pipe.close()
    assert pipe.command("Second:") == "Second:\n"  # on the new FIFOs, not the deleted ones
    assert server.clients == 2
    pipe.close()


def test_a_second_plugin_client_is_refused_while_one_holds_the_pipe(tmp_path):
    ScriptServer(str(tmp_path), lambda line: (0, OK)).start()
    with PipeConnection(str(tmp_path), connect_timeout=5):
        with pytest.raises(AudacityUnreachableError, match="another sidecar-audacity client"):
            PipeConnection(str(tmp_path), connect_timeout=1).connect()


def test_labels_survive_nyquist_quoting():
    text = nyquist_labels([Label(2.5, 3.0, 'He said "hi" \\ then\nleft')], origin=2.0)
    assert text == '((0.500000 1.000000 "He said \\"hi\\" \\\\ then left"))\n'


def test_selection_falls_back_to_the_whole_project():
    tracks = [
        Track(0, "a", "wave", False, 1.0, 5.0, 1),
        Track(1, "b", "wave", True, 0.5, 3.0, 2),
        Track(2, "Labels", "label", True),
    ]
    chosen = resolve_selection(tracks, 2.0, 2.0, (1,))  # a cursor
    assert (chosen.start, chosen.end, chosen.whole_project) == (0.5, 5.0, True)
    assert [t.name for t in chosen.tracks] == ["a", "b"]
    ranged = resolve_selection(tracks, 2.0, 4.0, (1, 2))
    assert (ranged.start, ranged.end, [t.name for t in ranged.tracks]) == (2.0, 4.0, ["b"])
    with pytest.raises(EmptySelectionError, match="holds no audio"):
        resolve_selection(tracks, 3.5, 4.0, (1,))
    with pytest.raises(EmptySelectionError, match="no audio tracks"):
        resolve_selection(tracks[2:], 0.0, 1.0, (2,))


def test_boxes_name_the_dialogs_but_not_the_windows_own_parts_or_modeless_windows():
    """As GetInfo: Type=Boxes answers in Audacity 3.2 with Preferences open (abridged)."""
    boxes = [
        {"depth": 0, "name": "Audacity Window"},
        *({"depth": 1, "label": label} for label in ("MenuBar", "Panel", "splitter", "status_line", "ToolDock")),
        {"depth": 2, "label": "Audacity Transport Toolbar"},
        {"depth": 1, "label": "Welcome to Audacity!"},
        {"depth": 1, "label": "Preferences: Devices"},
        {"depth": 2, "label": "&Cancel"},
        {"depth": 1, "label": "Get Info"},  # the progress window of that GetInfo itself
        {"depth": 1, "label": "Audacity Play-at-Speed Toolbar"},  # a floating toolbar
    ]
    assert dialogs.listed_dialogs(boxes) == ["Preferences: Devices"]
    assert dialogs.listed_dialogs(boxes[:6]) == []


def test_x11_says_it_cannot_tell_where_there_is_no_display():
    assert x11.modal_windows(None) is None
    assert x11.modal_windows(":4095") is None  # no X server there

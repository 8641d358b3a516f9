"""Typed Audacity operations over the scripting pipe: tracks, the selection, export, import, labels.

Each method is a few scripting commands whose behaviour in Audacity 3.2 was checked by hand
(see tests/test_audacity_bridge.py for the checks that keep them honest). Times are seconds
of project time.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Iterable, Sequence

from sidecar_audacity import dialogs
from sidecar_audacity.errors import AudacityCommandError, EmptySelectionError
from sidecar_audacity.pipe import PipeConnection

FILE_TIMEOUT_SECONDS = 120.0  # import and export of long selections
SECONDS_PER_MIB = 0.5  # extra patience per MiB a file command moves
_LONE_BACKSLASH = re.compile(r'\\(?!")')  # GetInfo's JSON escapes quotes but not backslashes


@dataclasses.dataclass(frozen=True)
class Track:
    index: int  # position in the project, from 0 (a stereo track counts once)
    name: str
    kind: str  # "wave", "label", "time" or "note"
    selected: bool
    start: float = 0.0  # wave tracks only: first and last sample time
    end: float = 0.0
    channels: int = 0  # wave tracks only


@dataclasses.dataclass(frozen=True)
class Label:
    start: float
    end: float
    text: str


@dataclasses.dataclass(frozen=True)
class Selection:
    """What an action works on: a time range and the wave tracks in it."""

    start: float
    end: float
    tracks: tuple[Track, ...]
    whole_project: bool  # no audio was selected, so the action takes the whole project's (which may be none)
    user_range: tuple[float, float]  # the user's own selection, to put back afterwards
    user_tracks: tuple[int, ...]
    track_count: int = 0  # how many tracks the project had: the action adds those from this index on

    @property
    def duration(self) -> float:
        return self.end - self.start


class Audacity:
    """Audacity as a project: use as a context manager, or call close()."""

    def __init__(self, pipe: PipeConnection | None = None) -> None:
        self.pipe = pipe or PipeConnection()

    def __enter__(self) -> Audacity:
        self.pipe.connect()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.pipe.close()

    def command(self, name: str, *, timeout: float | None = None, **params) -> str:
        """Runs `Name: Key=value ...`; strings are quoted, numbers written to the microsecond."""
        parts = [f"{name}:"] + [f"{key}={_value(value)}" for key, value in params.items()]
        return self.pipe.command(" ".join(parts), timeout)

    def get_info(self, kind: str):
        text = self.command("GetInfo", Type=kind, Format="JSON")
        return json.loads(
            _LONE_BACKSLASH.sub(r"\\\\", text), strict=False
        )  # a Boxes label may hold a raw control character

    def tracks(self) -> list[Track]:
        return [
            Track(
                index=i,
                name=t["name"],
                kind=t["kind"],
                selected=bool(t.get("selected")),
                start=float(t.get("start", 0.0)),
                end=float(t.get("end", 0.0)),
                channels=int(t.get("channels", 0)),
            )
            for i, t in enumerate(self.get_info("Tracks"))
        ]

    def labels(self) -> dict[int, list[Label]]:
        """Labels by the index of their label track."""
        return {
            index: [Label(float(start), float(end), text) for start, end, text in rows]
            for index, rows in self.get_info("Labels")
        }

    # --- the selection ---------------------------------------------------------------------

    def selection(self, *, restore: bool = True, needs_audio: bool = True) -> Selection:
        """The selected time range and wave tracks, or the whole project when nothing is selected
        (see resolve_selection for `needs_audio`).

        Audacity's scripting has no command that reports the time selection, so this adds a
        label at the selection in a new label track, reads it back and undoes both steps
        (each records an undo step; the plugin's own edits end with one, see
        record_undo_step). Undo also brings back an older selection: `restore` puts the
        user's back (actions that select for themselves call restore() when done instead).
        While a dialog is open in Audacity it raises AudacityDialogError instead: Audacity
        would make these edits, and the action's, behind the dialog.
        """
        dialogs.check_no_dialog(lambda: self.get_info("Boxes"))
        tracks = self.tracks()
        self.command("NewLabelTrack")
        self.command("AddLabel")
        probe = self.labels().get(len(tracks), [])
        self.command("Undo")
        self.command("Undo")
        if len(probe) != 1:
            raise AudacityCommandError("could not read the selection back from Audacity")
        start, end = probe[0].start, probe[0].end
        chosen = tuple(t.index for t in tracks if t.selected)
        if restore:
            self.select(start, end, chosen)
        return resolve_selection(tracks, start, end, chosen, needs_audio=needs_audio)

    def select(self, start: float, end: float, track_indices: Iterable[int]) -> None:
        """Selects a time range on exactly these tracks."""
        runs = _runs(sorted(set(track_indices)))
        if not runs:
            self.command("SelectNone")  # (a TrackCount far past the last track opens an error dialog)
            self.command("SelectTime", Start=start, End=end)
            return
        first, count = runs[0]
        self.command("Select", Start=start, End=end, Track=first, TrackCount=count, Mode="Set")
        for first, count in runs[1:]:
            self.command("SelectTracks", Track=first, TrackCount=count, Mode="Add")

    def restore(self, selection: Selection) -> None:
        """Puts back the selection the user had before an action and scrolls to the tracks the
        action added."""
        self.select(*selection.user_range, selection.user_tracks)
        self.show_tracks_from(selection.track_count)

    # --- audio in and out ------------------------------------------------------------------

    def export(self, path: str, start: float, end: float, tracks: Sequence[int], channels: int) -> None:
        """Writes the range of these tracks, mixed to `channels`, to a new WAV file."""
        self.select(start, end, tracks)
        self.command(
            "Export2", Filename=path, NumChannels=channels, timeout=_file_timeout((end - start) * 44100 * 2 * channels)
        )

    def import_audio(self, path: str, at: float) -> Track:
        """Imports a file as a new track, named after the file, whose audio starts at `at`.

        Only commands that record an undo step are used (Import2 names the track after the
        file; Align_StartToSelStart moves it): SetTrack and SetClip change the project without
        one, so a later undo, or a redo, would quietly bring back an older name or place.
        """
        before = len(self.tracks())
        self.command("Import2", Filename=path, timeout=_file_timeout(os.path.getsize(path)))
        added = self.tracks()[before:]
        if len(added) != 1:
            raise AudacityCommandError(f"importing {os.path.basename(path)} added {len(added)} tracks, not 1")
        track = added[0]
        if at != track.start:
            self.select(at, at, [track.index])
            self.command("Align_StartToSelStart")
        return dataclasses.replace(track, start=at, end=track.end - track.start + at)

    def add_label_track(self, name: str, labels: Sequence[Label], anchor: Selection, workdir: str) -> Track:
        """A new label track called `name` (or "name 2", ... when a track has that name)
        holding these labels (times in project time).

        One Nyquist Prompt run adds them all: a Nyquist effect that returns a list of
        (start end "text") adds a label track, times counted from the selection's start.
        (AddLabel and SetLabel would cost two round trips per label.) Neither that nor the
        renaming records an undo step: call record_undo_step() once the tracks are in.
        """
        if not labels:
            raise ValueError("a label track needs at least one label")
        tracks = self.tracks()
        index = len(tracks)
        name = unique_name(name, {t.name for t in tracks})
        script = os.path.join(workdir, f"labels-{index}.lsp")
        with open(script, "w", encoding="utf-8") as f:
            f.write(nyquist_labels(labels, anchor.start))
        self.select(anchor.start, anchor.end, [anchor.tracks[0].index])  # the effect runs once per track
        self.command(
            "NyquistPrompt",
            Command=f'(read (open "{script}"))',
            Version=4,
            timeout=_file_timeout(os.path.getsize(script)),
        )
        added = self.tracks()[index:]
        if [t.kind for t in added] != ["label"]:
            raise AudacityCommandError(f"Audacity did not add the label track '{name}'")
        self.command("SelectTracks", Track=index, TrackCount=1, Mode="Set")
        self.command("SetTrack", Name=name)
        return dataclasses.replace(added[0], name=name)

    def show_tracks_from(self, first: int) -> None:
        """Scrolls the project to its tracks from index `first` on and focuses that track.

        New tracks land at the bottom: Import2 and Nyquist's labels add them there, and moving
        a track up records an undo step per place it moves (Audacity 3.2), which would split
        an action's one undo step. Moving the focus scrolls, and records nothing."""
        count = len(self.tracks()) - first
        if count > 0:
            self.command("LastTrack")
            for _ in range(count - 1):
                self.command("PrevTrack")

    def record_undo_step(self, track: Track) -> None:
        """Makes the project as it is now one undo step, after adding the label track `track`.

        Scripted edits such as SetTrack, SetClip and Nyquist Prompt's labels change the project
        without an undo step: a later undo (ours in selection() included) would silently drop
        them, and a redo would bring back an older state. SetLabel records one ("Label" in the
        Edit menu) holding everything before it, so setting the track's first label to the
        text it has makes the whole action one step (Audacity 3.2).
        """
        labels = self.labels()
        first = sum(len(rows) for index, rows in labels.items() if index < track.index)
        self.command("SetLabel", Label=first, Text=labels[track.index][0].text)


def unique_name(name: str, taken: set[str]) -> str:
    """`name`, or the first of "name 2", "name 3", ... that no track has: each run of an
    action adds a track of its own, and exports can tell them apart."""
    number = 1
    candidate = name
    while candidate in taken:
        number += 1
        candidate = f"{name} {number}"
    return candidate


def nyquist_labels(labels: Sequence[Label], origin: float) -> str:
    """A Lisp list of (start end "text") with times from `origin`, as Nyquist's `read` takes it."""
    rows = []
    for label in labels:
        rows.append(f"({label.start - origin:.6f} {label.end - origin:.6f} {_quoted(label.text)})")
    return "(" + "\n".join(rows) + ")\n"


def resolve_selection(
    tracks: Sequence[Track], start: float, end: float, selected: Sequence[int], *, needs_audio: bool = True
) -> Selection:
    """The action's range: the selection, or the whole project when no audio is selected.

    Actions that only add audio at the cursor (needs_audio=False) also work where there is no
    audio to read (an empty project, only label tracks, a range with no audio in it): they get
    a whole-project selection, holding no tracks when the project has no audio (its range is
    then the user's).
    """
    waves = [t for t in tracks if t.kind == "wave"]
    chosen = [t for t in waves if t.index in selected]
    as_found = ((start, end), tuple(selected), len(tracks))  # the user's selection and the project's size
    if end - start > 0 and chosen:
        if any(t.start < end and t.end > start for t in chosen):
            return Selection(start, end, tuple(chosen), False, *as_found)
        if needs_audio:
            raise EmptySelectionError(f"the selection ({start:.2f}-{end:.2f} s) holds no audio of the selected tracks")
    first, last = min((t.start for t in waves), default=0.0), max((t.end for t in waves), default=0.0)
    if last - first > 0:
        return Selection(first, last, tuple(waves), True, *as_found)
    if not needs_audio:
        return Selection(start, end, (), True, *as_found)
    if not waves:
        raise EmptySelectionError("the project has no audio tracks: import or record some audio first")
    raise EmptySelectionError("the project's audio tracks are empty")


def _runs(indices: Sequence[int]) -> list[tuple[int, int]]:
    """Consecutive indices as (first, count) runs: [0, 1, 3] -> [(0, 2), (3, 1)]."""
    runs: list[tuple[int, int]] = []
    for i in indices:
        if runs and runs[-1][0] + runs[-1][1] == i:
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
        else:
            runs.append((i, 1))
    return runs


def _value(value) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.6f}"
    return _quoted(str(value))


def _quoted(text: str) -> str:
    """One line in double quotes, escaped as both Audacity's command parser and Lisp read it."""
    return '"' + " ".join(text.split()).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _file_timeout(size_bytes: float) -> float:
    return FILE_TIMEOUT_SECONDS + SECONDS_PER_MIB * size_bytes / (1 << 20)

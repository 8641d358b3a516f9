"""Output files: complete or absent, never over a file by accident, with the umask's permissions,
and committed without hard links."""

from __future__ import annotations

import os
import pathlib
import stat
import subprocess
import sys

import numpy as np
import pytest

from sidecar.media import writers
from sidecar_client import live
from sidecar_common import outputs

ROOT = pathlib.Path(__file__).resolve().parents[1]


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture()
def umask_022():
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_new_and_replaced_files_get_the_umask_permissions(tmp_path, umask_022):
    target = tmp_path / "captions.srt"
    outputs.write_text(target, "one", overwrite=False)
    assert mode(target) == 0o644 and target.read_text() == "one"
    target.chmod(0o644)
    outputs.write_text(target, "two", overwrite=True)
    assert mode(target) == 0o644 and target.read_text() == "two"  # not 0600, as mkstemp makes


def test_the_umask_in_force_when_writing_counts(tmp_path):
    """Issue 17: the umask was read once, at import, so a program that set it later (a host such
    as OBS, a service) got other permissions than its other new files."""
    previous = os.umask(0o027)
    try:
        captions = outputs.write_text(tmp_path / "captions.srt", "one", overwrite=False)
        staged = outputs.staging_path(tmp_path / "clip.mp4")  # what ffmpeg and the writers fill
    finally:
        os.umask(previous)
    assert mode(captions) == 0o640 and mode(staged) == 0o640
    assert staged.name.startswith(".clip.") and staged.name.endswith(".partial.mp4")


def test_a_file_that_appears_during_the_job_is_kept(tmp_path):
    target = tmp_path / "out.srt"
    staged = outputs.staging_path(target)
    staged.write_text("ours")
    target.write_text("the user's")  # appeared while the job ran
    with pytest.raises(outputs.OutputExistsError, match="appeared while the job ran"):
        outputs.commit(staged, target, overwrite=False)
    assert target.read_text() == "the user's"
    assert not staged.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["out.srt"]


def test_commit_needs_no_hard_links(tmp_path, monkeypatch):
    """exFAT and some SMB mounts have no hard links: the commit must not use them."""

    def no_links(*args, **kwargs):
        raise PermissionError(1, "Operation not permitted (no hard links here)")

    monkeypatch.setattr(os, "link", no_links)
    target = tmp_path / "out.wav"
    writers.write_audio(target, np.zeros((1, 1600), np.float32), 16000)
    assert target.stat().st_size > 44


def test_stems_are_all_or_none(tmp_path):
    paths = [tmp_path / f"{stem}.wav" for stem in ("drums", "bass", "vocals")]
    opened = [writers.AudioWriter(p, 16000, 1) for p in paths]
    for writer in opened:
        writer.write(np.zeros((1, 160), np.float32))
    paths[1].write_bytes(b"the user's bass")  # appeared during the job
    with pytest.raises(outputs.OutputExistsError):
        writers.commit_together(opened)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bass.wav"]
    assert paths[1].read_bytes() == b"the user's bass"


def test_a_live_caption_file_never_replaces_one(tmp_path):
    existing = tmp_path / "recording.srt"
    existing.write_text("the user's subtitles")
    with pytest.raises(FileExistsError):
        live.CaptionFile(existing)
    assert existing.read_text() == "the user's subtitles"
    live.CaptionFile(existing, overwrite=True)  # `sidecar live --force`
    assert existing.read_text() == ""


def test_obs_names_the_srt_beside_a_recording_that_has_one(tmp_path):
    """The OBS script's choice of name, run on its own: "<recording>.srt", else "(2)", ..."""
    code = """
import pathlib, sys, types
sys.modules["obspython"] = types.ModuleType("obspython")
sys.path.insert(0, "plugins/obs")
import time
import sidecar_captions as script
from sidecar_client import live
recording = pathlib.Path(sys.argv[1])
script.State.live, script.State.settings = live, script.Settings()
script.State.recording = script.Recording(recording, time.monotonic(), time.time())
script.report = lambda message: print(message)
script.open_srt()
print(script.State.srt.path.name)
"""
    recording = tmp_path / "show.mkv"
    (tmp_path / "show.srt").write_text("kept")
    done = subprocess.run(
        [sys.executable, "-c", code, str(recording)], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "show (2).srt"
    assert (tmp_path / "show.srt").read_text() == "kept"

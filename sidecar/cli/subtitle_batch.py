"""`sidecar subtitle` on several inputs: files and folders of media, one sidecar, one progress bar.

A batch goes on past a file that fails (it says why) and exits 1 at the end if any did. It can
be run again after an interruption: an input whose outputs all exist (the subtitles, their
translations, the muxed copy) is skipped unless --force, and one with some of them gets the rest,
the others left as they are. With several inputs, `-o` names a folder for the outputs (made if missing); without
it each output goes beside its input. With --ray, each file is a Ray task on a cluster (subtitle_ray).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import pathlib
import sys
import threading
from collections.abc import Callable, Iterator

from sidecar.cli.files import UsageError, kept_outputs, require_input
from sidecar.cli.muxing import mux_path
from sidecar.cli.progress import ProgressBar
from sidecar.cli.subtitle_formats import default_output, suffix_of
from sidecar.runtime import threads

# What a folder's files are taken for: media FFmpeg reads (other files there are left alone).
MEDIA_SUFFIXES = frozenset(
    ".aac .aif .aiff .amr .avi .flac .flv .m2ts .m4a .m4b .m4v .mka .mkv .mov .mp2 .mp3 .mp4 .mpeg .mpg "
    ".mts .oga .ogg .ogv .opus .ts .wav .weba .webm .wma .wmv".split()
)

# Files in flight at once. Past what a sidecar runs and queues (1 and 8 by default), a file is
# refused RESOURCE_EXHAUSTED and its client tries again after the delay the server asks for.
MAX_JOBS = 16

RunOne = Callable[[argparse.Namespace, "FileShare | None"], int]
OutputsOf = Callable[[argparse.Namespace, pathlib.Path], list[pathlib.Path]]


def run(args: argparse.Namespace, run_one: RunOne, outputs_of: OutputsOf) -> int:
    """One file as `sidecar subtitle` always ran; several one after another, or --jobs at once."""
    if not 1 <= args.jobs <= MAX_JOBS:
        raise UsageError(f"--jobs {args.jobs}: give 1 to {MAX_JOBS} files at once")
    if args.ray and not args.server:
        raise UsageError("--ray needs --server: the address of the cluster's Serve proxy, which every node reaches")
    if len(args.inputs) == 1 and not args.inputs[0].is_dir() and not args.ray:
        args.input = args.inputs[0]
        return run_one(args, None)
    planned = plan(args)
    args.priority = args.priority or "batch"  # a folder lets an editor's actions go first
    skipped, pending = [], []
    files = f"{len(planned)} file" + ("s" if len(planned) != 1 else "")
    bar = ProgressBar(files, enabled=False if args.quiet else None)
    progress = BatchProgress(bar, len(planned))
    for n, (source, output) in enumerate(planned):
        one = copy.copy(args)
        one.input, one.output = source, output
        one.keep, done = kept_outputs(outputs_of(one, output), args.force)
        if done:
            skipped.append(output)
            progress.update(n, 1.0, f"{source.name}: done before")
            continue
        pending.append((n, one))

    def caption(job: tuple[int, argparse.Namespace]) -> int:
        n, one = job
        try:
            return run_one(one, FileShare(progress, n, one.input.name))
        except (UsageError, OSError) as exc:  # this file's problem: the batch goes on
            print(f"sidecar subtitle: {one.input}: {exc}", file=sys.stderr)
            return 1
        finally:
            progress.update(n, 1.0)

    try:
        if args.ray:
            from sidecar.cli import subtitle_ray

            codes = subtitle_ray.caption_as_tasks(args, pending, run_one, outputs_of, lambda n: progress.update(n, 1.0))
        else:
            codes = _in_lanes(args, pending, caption)
    finally:
        bar.close()
    failed = [one.input for (_, one), code in zip(pending, codes) if code]
    done = len(pending) - len(failed)
    if not args.quiet or failed:
        summary = f"{files}: {done} captioned"
        if skipped:
            summary += f", {len(skipped)} skipped (their output exists; --force redoes them)"
        if failed:
            summary += f", {len(failed)} failed: {', '.join(map(str, failed))}"
        print(summary, file=sys.stderr)
    return 1 if failed else 0


def plan(args: argparse.Namespace) -> list[tuple[pathlib.Path, pathlib.Path]]:
    """(input, output) for every input; refuses -o FILE for several and two inputs that would
    share an output. One file (as a Ray task) goes to -o as it would without --ray."""
    if len(args.inputs) == 1 and not args.inputs[0].is_dir():
        source = require_input(args.inputs[0])
        return [(source, args.output or default_output(args, source))]
    folder = args.output
    if folder is not None and (suffix_of(folder) is not None or folder.is_file()):
        raise UsageError(f"-o {folder}: with several inputs, -o names a folder for the subtitle files")
    sources = [source for given in args.inputs for source in expand(given)]
    if not sources:
        raise UsageError(f"no media files in {', '.join(map(str, args.inputs))}")
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    jobs, claimed = [], {}
    for source in dict.fromkeys(sources):  # a file named twice is captioned once
        output = default_output(args, source, folder)
        if output.resolve() in claimed:
            raise UsageError(f"{claimed[output.resolve()]} and {source} would both write {output}")
        claimed[output.resolve()] = source
        jobs.append((source, output))
    return jobs


def expand(given: pathlib.Path) -> list[pathlib.Path]:
    """A file as it is; a folder's media files (not its subfolders'), in name order, but for
    the copies --mux made of them (talk.subtitled.mp4 beside talk.mp4)."""
    if given.is_dir():
        media = {p for p in given.iterdir() if p.is_file() and p.suffix.lower() in MEDIA_SUFFIXES}
        muxed = {mux_path(p) for p in media}
        return sorted(media - muxed)
    return [require_input(given)]


class BatchProgress:
    """The batch's bar: the files done, and the share done of each file under way."""

    def __init__(self, bar: ProgressBar, count: int) -> None:
        self._bar, self._count = bar, count
        self._done: dict[int, float] = {}
        self._lock = threading.Lock()  # files under way report from their own lanes

    def update(self, index: int, fraction: float, stage: str = "") -> None:
        with self._lock:
            self._done[index] = min(max(fraction, 0.0), 1.0)
            self._bar.update(sum(self._done.values()) / self._count, stage)


class FileShare:
    """One file's progress as its share of the batch's bar."""

    def __init__(self, progress: BatchProgress, index: int, name: str) -> None:
        self._progress, self._index, self._name = progress, index, name

    def update(self, fraction: float, stage: str = "") -> None:
        self._progress.update(self._index, fraction, f"{self._name}: {stage}")

    def close(self) -> None:
        """The batch's bar stays open for the next file."""


def _in_lanes(
    args: argparse.Namespace, pending: list, caption: Callable[[tuple[int, argparse.Namespace]], int]
) -> list[int]:
    """Exit codes of `pending`, in order: captioned here, --jobs at a time, through one sidecar."""
    with _one_sidecar(args):
        if args.jobs == 1:
            return [caption(job) for job in pending]
        # Each file's client waits on its own lane; Serve spreads them over replicas.
        codes = dict(threads.in_lanes("subtitle-batch", args.jobs, caption, pending))
        return [codes[i] for i in range(len(pending))]


@contextlib.contextmanager
def _one_sidecar(args: argparse.Namespace) -> Iterator[None]:
    """Without --server, one in-process sidecar for the whole batch (models load once), running
    --jobs at once: every file then reaches it as --server."""
    if args.server:
        yield
        return
    from sidecar.server.inprocess import InProcessSidecar

    with InProcessSidecar(max_running_jobs=args.jobs) as server:
        args.server, args.token, args.token_file = server.address, server.config.token, None
        yield

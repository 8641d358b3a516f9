"""`sidecar subtitle`, `sidecar serve` and `sidecar models` as a user runs them: real processes."""

import contextlib
import hashlib
import json
import os
import signal
import stat
import subprocess
import sys
import time

import av
import pytest

from sidecar.cli.main import main
from sidecar_common import languages, subtitles
from tests import media_files
from tests.conftest import word_error_rate
from tests.cue_rules import check_srt
from tests.harness import free_port, serve

SIDECAR = [sys.executable, "-m", "sidecar.cli.main"]


def sidecar(*args, timeout=300):
    return subprocess.run([*SIDECAR, *map(str, args)], capture_output=True, text=True, timeout=timeout)


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def media_seconds(path) -> float:
    with av.open(str(path)) as container:
        return container.duration / av.time_base


@contextlib.contextmanager
def umask(mask):
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A real `sidecar serve` process; yields its address."""
    port_file = tmp_path_factory.mktemp("serve") / "port"
    process = subprocess.Popen(
        [*SIDECAR, "serve", "--port", "0", "--ready-file", str(port_file), "--preload", "tiny.en"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not (port_file.exists() and port_file.read_text()):
        assert process.poll() is None and time.monotonic() < deadline, (
            process.stderr.read() if process.poll() is not None else "timeout"
        )
        time.sleep(0.1)
    yield process, f"127.0.0.1:{port_file.read_text()}"
    if process.poll() is None:
        process.terminate()
        process.wait(timeout=30)


def test_subtitle_in_process_writes_srt(tmp_path, data_dir, librispeech):
    clip = tmp_path / "talk.flac"
    clip.write_bytes((data_dir / "demo-1089.flac").read_bytes())
    done = sidecar("subtitle", clip, "-q")
    assert done.returncode == 0, done.stderr
    cues = subtitles.parse_srt((tmp_path / "talk.srt").read_text())
    reference = " ".join(librispeech[u][1] for u in sorted(librispeech))
    assert word_error_rate(reference, " ".join(c.text for c in cues)) <= 0.10
    assert all(0 <= c.start < c.end <= 23.01 for c in cues)
    check_srt(tmp_path / "talk.srt", media_seconds(clip))


def test_subtitle_through_a_running_server_to_vtt_and_labels(served, tmp_path, data_dir):
    _, address = served
    vtt, labels = tmp_path / "out.vtt", tmp_path / "out.labels.txt"  # .txt is plain text since issue 17
    for output in (vtt, labels):
        done = sidecar("subtitle", data_dir / "1089-134686-0000.flac", "--server", address, "-o", output, "-q")
        assert done.returncode == 0, done.stderr
    assert vtt.read_text().startswith("WEBVTT\n\n") and "stew for dinner" in vtt.read_text()
    rows = [line.split("\t") for line in labels.read_text().splitlines()]
    assert rows and all(len(r) == 3 and float(r[0]) < float(r[1]) for r in rows)


def test_models_command(served):
    done = sidecar("models", "--server", served[1])
    assert done.returncode == 0, done.stderr
    tiny = next(line for line in done.stdout.splitlines() if " tiny.en " in line)
    assert "loaded on cpu" in tiny and "(default)" in tiny  # --preload loaded it at start


def test_never_overwrites(tmp_path, data_dir):
    clip = tmp_path / "a.flac"
    clip.write_bytes((data_dir / "1089-134691-0000.flac").read_bytes())
    existing = tmp_path / "a.srt"
    existing.write_text("my precious subtitles")
    done = sidecar("subtitle", clip)
    assert done.returncode == 2 and "exists: pass --force" in done.stderr
    assert existing.read_text() == "my precious subtitles"
    done = sidecar("subtitle", clip, "-o", clip)
    assert done.returncode == 2 and "must end in" in done.stderr
    done = sidecar("subtitle", clip, "--force", "-q")
    assert done.returncode == 0 and "wait" in existing.read_text().lower()
    check_srt(existing, media_seconds(clip))


@pytest.mark.parametrize(
    "make,needle,code",
    [
        (lambda p: p / "missing.wav", "no such file", 2),
        (lambda p: (p / "junk.mp3").write_bytes(os.urandom(30_000)) and p / "junk.mp3", "not a readable audio", 1),
        (lambda p: (p / "empty.wav").write_bytes(b"") == 0 and p / "empty.wav", "empty", 1),
    ],
)
def test_unreadable_input_is_a_clear_error(tmp_path, make, needle, code):
    done = sidecar("subtitle", make(tmp_path), "-q")
    assert done.returncode == code and needle in done.stderr, done.stderr
    assert not list(tmp_path.glob("*.srt"))


def test_unreachable_server(tmp_path, data_dir):
    done = sidecar("subtitle", data_dir / "1089-134691-0000.flac", "-o", tmp_path / "x.srt", "--server", "127.0.0.1:9")
    assert done.returncode == 1 and "no sidecar answers at 127.0.0.1:9" in done.stderr


def test_mux_copies_the_video_with_a_subtitle_stream_tagged_with_the_language(served, tmp_path, data_dir):
    video = media_files.make_video(data_dir / "1089-134686-0000.flac", tmp_path / "clip.mp4")
    before = sha256(video)
    with umask(0o027):  # issue 17: outputs were 0600 whatever the umask
        done = sidecar("subtitle", video, "--mux", "--server", served[1], "-q")
    assert done.returncode == 0, done.stderr
    assert sha256(video) == before  # the original is only read
    muxed = tmp_path / "clip.subtitled.mp4"
    with av.open(str(muxed)) as container:
        kinds = sorted(s.type for s in container.streams)
        [subtitle] = container.streams.subtitles
        assert subtitle.metadata.get("language") == "eng"  # issue 17: it was "und"
    assert kinds == ["audio", "subtitle", "video"]
    for output in (tmp_path / "clip.srt", muxed):
        assert stat.S_IMODE(output.stat().st_mode) == 0o640, output
    check_srt(tmp_path / "clip.srt", media_seconds(video))
    done = sidecar("subtitle", video, "--mux", "--server", served[1], "-q", "-o", tmp_path / "again.srt")
    assert done.returncode == 2 and "exists" in done.stderr  # the muxed copy is not overwritten either


def test_every_format_by_its_ending(served, tmp_path, data_dir):
    clip = data_dir / "1089-134686-0000.flac"
    written = {}
    for name, flags in [
        ("talk.ass", []),
        ("talk.json", []),
        ("talk.txt", []),
        ("talk.labels.txt", []),
        ("talk.vtt", ["--vtt-words"]),
    ]:
        assert main(["subtitle", str(clip), "-o", str(tmp_path / name), "-q", "--server", served[1], *flags]) == 0
        written[name] = (tmp_path / name).read_text(encoding="utf-8")
    data = json.loads(written["talk.json"])
    words = [w for cue in data["cues"] for w in cue["words"]]
    assert " ".join(w["text"] for w in words) == " ".join(cue["text"] for cue in data["cues"])
    assert all(0 <= w["start"] <= w["end"] <= 10.5 and 0 < w["probability"] <= 1 for w in words)
    assert "stew for dinner" in written["talk.txt"] and "-->" not in written["talk.txt"]
    dialogues = [line for line in written["talk.ass"].splitlines() if line.startswith("Dialogue: ")]
    assert len(dialogues) == len(data["cues"]) and all("{\\k" in line for line in dialogues)
    assert written["talk.vtt"].startswith("WEBVTT") and "<00:00:0" in written["talk.vtt"]
    rows = [line.split("\t") for line in written["talk.labels.txt"].splitlines()]
    assert len(rows) == len(data["cues"]) and all(len(row) == 3 for row in rows)


def test_cue_rule_flags(served, tmp_path, data_dir):
    clip, srt = data_dir / "demo-1089.flac", tmp_path / "narrow.srt"
    flags = ["--max-chars", "24", "--max-lines", "1", "--max-cps", "15", "--min-duration", "1.5"]
    assert main(["subtitle", str(clip), "-o", str(srt), "-q", "--server", served[1], *flags]) == 0
    check_srt(srt, media_seconds(clip), subtitles.CueRules(24, 1, 1.5, 7.0, 15.0))
    assert max(len(line) for cue in subtitles.parse_srt(srt.read_text()) for line in cue.lines) <= 24


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--max-lines", "0"], "argument --max-lines: must be a whole number of 1 or more, not '0'"),
        (["--max-chars", "wide"], "argument --max-chars: must be a whole number of 1 or more, not 'wide'"),
        (["--max-cps", "0"], "argument --max-cps: must be a number above 0, not '0'"),
        (["--max-cps", "nan"], "argument --max-cps: must be a finite number, not 'nan'"),
        (["--min-duration", "-1"], "argument --min-duration: must be 0 seconds or more, not '-1'"),
        (["--min-duration", "8"], "--min-duration (8.0) must not exceed max_duration (7.0)"),
        (["--format", "json"], "--format json writes .json, not out.srt"),
        (["--vtt-words"], "--vtt-words is for WebVTT (.vtt), not out.srt"),
        (["--ray", "auto"], "--ray needs --server: the address of the cluster's Serve proxy"),
        (["--ray", "127.0.0.1:1", "--server", "127.0.0.1:2"], "--ray 127.0.0.1:1: no Ray cluster answers there"),
        (["--ray", "head", "--server", "127.0.0.1:2"], "--ray head: give the cluster's HOST:PORT"),
    ],
)
def test_nonsense_flags_are_usage_errors(tmp_path, data_dir, capsys, flags, message):
    argv = ["subtitle", str(data_dir / "1089-134691-0000.flac"), "-o", str(tmp_path / "out.srt"), *flags]
    with contextlib.suppress(SystemExit):  # argparse's own errors exit 2 too
        assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out.srt").exists()


def test_ray_refuses_an_address_that_is_not_a_ray_clusters_head(served, tmp_path, data_dir, capsys):
    """A sidecar's (or Serve proxy's) address given to --ray is named as not a cluster's head,
    at once: Ray itself would try it for many minutes."""
    argv = ["subtitle", str(data_dir / "1089-134691-0000.flac"), "-o", str(tmp_path / "out.srt")]
    assert main([*argv, "--ray", served[1], "--server", served[1]]) == 2
    said = capsys.readouterr().err
    assert f"--ray {served[1]}: the server there is not a Ray cluster's head" in said, said
    assert not (tmp_path / "out.srt").exists()


def test_a_batch_goes_on_past_a_failure_and_runs_again_where_it_stopped(served, tmp_path, data_dir):
    folder = tmp_path / "talks"
    folder.mkdir()
    for name, source in (("one.flac", "1089-134691-0000.flac"), ("two.flac", "1089-134686-0001.flac")):
        (folder / name).write_bytes((data_dir / source).read_bytes())
    (folder / "broken.mp3").write_bytes(os.urandom(20_000))
    (folder / "notes.md").write_text("not media: left alone")
    # One in-process sidecar for the whole folder.
    done = sidecar("subtitle", folder)
    assert done.returncode == 1, done.stderr
    assert "broken.mp3: INVALID_ARGUMENT" in done.stderr and "3 files: 2 captioned, 1 failed" in done.stderr
    outputs = {name: folder / f"{name}.srt" for name in ("one", "two")}
    for name, output in outputs.items():
        check_srt(output, media_seconds(folder / f"{name}.flac"))
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["one.flac", "two.flac", "broken.mp3", "notes.md", "one.srt", "two.srt"]
    )
    # Again: what is done is skipped, what failed fails again.
    before = {name: output.stat().st_mtime_ns for name, output in outputs.items()}
    assert main(["subtitle", str(folder), "--server", served[1]]) == 1
    assert {name: output.stat().st_mtime_ns for name, output in outputs.items()} == before
    # -o names a folder; --force redoes; two inputs never share an output.
    out = tmp_path / "captions"
    argv = ["subtitle", str(folder / "one.flac"), str(folder / "two.flac"), "-q", "--server", served[1]]
    assert main([*argv, "-o", str(out), "--format", "vtt"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["one.vtt", "two.vtt"]
    assert main([*argv, "--force"]) == 0 and outputs["one"].stat().st_mtime_ns > before["one"]
    assert main([*argv, "-o", str(tmp_path / "all.srt")]) == 2
    (tmp_path / "one.wav").write_bytes(b"")
    assert main(["subtitle", str(folder / "one.flac"), str(tmp_path / "one.wav"), "-o", str(out)]) == 2


def test_a_batch_with_jobs_sends_files_at_once_and_writes_what_one_at_a_time_writes(tmp_path, data_dir, capsys):
    """--jobs N keeps N files in flight: a sidecar that runs one job and queues none refuses the
    second (RESOURCE_EXHAUSTED, which the client waits out), where one at a time it never does."""
    folder = tmp_path / "talks"
    folder.mkdir()
    for name, source in (("one.flac", "1089-134691-0000.flac"), ("two.flac", "1089-134686-0001.flac")):
        (folder / name).write_bytes((data_dir / source).read_bytes())
    (folder / "broken.mp3").write_bytes(os.urandom(20_000))
    port, log = free_port(), tmp_path / "serve.log"
    server = serve(port, tmp_path / "ready", flags=["--max-running-jobs", "1", "--max-waiting-jobs", "0"], log=log)
    try:
        address = f"127.0.0.1:{port}"
        argv = ["subtitle", str(folder), "--server", address]
        assert main([*argv, "-o", str(tmp_path / "in-turn")]) == 1
        assert "3 files: 2 captioned, 1 failed" in capsys.readouterr().err
        assert "RESOURCE_EXHAUSTED" not in log.read_text()
        assert main([*argv, "-o", str(tmp_path / "at-once"), "--jobs", "3"]) == 1
        said = capsys.readouterr().err
        assert "broken.mp3: INVALID_ARGUMENT" in said and "3 files: 2 captioned, 1 failed" in said
        assert "TranscribeFile: RESOURCE_EXHAUSTED" in log.read_text()
    finally:
        server.terminate()
        server.wait(30)
    for name in ("one", "two"):
        written = tmp_path / "at-once" / f"{name}.srt"
        check_srt(written, media_seconds(folder / f"{name}.flac"))
        assert written.read_bytes() == (tmp_path / "in-turn" / f"{name}.srt").read_bytes()
    assert sorted(p.name for p in (tmp_path / "at-once").iterdir()) == ["one.srt", "two.srt"]
    assert main(["subtitle", str(folder), "--jobs", "0"]) == 2


def test_language_tags():
    assert languages.iso_639_2("en") == "eng"
    assert languages.iso_639_2("de") == "deu" and languages.iso_639_2("de", bibliographic=True) == "ger"
    assert languages.iso_639_2("pt-BR") == "por" and languages.iso_639_2("jw") == "jav"
    assert languages.iso_639_2("ger") == "deu" and languages.iso_639_2("fra", bibliographic=True) == "fre"
    assert languages.iso_639_2("") == "und" and languages.iso_639_2("xx") == "und"


def test_serve_stops_gracefully_on_sigterm(served):
    process, _ = served
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    assert "stopped" in process.stderr.read()


def test_in_process_runs_end_without_an_error_on_stderr(tmp_path, data_dir):
    """Stopping the in-process sidecar used to leave gRPC's reader on a closed pipe: about one
    run in three printed an asyncio "Bad file descriptor" traceback after writing the SRT."""
    for i in range(5):
        output = tmp_path / f"run{i}.srt"
        done = sidecar("subtitle", str(data_dir / "1089-134686-0000.flac"), "-o", str(output), "-q")
        assert done.returncode == 0 and output.stat().st_size > 0, done.stderr
        assert done.stderr == "", done.stderr
        check_srt(output, media_seconds(data_dir / "1089-134686-0000.flac"))

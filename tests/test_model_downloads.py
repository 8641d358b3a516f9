"""`sidecar models list|pull|rm|verify|export|import` against a loopback hub (tests/fake_hub.py,
through HF_ENDPOINT), and then the pulled model at work with the hub out of reach."""

from __future__ import annotations

import io
import os
import pathlib
import subprocess
import sys
import tarfile
import time

import pytest

from tests.fake_hub import FakeHub
from tests.music_fixtures import build_tiny_ast

pytest.importorskip("huggingface_hub")
SIDECAR = [sys.executable, "-m", "sidecar.cli.main"]
AST_REPO = "MIT/ast-finetuned-audioset-10-10-0.4593"
WHISPER_REPO = "Systran/faster-whisper-small"


@pytest.fixture(scope="module")
def tiny_ast(tmp_path_factory) -> pathlib.Path:
    return build_tiny_ast(tmp_path_factory.mktemp("ast") / "tiny-ast")


@pytest.fixture
def hub(tiny_ast, tmp_path):
    big = tmp_path / "whisper"
    big.mkdir()
    (big / "config.json").write_text('{"alignment_heads": []}')
    # Past huggingface_hub's 10 MiB read size, so a cut transfer has bytes to resume from.
    (big / "model.bin").write_bytes(os.urandom(24 << 20))
    (big / "README.md").write_text("not among the files faster-whisper takes")
    with FakeHub() as served:
        served.add(AST_REPO, tiny_ast)
        served.add(WHISPER_REPO, big)
        yield served


def models(*args, cache: pathlib.Path, hub: FakeHub | None = None, timeout=300) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update(HF_HUB_CACHE=str(cache), HF_HUB_DISABLE_TELEMETRY="1")
    env.update({"HF_ENDPOINT": hub.endpoint} if hub else {"HF_HUB_OFFLINE": "1"})
    return subprocess.run([*SIDECAR, *args], env=env, capture_output=True, text=True, timeout=timeout)


def listed(cache: pathlib.Path) -> dict[str, str]:
    done = models("models", "list", cache=cache)
    assert done.returncode == 0, done.stderr
    rows = [line.split() for line in done.stdout.splitlines()[1:] if line.strip() and not line.startswith("The ")]
    return {row[0]: row[-1] if row[-1] in ("pulled", "embedded") else "" for row in rows}


def test_a_pulled_model_runs_offline_and_rm_takes_it_away(hub, tmp_path, data_dir):
    cache = tmp_path / "cache"
    before = listed(cache)
    assert before["ast-audioset"] == "" and before["tiny.en"] == before["base"] == "embedded"
    pulled = models("models", "pull", "ast-audioset", cache=cache, hub=hub)
    assert pulled.returncode == 0, pulled.stderr
    assert listed(cache)["ast-audioset"] == "pulled"
    checked = models("models", "verify", cache=cache)
    assert checked.returncode == 0 and checked.stdout == "ast-audioset: ok\n", checked.stdout + checked.stderr

    # The hub is out of reach (HF_HUB_OFFLINE=1): the events command finds the model by name.
    clip, marks = data_dir / "1089-134691-0000.flac", tmp_path / "marks.txt"
    found = models("events", str(clip), "--model", "ast-audioset", "--threshold", "0", "-o", str(marks), cache=cache)
    assert found.returncode == 0, found.stderr
    assert marks.read_text().count("\n") >= 1

    removed = models("models", "rm", "ast-audioset", cache=cache)
    assert removed.returncode == 0 and "removed" in removed.stdout, removed.stderr
    assert listed(cache)["ast-audioset"] == ""
    gone = models("events", str(clip), "--model", "ast-audioset", "-o", str(tmp_path / "again.txt"), cache=cache)
    assert gone.returncode == 1 and "not in the Hugging Face cache" in gone.stderr, gone.stderr


def test_two_commands_take_a_fresh_install_to_separated_stems(tmp_path):
    """`sidecar models pull htdemucs`, then `sidecar stems`: here the hub is a loopback one
    serving a tiny random HTDemucs as Demucs publishes its models, and the stems command runs
    with the hub out of reach, loading it through demucs' own hub loader."""
    pytest.importorskip("demucs")
    from tests.stems_fixtures import MUSIC, make_tiny_hub_repo

    cache, stems = tmp_path / "cache", tmp_path / "stems"
    with FakeHub() as hub:
        hub.add("adefossez/HTDemucs", make_tiny_hub_repo(tmp_path / "htdemucs"))
        pulled = models("models", "pull", "htdemucs", cache=cache, hub=hub)
    assert pulled.returncode == 0, pulled.stderr
    split = models("stems", str(MUSIC), "-o", str(stems), cache=cache)
    assert split.returncode == 0, split.stderr
    assert sorted(p.name for p in stems.iterdir()) == [
        f"vibe_ace_12s.{s}.wav" for s in ("bass", "drums", "other", "vocals")
    ]


def test_a_cut_connection_resumes_and_only_the_models_files_come(hub, tmp_path):
    hub.cut_once.add("model.bin")
    cache = tmp_path / "cache"
    pulled = models("models", "pull", "small", cache=cache, hub=hub)
    assert pulled.returncode == 0, pulled.stderr
    model_bin = [
        (method, ranged) for method, path, ranged in hub.requests if path.endswith("/model.bin") and method == "GET"
    ]
    assert model_bin == [("GET", ""), ("GET", "bytes=10485760-")]  # the second asks for the rest only
    assert not any(path.endswith("README.md") for _, path, _ in hub.requests)
    assert models("models", "verify", "small", cache=cache).stdout == "small: ok\n"
    snapshot = pathlib.Path(pulled.stdout.split(": ", 1)[1].strip())
    assert sorted(p.name for p in snapshot.iterdir()) == ["config.json", "model.bin"]
    assert (snapshot / "model.bin").read_bytes() == hub.repos[WHISPER_REPO].files["model.bin"]


def test_a_killed_pull_goes_on_in_the_next_from_where_it_stopped(hub, tmp_path):
    """A pull killed mid-file (a closed terminal) leaves the file's part under a name the next
    pull finds, and that pull asks the hub for the rest only. A partial file of huggingface_hub's
    own, named for its process so that no pull can resume it, is removed."""
    cache = tmp_path / "cache"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update(HF_HUB_CACHE=str(cache), HF_HUB_DISABLE_TELEMETRY="1", HF_ENDPOINT=hub.endpoint)
    hub.slow.add("model.bin")
    killed = subprocess.Popen([*SIDECAR, "models", "pull", "small"], env=env, stderr=subprocess.DEVNULL)
    blobs = cache / f"models--{WHISPER_REPO.replace('/', '--')}" / "blobs"
    part = blobs / f"{hub.repos[WHISPER_REPO].etag('model.bin')}.part"
    deadline = time.monotonic() + 60
    while not (part.exists() and part.stat().st_size >= 4 << 20):
        assert killed.poll() is None and time.monotonic() < deadline, "no part to go on from"
        time.sleep(0.05)
    killed.kill()
    killed.wait()
    kept = part.stat().st_size
    assert 0 < kept < len(hub.repos[WHISPER_REPO].files["model.bin"])
    abandoned = blobs / "0123abcd.5e6f7a8b.incomplete"
    abandoned.write_bytes(b"\0" * 1000)
    hub.slow.clear()
    del hub.requests[:]
    pulled = models("models", "pull", "small", cache=cache, hub=hub)
    assert pulled.returncode == 0, pulled.stderr
    model_bin = [ranged for method, path, ranged in hub.requests if path.endswith("/model.bin") and method == "GET"]
    assert model_bin == [f"bytes={kept}-"]
    assert not part.exists() and not abandoned.exists()
    assert models("models", "verify", "small", cache=cache).stdout == "small: ok\n"
    snapshot = pathlib.Path(pulled.stdout.split(": ", 1)[1].strip())
    assert (snapshot / "model.bin").read_bytes() == hub.repos[WHISPER_REPO].files["model.bin"]


def test_a_download_that_does_not_match_its_checksum_is_refused_and_removed(hub, tmp_path):
    hub.corrupt.add("model.bin")
    cache = tmp_path / "cache"
    pulled = models("models", "pull", "small", cache=cache, hub=hub)
    assert pulled.returncode == 1
    message = pulled.stderr.strip().splitlines()[-1]
    assert message.startswith("sidecar models pull: the download of model.bin (small) is damaged: sha256 "), message
    assert message.endswith(f"expected {hub.repos[WHISPER_REPO].etag('model.bin')}; it was removed, pull again")
    assert listed(cache)["small"] == ""
    blobs = cache / f"models--{WHISPER_REPO.replace('/', '--')}" / "blobs"
    assert [p.stat().st_size for p in blobs.iterdir()] == [len(hub.repos[WHISPER_REPO].files["config.json"])]

    hub.corrupt.clear()  # the next pull fetches only what is missing
    del hub.requests[:]
    assert models("models", "pull", "small", cache=cache, hub=hub).returncode == 0
    assert not any(path.endswith("config.json") and method == "GET" for method, path, _ in hub.requests)


# In a mount namespace of its own (as root, or mapped to root in a user namespace): an 80 MiB
# tmpfs as the Hugging Face cache, the command, then what it left there.
SMALL_DISK = r"""
cache=$1 report=$2; shift 2
mount -t tmpfs -o size=80m tmpfs "$cache" || exit 99
"$@" > "$report/stdout" 2> "$report/stderr"
echo $? > "$report/status"
find "$cache" -type f > "$report/files"
"""


@pytest.mark.parametrize(
    "real_mib, listed_mib, says",
    [
        (100, 100, "small needs 100.0 MiB and {cache} has "),  # refused before any byte
        (100, 1, "the disk of {cache} filled up while downloading model.bin of small"),  # the hub understated it
    ],
    ids=["refused-before", "filled-during"],
)
def test_a_disk_without_room_is_one_clear_error_and_leaves_nothing(hub, tmp_path, real_mib, listed_mib, says):
    from tests.test_faults import unshare_prefix

    prefix = unshare_prefix()
    cache, report = tmp_path / "cache", tmp_path / "report"
    cache.mkdir()
    report.mkdir()
    hub.repos[WHISPER_REPO].files["model.bin"] = os.urandom(real_mib << 20)
    hub.claimed_sizes["model.bin"] = listed_mib << 20
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update(HF_HUB_CACHE=str(cache), HF_ENDPOINT=hub.endpoint, HF_HUB_DISABLE_TELEMETRY="1")
    command = [*SIDECAR, "models", "pull", "small"]
    done = subprocess.run(
        [*prefix, "sh", "-c", SMALL_DISK, "small-disk", str(cache), str(report), *command],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    stderr = (report / "stderr").read_text()
    assert int((report / "status").read_text()) == 1 and "Traceback" not in stderr, stderr
    assert says.format(cache=cache) in stderr.strip().splitlines()[-1], stderr
    left = (report / "files").read_text().split()
    assert not [
        f for f in left if f.endswith((".incomplete", ".part")) or "/snapshots/" in f or f.endswith("/refs/main")
    ], left


def test_a_part_left_by_an_earlier_pull_counts_as_room_already_taken(hub, tmp_path):
    """A 240 MiB disk holds 120 MiB of a 150 MiB file from a pull that was cut off, and a part
    of a file the model no longer has. The next pull needs room for the rest only (30 MiB and
    the margin), not for the whole file again, and asks the hub for the rest only; once the
    model is in, the stale part is gone."""
    from tests.test_faults import unshare_prefix

    prefix = unshare_prefix()
    cache, report, seed = tmp_path / "cache", tmp_path / "report", tmp_path / "seed"
    for folder in (cache, report):
        folder.mkdir()
    weights = os.urandom(150 << 20)
    hub.repos[WHISPER_REPO].files["model.bin"] = weights
    blobs = seed / f"models--{WHISPER_REPO.replace('/', '--')}" / "blobs"
    blobs.mkdir(parents=True)
    kept = 120 << 20
    (blobs / f"{hub.repos[WHISPER_REPO].etag('model.bin')}.part").write_bytes(weights[:kept])
    (blobs / f"{'0' * 64}.part").write_bytes(b"\0" * 1000)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update(HF_HUB_CACHE=str(cache), HF_ENDPOINT=hub.endpoint, HF_HUB_DISABLE_TELEMETRY="1")
    script = SMALL_DISK.replace("size=80m", "size=240m").replace(
        "|| exit 99\n", '|| exit 99\ncp -a "$SEED"/. "$cache"/ || exit 98\n'
    )
    done = subprocess.run(
        [*prefix, "sh", "-c", script, "small-disk", str(cache), str(report), *SIDECAR, "models", "pull", "small"],
        env={**env, "SEED": str(seed)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert int((report / "status").read_text()) == 0, (report / "stderr").read_text()
    model_bin = [ranged for method, path, ranged in hub.requests if path.endswith("/model.bin") and method == "GET"]
    assert model_bin == [f"bytes={kept}-"]
    left = (report / "files").read_text().split()
    assert not [f for f in left if f.endswith((".part", ".incomplete"))], left
    assert any(f.endswith("/refs/main") for f in left), left


def test_verify_finds_a_file_damaged_on_disk(hub, tmp_path):
    cache = tmp_path / "cache"
    assert models("models", "pull", "ast-audioset", cache=cache, hub=hub).returncode == 0
    weights = next((cache / f"models--{AST_REPO.replace('/', '--')}" / "snapshots").glob("*/model.safetensors"))
    blob = weights.resolve()
    blob.write_bytes(blob.read_bytes()[:-10])
    checked = models("models", "verify", "ast-audioset", cache=cache)
    assert checked.returncode == 1
    assert checked.stdout.startswith("ast-audioset: DAMAGED\n  model.safetensors: sha256 "), checked.stdout


def test_a_bundle_carries_models_to_a_machine_without_internet(hub, tmp_path, data_dir):
    online, offline = tmp_path / "online", tmp_path / "offline"
    assert models("models", "pull", "ast-audioset", "small", cache=online, hub=hub).returncode == 0
    bundle = tmp_path / "models.tar"
    exported = models("models", "export", "ast-audioset", "small", "-o", str(bundle), cache=online)
    assert exported.returncode == 0, exported.stderr
    again = models("models", "export", "small", "-o", str(bundle), cache=online)
    assert again.returncode == 1 and "exists" in again.stderr
    assert exported.stdout.startswith(f"{bundle}: ast-audioset, small (24.")

    imported = models("models", "import", str(bundle), cache=offline)
    assert imported.returncode == 0, imported.stderr
    assert {name for name, here in listed(offline).items() if here == "pulled"} == {"ast-audioset", "small"}
    assert models("models", "verify", cache=offline).returncode == 0
    marks = tmp_path / "marks.txt"
    clip = data_dir / "1089-134691-0000.flac"
    found = models("events", str(clip), "--model", "ast-audioset", "--threshold", "0", "-o", str(marks), cache=offline)
    assert found.returncode == 0, found.stderr


def test_a_tampered_or_hostile_bundle_imports_nothing(hub, tmp_path):
    online = tmp_path / "online"
    assert models("models", "pull", "ast-audioset", cache=online, hub=hub).returncode == 0
    bundle = tmp_path / "models.tar"
    assert models("models", "export", "ast-audioset", "-o", str(bundle), cache=online).returncode == 0

    tampered = rewrite(bundle, tmp_path / "tampered.tar", flip_last_byte_of_blobs)
    offline = tmp_path / "offline"
    done = models("models", "import", str(tampered), cache=offline)
    assert done.returncode == 1 and "is damaged" in done.stderr and "nothing was imported" in done.stderr, done.stderr
    assert listed(offline)["ast-audioset"] == "" and not any(offline.glob("models--*"))

    hostile = rewrite(bundle, tmp_path / "hostile.tar", lambda name, data: data, extra=("../../escape.txt", b"x"))
    done = models("models", "import", str(hostile), cache=offline)
    assert done.returncode == 1 and "outside the models its manifest names" in done.stderr, done.stderr
    assert not (tmp_path / "escape.txt").exists() and not any(offline.glob("models--*"))

    not_a_bundle = tmp_path / "notes.tar"
    not_a_bundle.write_bytes(b"hello")
    done = models("models", "import", str(not_a_bundle), cache=offline)
    assert done.returncode == 1 and "is not a model bundle" in done.stderr, done.stderr


def flip_last_byte_of_blobs(name: str, data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 1]) if "/blobs/" in name else data


def rewrite(source: pathlib.Path, target: pathlib.Path, change, extra=None) -> pathlib.Path:
    with tarfile.open(source) as old, tarfile.open(target, "w") as new:
        for member in old.getmembers():
            if member.isfile():
                data = change(member.name, old.extractfile(member).read())
                member.size = len(data)
                new.addfile(member, io.BytesIO(data))
            else:
                new.addfile(member)
        if extra:
            info = tarfile.TarInfo(extra[0])
            info.size = len(extra[1])
            new.addfile(info, io.BytesIO(extra[1]))
    return target


def test_pull_refuses_offline_unknown_names_and_unaccepted_licences(hub, tmp_path):
    cache = tmp_path / "cache"
    offline = models("models", "pull", "small", cache=cache)
    assert offline.returncode == 1 and "downloads are off (HF_HUB_OFFLINE=1)" in offline.stderr, offline.stderr
    assert "sidecar models import" in offline.stderr
    unknown = models("models", "pull", "whisper-huge", cache=cache, hub=hub)
    assert unknown.returncode == 2 and "no model named 'whisper-huge' in the catalogue" in unknown.stderr
    licence = models("models", "pull", "xtts_v2", cache=cache, hub=hub)
    assert licence.returncode == 1 and "https://coqui.ai/cpml" in licence.stderr, licence.stderr
    assert "--agree-license" in licence.stderr
    assert hub.requests == []  # none of these asked the hub anything


def test_the_catalogue_names_the_repositories_the_families_download_from():
    from sidecar.engines import demucs_models
    from sidecar.runtime import model_catalogue

    demucs_hf = pytest.importorskip("demucs.hf")
    for name, repo in demucs_models.HUB_REPOS.items():
        assert repo == f"{demucs_hf.DEFAULT_NAMESPACE}/{demucs_hf.hf_repo_name(name)}"
    assert set(demucs_models.HUB_REPOS) == set(demucs_models.PRETRAINED)
    families = {m.family for m in model_catalogue.CATALOGUE.values()}
    assert families == {"whisper", "demucs", "xtts", "musicgen", "audio-events", "translation"}
    assert [m.name for m in model_catalogue.CATALOGUE.values() if not m.about_size.endswith(("MB", "GB"))] == []


def test_pull_model_over_grpc_streams_progress_and_a_cancel_leaves_no_partial_file(hub, tmp_path):
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    from sidecar_client import SidecarError
    from tests.harness import serving

    cache = tmp_path / "cache"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update(HF_HUB_CACHE=str(cache), HF_ENDPOINT=hub.endpoint, HF_HUB_DISABLE_TELEMETRY="1")
    with serving(tmp_path, env=env) as client:
        # Online, the server checks each family's default for its health without downloading
        # any (MusicGen's alone is 2.4 GB): the events default is NOT_SERVING until pulled.
        health = health_pb2_grpc.HealthStub(client.channel)
        events = health_pb2.HealthCheckRequest(service="sidecar.v1.EventDetectionService")
        deadline = time.monotonic() + 60
        while health.Check(events, timeout=10).status != health_pb2.HealthCheckResponse.NOT_SERVING:
            assert time.monotonic() < deadline, "the events family was not checked"
            time.sleep(0.2)
        assert not [path for method, path, _ in hub.requests if "/resolve/" in path]
        catalogue = {m.name: m for m in client.downloadable_models()}
        assert catalogue["xtts_v2"].license_to_accept == "https://coqui.ai/cpml"
        assert not catalogue["small"].downloaded

        progress = list(client.pull_model("small"))
        total = len(hub.repos[WHISPER_REPO].files["model.bin"]) + len(hub.repos[WHISPER_REPO].files["config.json"])
        assert progress[-1].done and progress[-1].done_bytes == progress[-1].total_bytes == total
        steps = [p.done_bytes for p in progress]
        assert steps == sorted(steps) and len(steps) >= 4 and any(p.file == "model.bin" for p in progress)
        assert {m.name for m in client.downloadable_models() if m.downloaded} == {"small", "tiny.en", "base"}

        # A pull cancelled mid-file: its partial file goes, and the model is not downloaded.
        hub.repos[AST_REPO].files["model.safetensors"] += os.urandom(40 << 20)  # 5 s at the slow pace
        hub.slow.add("model.safetensors")
        call = client.pull_model("ast-audioset")
        next(p for p in call if p.file == "model.safetensors")  # its first 10 MiB are in
        ast_folder = cache / f"models--{AST_REPO.replace('/', '--')}"
        assert any(ast_folder.rglob("*.part"))
        call.cancel()
        deadline = time.monotonic() + 5
        while any(ast_folder.rglob("*.part")) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(ast_folder.rglob("*.part"))
        assert not any(m.downloaded for m in client.downloadable_models() if m.name == "ast-audioset")

        for name, code, words in [
            ("whisper-huge", grpc.StatusCode.NOT_FOUND, "no model named 'whisper-huge'"),
            ("xtts_v2", grpc.StatusCode.FAILED_PRECONDITION, "https://coqui.ai/cpml"),
        ]:
            with pytest.raises(SidecarError) as refused:
                list(client.pull_model(name))
            assert refused.value.code == code and words in refused.value.details


def test_pull_on_a_terminal_shows_one_progress_bar(hub, tmp_path):
    """huggingface_hub's own bars (the listing's, its byte counters) would run beside the
    command's: on a terminal only `pulling NAME` shows, with the file and the percentage."""
    import fcntl
    import struct
    import termios
    import threading

    hub.slow.add("model.bin")
    leader, follower = os.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    shown = []
    reader = threading.Thread(target=lambda: shown.extend(iter(lambda: read_some(leader), b"")), daemon=True)
    reader.start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update(HF_HUB_CACHE=str(tmp_path / "cache"), HF_ENDPOINT=hub.endpoint, HF_HUB_DISABLE_TELEMETRY="1")
    env["TERM"] = "xterm"
    done = subprocess.run(
        [*SIDECAR, "models", "pull", "small"], stdin=follower, stdout=follower, stderr=follower, env=env, timeout=120
    )
    os.close(follower)
    reader.join(10)
    screen = b"".join(shown).decode(errors="replace")
    assert done.returncode == 0, screen
    lines = [line for line in screen.replace("\r", "\n").splitlines() if line.strip()]
    assert any(line.startswith("pulling small") and "model.bin" in line for line in lines), lines
    assert any(line.startswith("pulling small") and "100%" in line for line in lines), lines
    assert not [line for line in lines if not line.startswith(("pulling small", "small: "))], lines


def read_some(fd: int) -> bytes:
    try:
        return os.read(fd, 4096)
    except OSError:  # the terminal's other end closed
        return b""

"""Settings the user gives explicitly: `sidecar serve` flags and TOML keys for the CPML
agreement, the saved-voices directory and Demucs repositories, with the environment variables
as fallbacks. Real `sidecar serve` processes serve a tiny random XTTS from a local directory."""

from __future__ import annotations

import dataclasses
import os
import wave

import grpc
import pytest

from sidecar import config
from sidecar.engines import xtts_models
from tests import harness
from tests.xtts_fixtures import REFERENCE, tiny_xtts_dir  # noqa: F401

pytest.importorskip("TTS")

SENTENCE_SECONDS = 0.3  # a random model never stops by itself
SETTINGS_ENV = (config.LICENSE_ENV, config.VOICES_DIR_ENV, config.DEMUCS_REPOS_ENV)
REFUSAL_WORDS = [
    "Coqui Public Model License",
    xtts_models.LICENSE_URL,
    "--agree-coqui-license",
    "agree_coqui_license = true",
    f"{config.LICENSE_ENV}=1",
]


def environment(**settings: str) -> dict:
    """The test's environment without the sidecar's setting variables, plus `settings`."""
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS_ENV}
    return {**env, "HF_HUB_OFFLINE": "1", **settings}


def serving(directory, *flags: str, env: dict | None = None):
    """A SidecarClient to a real `sidecar serve` process started with `flags`, in an environment
    without the sidecar's setting variables unless `env` is given."""
    return harness.serving(directory, *flags, env=env or environment())


def synthesize(client, model_dir, **voice) -> int:
    """Samples of speech from one short Synthesize call."""
    from sidecar.v1 import synthesis_pb2

    options = synthesis_pb2.SynthesisOptions(model=str(model_dir))
    options.max_sentence_duration.FromMilliseconds(int(SENTENCE_SECONDS * 1000))
    responses = list(client.synthesize_stream("Settings work.", "en", options=options, **voice))
    assert responses[-1].WhichOneof("event") == "summary"
    return sum(len(r.audio.data) for r in responses if r.WhichOneof("event") == "audio") // 4


@pytest.fixture(scope="module")
def voices_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("voices")


@pytest.fixture(scope="module")
def flagged(tiny_xtts_dir, voices_dir, data_dir, tmp_path_factory):
    """A server agreed and given its voices directory by flags, with voice "cloned" saved."""
    with serving(
        tmp_path_factory.mktemp("flagged"),
        "--agree-coqui-license",
        "--voices-dir",
        str(voices_dir),
        "--models-dir",
        str(tiny_xtts_dir.parent),
    ) as client:
        client.create_voice(data_dir / REFERENCE, voice_id="cloned", model=str(tiny_xtts_dir))
        yield client


# --- config.load ----------------------------------------------------------------------------


def test_flags_beat_the_toml_file_which_beats_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(config.LICENSE_ENV, "1")
    monkeypatch.setenv(config.VOICES_DIR_ENV, "/env/voices")
    monkeypatch.setenv(config.DEMUCS_REPOS_ENV, os.pathsep.join(["/env/a", "", "/env/b"]))
    from_env = config.load()
    assert from_env.agree_coqui_license is True and from_env.voices_dir == "/env/voices"
    assert from_env.demucs_repositories == ("/env/a", "/env/b")
    toml = tmp_path / "settings.toml"
    toml.write_text('agree_coqui_license = false\nvoices_dir = "/toml/voices"\ndemucs_repositories = ["/toml/repo"]\n')
    from_file = config.load(toml)
    assert (from_file.agree_coqui_license, from_file.voices_dir, from_file.demucs_repositories) == (
        False,
        "/toml/voices",
        ("/toml/repo",),
    )
    flagged = config.load(toml, agree_coqui_license=True, voices_dir="/flag", demucs_repositories=["/f"])
    assert (flagged.agree_coqui_license, flagged.voices_dir, flagged.demucs_repositories) == (True, "/flag", ("/f",))
    monkeypatch.setenv(config.LICENSE_ENV, "yes")  # only an explicit "1" agrees
    assert config.load().agree_coqui_license is False


@pytest.mark.parametrize(
    "text, message",
    [
        ("agree_coqui_licence = true\n", "unknown setting(s) agree_coqui_licence"),
        ('agree_coqui_license = "yes"\n', "agree_coqui_license must be true or false"),
        ('demucs_repositories = "/one/dir"\n', "demucs_repositories must be a list"),
        ('ray_families = "whisper"\n', "ray_families must be a table of tables"),
        ("[ray_families.whisper]\nreplicas = 0\n", "ray family whisper: replicas must be 1 <= min <= max"),
        ("[ray_families.demucs]\ngpus = -1\n", "ray family demucs: cpus must be positive and gpus not negative"),
        ('[ray_families.demucs]\ncpus = "two"\n', "ray_families.demucs: replicas takes MIN or MIN:MAX"),
    ],
)
def test_bad_toml_settings_stop_serve_with_the_key_named(text, message, tmp_path, capsys):
    from sidecar.cli.main import main

    toml = tmp_path / "bad.toml"
    toml.write_text(text)
    assert main(["serve", "--config", str(toml), "--port", "0"]) == 2
    assert message in capsys.readouterr().err


def test_a_family_gets_its_own_ray_deployment_from_the_toml_file_and_the_flag_beats_it(tmp_path):
    toml = tmp_path / "ray.toml"
    toml.write_text(
        'ray_cpus_per_replica = 2\n[ray_families.whisper]\nreplicas = "1:4"\ngpus = 0.25\n[ray_families.demucs]\n'
    )
    loaded = config.load(toml, ray_families={"demucs": {"cpus": "4", "replicas": "2"}})
    assert loaded.ray_families == (
        config.RayFamily("whisper", min_replicas=1, max_replicas=4, gpus=0.25),
        config.RayFamily("demucs", min_replicas=2, max_replicas=2, cpus=4.0),
    )
    assert config.ServerConfig(**dataclasses.asdict(loaded)) == loaded  # as a Serve replica gets it


# --- real `sidecar serve` processes -----------------------------------------------------------


def test_without_agreement_synthesis_is_refused_naming_every_way_to_agree(tiny_xtts_dir, data_dir, tmp_path):
    """Also: the same server answers what needs no licence, and --demucs-repo reaches ListModels."""
    pytest.importorskip("demucs")
    from sidecar.v1 import models_pb2
    from sidecar_client import SidecarError
    from tests import stems_fixtures

    voices, repo = tmp_path / "voices", stems_fixtures.make_tiny_repo(tmp_path / "repo")
    with serving(
        tmp_path, "--voices-dir", str(voices), "--demucs-repo", str(tmp_path / "elsewhere"), "--demucs-repo", str(repo)
    ) as client:
        for call in (
            lambda: list(client.synthesize_stream("Hi.", "en", reference=data_dir / REFERENCE)),
            lambda: client.create_voice(data_dir / REFERENCE, model=str(tiny_xtts_dir)),
        ):
            with pytest.raises(SidecarError) as refused:
                call()
            assert refused.value.code == grpc.StatusCode.FAILED_PRECONDITION
            for word in REFUSAL_WORDS:
                assert word in refused.value.details, refused.value.details
        assert client.list_voices() == []
        listed = [m for m in client.list_models(models_pb2.CAPABILITY_SEPARATION) if m.name == stems_fixtures.TINY_NAME]
    assert not voices.exists()
    assert len(listed) == 1 and listed[0].source == "local" and listed[0].path.startswith(str(repo))


def test_agree_flag_allows_synthesis_and_voices_dir_holds_the_voice(flagged, voices_dir, tiny_xtts_dir):
    assert sorted(p.name for p in voices_dir.iterdir()) == ["cloned.npz"]
    assert [v.voice_id for v in flagged.list_voices()] == ["cloned"]
    assert synthesize(flagged, tiny_xtts_dir, voice_id="cloned") > 0


def test_toml_keys_agree_and_place_the_voices(flagged, voices_dir, tiny_xtts_dir, tmp_path):
    toml = tmp_path / "sidecar.toml"
    toml.write_text(
        f"agree_coqui_license = true\nvoices_dir = {str(voices_dir)!r}\nmodels_dirs = [{str(tiny_xtts_dir.parent)!r}]\n"
    )
    with serving(tmp_path, "--config", str(toml)) as client:
        assert synthesize(client, tiny_xtts_dir, voice_id="cloned") > 0  # found in voices_dir


def test_environment_variables_still_work(flagged, voices_dir, tiny_xtts_dir, monkeypatch):
    """In-process (config.load reads the environment as `sidecar serve` does), for speed."""
    from sidecar_client import SidecarClient
    from tests.harness import RunningSidecar

    monkeypatch.setenv(config.LICENSE_ENV, "1")
    monkeypatch.setenv(config.VOICES_DIR_ENV, str(voices_dir))
    server = RunningSidecar()
    try:
        with SidecarClient(server.address) as client:
            assert synthesize(client, tiny_xtts_dir, voice_id="cloned") > 0
    finally:
        server.stop()


# --- `sidecar say` with its in-process server -----------------------------------------------------


def test_say_agree_flag_reaches_the_in_process_server(tiny_xtts_dir, data_dir, tmp_path, monkeypatch):
    from sidecar.cli.main import main

    for name in SETTINGS_ENV:
        monkeypatch.delenv(name, raising=False)
    out = tmp_path / "said.wav"
    argv = [
        "say",
        "--agree-coqui-license",
        "--reference",
        str(data_dir / REFERENCE),
        "--model",
        str(tiny_xtts_dir),
        "--max-sentence-seconds",
        str(SENTENCE_SECONDS),
        "-o",
        str(out),
        "Hi.",
    ]
    assert main(argv) == 0  # refused without the flag: tests/test_synthesis.py
    with wave.open(str(out), "rb") as wav:
        assert wav.getnframes() > 0

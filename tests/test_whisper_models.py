"""Model resolution, the split-model join and sha256 checks, on real files."""

import hashlib
import pathlib

import pytest

from sidecar.engines import whisper_models as wm
from sidecar.errors import ModelNotFoundError, ModelUnavailableError


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture()
def split_model(tmp_path, monkeypatch):
    """Two importable packages that carry one model.bin in two parts, like the base model."""
    parts = [b"first half of the weights " * 1000, b"second half " * 1000]
    files = {"config.json": b'{"alignment_heads": []}', "tokenizer.json": b"{}", "vocabulary.txt": b"a\nb\n"}
    for i, part in enumerate(parts, start=1):
        data = tmp_path / "site" / f"fake_whisper_part{i}" / "data"
        data.mkdir(parents=True)
        (data.parent / "__init__.py").write_text("")
        (data / f"model.bin.part{i}").write_bytes(part)
        if i == 1:
            for name, content in files.items():
                (data / name).write_bytes(content)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.setenv("SIDECAR_CACHE_DIR", str(tmp_path / "cache"))
    sums = {"model.bin": digest(b"".join(parts)), **{n: digest(c) for n, c in files.items()}}
    model = wm.EmbeddedModel("fake", ("fake_whisper_part1", "fake_whisper_part2"), "data", sums, True)
    return model, tmp_path


def test_split_model_is_joined_once_and_verified(split_model):
    model, root = split_model
    target = wm.materialize_embedded(model)
    assert target == root / "cache" / "models" / "whisper-fake"
    joined = target / "model.bin"
    assert joined.read_bytes().startswith(b"first half") and joined.stat().st_size == 38_000
    stamp = (target / "model.bin").stat().st_mtime_ns
    assert wm.materialize_embedded(model) == target
    assert (target / "model.bin").stat().st_mtime_ns == stamp  # reused, not joined again


def test_damaged_part_is_refused(split_model):
    model, root = split_model
    part = root / "site" / "fake_whisper_part2" / "data" / "model.bin.part2"
    part.write_bytes(part.read_bytes()[:-1] + b"!")
    with pytest.raises(ModelUnavailableError, match="does not match its recorded sha256"):
        wm.materialize_embedded(model)
    assert not (root / "cache" / "models" / "whisper-fake").exists()  # nothing half-made is left


def test_missing_package_names_the_extra():
    model = wm.EmbeddedModel("ghost", ("no_such_package_here",), "data", {}, False)
    with pytest.raises(ModelUnavailableError, match="install the sidecar's `asr` extra"):
        wm.materialize_embedded(model)


def test_embedded_models_resolve_and_verify():
    tiny = wm.resolve("tiny.en")
    assert tiny.source == "embedded" and not wm.is_multilingual(tiny)
    assert wm.sha256_of(pathlib.Path(tiny.path) / "model.bin") == wm.EMBEDDED["tiny.en"].sha256["model.bin"]
    base = wm.resolve("base")
    assert wm.is_multilingual(base) and (pathlib.Path(base.path) / ".verified").is_file()
    assert wm.resolve(None).name == wm.DEFAULT_MODEL


def test_local_directories(tmp_path):
    from tests.tiny_whisper import build_tiny_whisper

    model_dir = build_tiny_whisper(tmp_path / "m", multilingual=False)
    resolved = wm.resolve(str(model_dir))
    assert resolved.source == "local" and not wm.is_multilingual(resolved)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelNotFoundError, match="is not a CTranslate2 Whisper model directory"):
        wm.resolve(str(tmp_path / "empty"))


def test_unknown_names_list_what_is_installed():
    with pytest.raises(ModelNotFoundError, match=r"installed: tiny.en, base"):
        wm.resolve("large-v3")  # not in the (empty, offline) hub cache

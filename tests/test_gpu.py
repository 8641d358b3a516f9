"""The CUDA path: faster-whisper's batched pipeline through the server. Skipped without a GPU."""

import pytest

from sidecar.runtime import devices
from tests.conftest import word_error_rate
from tests.harness import RunningSidecar

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(devices.ct2_cuda_device_count() == 0, reason="no CUDA GPU visible to ctranslate2"),
]


def test_batched_gpu_transcription(librispeech, data_dir):
    from sidecar_client import SidecarClient

    server = RunningSidecar(device="cuda")
    try:
        with SidecarClient(server.address) as client:
            transcript = client.transcribe(data_dir / "demo-1089.flac")
        assert transcript.info.device == "cuda"
        reference = " ".join(librispeech[u][1] for u in sorted(librispeech))
        assert word_error_rate(reference, " ".join(s.text for s in transcript.segments)) <= 0.10
    finally:
        server.stop()


def test_a_model_on_the_gpu_counts_the_gpu_memory_ctranslate2_takes():
    # torch does not see CTranslate2's allocations; the driver does, and the budget counts them.
    from sidecar.config import ServerConfig
    from sidecar.engines import whisper
    from sidecar.runtime.registry import ModelRegistry

    settings = ServerConfig.model_settings_for("cuda")
    resolved = whisper.MODEL_FAMILY.resolve(None, settings)
    before = devices.gpu_memory_used()
    assert before is not None, "a GPU ctranslate2 sees, and no driver that NVML answers for"
    entry = ModelRegistry().get(resolved, lambda: whisper.MODEL_FAMILY.load(resolved, settings))
    added = devices.gpu_memory_used() - before
    assert entry.device == "cuda"
    assert added > 30 << 20, added  # tiny.en's 39 M weights, in float16 on the GPU
    assert entry.memory_bytes >= added

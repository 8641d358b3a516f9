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

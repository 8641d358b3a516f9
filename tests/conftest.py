import os
import pathlib
import re

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # every model in the suite resolves locally

DATA = pathlib.Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def data_dir() -> pathlib.Path:
    return DATA


@pytest.fixture(scope="session")
def librispeech() -> dict[str, tuple[pathlib.Path, str]]:
    """utterance id -> (flac path, reference transcript)."""
    refs = {}
    for trans in DATA.glob("*.trans.txt"):
        for line in trans.read_text().splitlines():
            uid, text = line.split(" ", 1)
            refs[uid] = (DATA / f"{uid}.flac", text)
    return refs


@pytest.fixture(scope="session")
def sidecar_server(tmp_path_factory):
    from tests import ray_fixtures
    from tests.harness import RunningSidecar

    if os.environ.get(ray_fixtures.RAY_SERVE_ENV):  # tests/test_ray_serve.py
        # The whisper family's calls go to a deployment of its own, autoscaled, the rest to the
        # sidecar's: 2 CPUs at most, those of a CI machine.
        server = ray_fixtures.RaySidecar(
            tmp_path_factory.mktemp("ray"), "--max-waiting-jobs", "4", "--ray-family", "whisper:replicas=1:2,cpus=0.5"
        )
    else:
        server = RunningSidecar(max_waiting_jobs=4)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def m2m100(tmp_path_factory):
    """A tiny random M2M-100 converted to CTranslate2, as the server's cache would hold it: its
    directory, for --translation-model or TranslationOptions.model."""
    pytest.importorskip("sentencepiece")
    from sidecar.engines import translation_models
    from tests import translation_fixtures

    checkpoint = translation_fixtures.build_m2m100(tmp_path_factory.mktemp("m2m") / "tiny-m2m100")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SIDECAR_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        return translation_models.convert(checkpoint)


@pytest.fixture()
def client(sidecar_server):
    from sidecar_client import SidecarClient

    with SidecarClient(sidecar_server.address) as c:
        yield c


def normalize(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9' ]+", " ", text.lower().replace("-", " ")).split()


def word_error_rate(reference: str, hypothesis: str) -> float:
    ref = normalize(reference)
    return _edit_distances(ref, normalize(hypothesis))[-1] / max(1, len(ref))


def word_error_rate_of_start(reference: str, hypothesis: str) -> float:
    """The WER of a hypothesis that transcribes the reference up to a point the test cannot
    know (a recording stopped while the file played): against the reference's start that it is
    closest to. Cutting the reference at the hypothesis's length instead counts a dropped word
    twice, once as deleted and once as the word after the cut inserted."""
    ref = normalize(reference)
    distances = _edit_distances(ref, normalize(hypothesis))
    end = min(range(1, len(distances)), key=lambda i: (distances[i], -i), default=0)
    return distances[end] / max(1, end)


def _edit_distances(ref: list[str], hyp: list[str]) -> list[int]:
    """The word edit distance from `hyp` to each start of `ref`: ref[:0], ref[:1], ... ref."""
    prev = list(range(len(hyp) + 1))
    distances = [prev[-1]]
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
        distances.append(prev[-1])
    return distances

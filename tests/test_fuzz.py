"""Property-based fuzzing of every v1 RPC against a real server: whatever a client sends, the
answer is OK or a named status, never INTERNAL or UNKNOWN, and the server keeps serving.

A fixed, derandomized budget here; `bench/fuzz.py` runs longer and reports peak memory.
"""

from __future__ import annotations

import time

import grpc
import pytest

hypothesis = pytest.importorskip("hypothesis")

from hypothesis import HealthCheck, given, settings  # noqa: E402

from sidecar.v1 import models_pb2  # noqa: E402
from tests import fuzzing  # noqa: E402

EXAMPLES_PER_RPC = 8
NOT_NAMED = (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN)


@pytest.fixture(scope="module")
def server():
    from tests.harness import RunningSidecar

    server = RunningSidecar(max_audio_seconds=30.0, allow_client_model_paths=False, max_waiting_jobs=4)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def channel(server):
    with grpc.insecure_channel(server.address) as ch:
        yield ch


def test_every_rpc_is_fuzzed():
    names = {rpc.name for rpc in fuzzing.rpcs()}
    assert len(names) == 19
    assert {"TranscribeFile", "StreamingRecognize", "ListModels", "PullModel", "DeleteSpeaker"} <= names


@pytest.mark.parametrize("rpc", fuzzing.rpcs(), ids=lambda rpc: rpc.name)
def test_no_request_gets_an_unnamed_status(server, channel, rpc):
    codes = []

    @settings(
        max_examples=EXAMPLES_PER_RPC,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(fuzzing.requests(rpc))
    def check(sent):
        code = fuzzing.call(channel, rpc, sent)
        codes.append(code)
        assert code not in NOT_NAMED, (rpc.name, code, sent)

    check()
    # A request with no fields has one value: hypothesis sends it once.
    assert len(codes) >= EXAMPLES_PER_RPC // 2 or not rpc.method.input_type.fields
    # Every place in the job queue is given back once the jobs have ended.
    deadline = time.monotonic() + 60
    while server.runtime.jobs.running + server.runtime.jobs.waiting:
        assert time.monotonic() < deadline, "a call kept its place in the job queue"
        time.sleep(0.1)
    # The server still answers a plain request.
    plain = fuzzing.call(channel, fuzzing.rpc_named("ListModels"), [models_pb2.ListModelsRequest()])
    assert plain == grpc.StatusCode.OK

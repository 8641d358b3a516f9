"""Voice cloning end to end: a tiny random XTTS through coqui-tts' real inference, served over
gRPC and driven from the CLI; saved voices; bad input answered with clear errors."""

from __future__ import annotations

import concurrent.futures
import time
import wave

import grpc
import numpy as np
import pytest

from sidecar.config import ServerConfig
from sidecar.engines import xtts, xtts_models
from sidecar.errors import InvalidAudioError, InvalidOptionsError, LimitExceededError
from tests.xtts_fixtures import REFERENCE, SHORT_REFERENCE, tiny_xtts_dir, xtts_sidecar  # noqa: F401

SENTENCE_SECONDS = 0.3  # 7 audio tokens per sentence: a random model never stops by itself
TOKEN_SAMPLES = 1024 * 24_000 / 22_050  # output samples per audio token


@pytest.fixture()
def voice_client(xtts_sidecar):
    from sidecar_client import SidecarClient

    with SidecarClient(xtts_sidecar.address) as client:
        yield client


@pytest.fixture(scope="module")
def narrator(xtts_sidecar, tiny_xtts_dir, data_dir) -> str:
    """A voice saved once for the tests that only need some voice (conditioning takes seconds)."""
    from sidecar_client import SidecarClient

    with SidecarClient(xtts_sidecar.address) as client:
        return client.create_voice(data_dir / REFERENCE, voice_id="narrator", model=str(tiny_xtts_dir)).voice_id


def options(model_dir, **fields):
    from sidecar.v1 import synthesis_pb2

    o = synthesis_pb2.SynthesisOptions(model=str(model_dir), **fields)
    o.max_sentence_duration.FromMilliseconds(int(SENTENCE_SECONDS * 1000))
    return o


def collect(call):
    """(events with their arrival times, joined f32 audio)."""
    events = []
    for response in call:
        events.append((time.perf_counter(), response.WhichOneof("event"), response))
    audio = b"".join(r.audio.data for _, kind, r in events if kind == "audio")
    return events, np.frombuffer(audio, dtype="<f4")


def seconds(d) -> float:
    return d.seconds + d.nanos / 1e9


def expect_error(code, words, call):
    from sidecar_client import SidecarError

    with pytest.raises(SidecarError) as caught:
        result = call()
        if not isinstance(result, list) and hasattr(result, "__iter__"):
            list(result)
    assert caught.value.code == code, caught.value
    for word in words:
        assert word in caught.value.details, caught.value.details
    return caught.value.details


# --- pure parts ---------------------------------------------------------------------------


def test_split_sentences_keeps_abbreviations_and_wraps_long_ones():
    text = "Dr. Smith arrived at 3.5 p.m. today!  Was it late?\n\nYes… it was. 你好。再见！"
    assert xtts.split_sentences(text) == [
        "Dr. Smith arrived at 3.5 p.m. today!",
        "Was it late?",
        "Yes… it was.",
        "你好。",
        "再见！",
    ]
    long = " ".join(["word"] * 100) + "."
    pieces = xtts.split_sentences(long, char_limit=50)
    assert all(len(p) <= 50 for p in pieces) and " ".join(pieces) == long


def test_text_and_reference_checks_name_the_problem():
    with pytest.raises(InvalidOptionsError, match="empty"):
        xtts.check_text("  \n ")
    with pytest.raises(LimitExceededError, match=f"at most {xtts.MAX_TEXT_CHARS}"):
        xtts.check_text("a" * (xtts.MAX_TEXT_CHARS + 1))
    rate = xtts.REFERENCE_SAMPLE_RATE
    with pytest.raises(InvalidAudioError, match="2.0 s long"):
        xtts.check_reference(np.full(2 * rate, 0.1, np.float32), rate)
    quiet = np.zeros(8 * rate, np.float32)
    quiet[:rate] = 0.2  # one loud second in eight
    with pytest.raises(InvalidAudioError, match="silent"):
        xtts.check_reference(quiet, rate)
    with pytest.raises(InvalidOptionsError, match="not one the model speaks"):
        xtts.SynthesisOptions(language="xx").validate(("en", "de"))
    with pytest.raises(InvalidOptionsError, match="speed"):
        xtts.SynthesisOptions(language="en", speed=3).validate(("en",))


def test_voice_store_is_exclusive_and_survives_a_damaged_file(tmp_path):
    from sidecar.errors import ModelUnavailableError
    from sidecar.runtime import voices

    store = voices.VoiceStore(tmp_path)
    record = voices.make_record("", "Name", "model", "abc", "", 7.0)
    assert record.voice_id.startswith("voice-")
    store.save(record, {"gpt_cond_latent": np.ones((1, 2, 3))})
    with pytest.raises(voices.VoiceExistsError):
        store.save(record, {})
    (tmp_path / "broken.npz").write_bytes(b"not a voice")
    assert [r.voice_id for r in store.list()] == [record.voice_id]
    with pytest.raises(ModelUnavailableError, match="damaged"):
        store.get("broken")
    loaded, arrays = store.get(record.voice_id)
    assert loaded == record and arrays["gpt_cond_latent"].shape == (1, 2, 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.npz", f"{record.voice_id}.npz"]


# --- through gRPC -------------------------------------------------------------------------


def test_synthesize_streams_sentences_from_inline_reference(voice_client, tiny_xtts_dir, data_dir):
    text = "First sentence here. A second one follows! And a third?"
    sent = time.perf_counter()
    events, audio = collect(
        voice_client.synthesize_stream(
            text, "en-US", reference=data_dir / REFERENCE, transcript="anything", options=options(tiny_xtts_dir)
        )
    )
    kinds = [kind for _, kind, _ in events]
    assert kinds[-1] == "summary" and "info" in kinds
    assert kinds.index("info") < kinds.index("audio")
    info = events[kinds.index("info")][2].info
    assert list(info.sentences) == ["First sentence here.", "A second one follows!", "And a third?"]
    assert info.language_code == "en" and info.device == "cpu" and info.voice_id == ""
    assert info.audio_format.sample_rate_hertz == 24_000 and info.audio_format.channel_count == 1
    sentences = [r.sentence for _, kind, r in events if kind == "sentence"]
    assert [s.index for s in sentences] == [0, 1, 2]
    # Chunks are contiguous, and each sentence's audio arrives before the next sentence's.
    offset = 0.0
    for _, kind, r in events:
        if kind == "audio":
            assert seconds(r.audio.start_offset) == pytest.approx(offset, abs=1e-4)
            offset += len(r.audio.data) / 4 / 24_000
    assert seconds(sentences[-1].time_range.end_offset) == pytest.approx(len(audio) / 24_000, abs=1e-4)
    bound = SENTENCE_SECONDS * xtts.AUDIO_TOKENS_PER_SECOND
    assert 0 < len(audio) <= 3 * (np.ceil(bound) + 1) * TOKEN_SAMPLES
    assert np.isfinite(audio).all() and np.abs(audio).max() <= 1.0 and audio.std() > 0
    # Streaming: the first audio reaches the client long before the last sentence is done
    # (after about a third of the generation time, sentences being alike).
    info_at = events[kinds.index("info")][0]
    first_audio = next(t for t, kind, _ in events if kind == "audio")
    last_sentence = [t for t, kind, _ in events if kind == "sentence"][-1]
    assert last_sentence - first_audio > 0.4 * (last_sentence - info_at)
    assert sent < info_at
    summary = events[-1][2].summary
    assert summary.sentence_count == 3 and summary.chunk_count >= 3
    assert 0 < seconds(summary.first_audio_duration) < seconds(summary.processing_duration)
    assert seconds(summary.audio_duration) == pytest.approx(len(audio) / 24_000, abs=1e-3)
    assert summary.speed_factor > 0


def test_voices_create_list_reuse_delete(voice_client, narrator, tiny_xtts_dir, data_dir):
    from sidecar_client import client as client_module

    reference = (data_dir / REFERENCE).read_bytes()
    chunks = [reference[i : i + 16_384] for i in range(0, len(reference), 16_384)]
    assert len(chunks) > 3  # the reference really arrives in several messages
    voice = voice_client.create_voice(
        b"".join(chunks),
        voice_id="guest",
        display_name="Guest",
        transcript="he hoped there would be stew",
        model=str(tiny_xtts_dir),
        audio_format=client_module.audio_format_for("ref.flac"),
    )
    assert voice.voice_id == "guest" and voice.model == str(tiny_xtts_dir.resolve())
    assert seconds(voice.reference_duration) == pytest.approx(10.4, abs=0.1)
    listed = voice_client.list_voices()
    assert [v.voice_id for v in listed] == ["guest", narrator]
    assert listed[0].display_name == "Guest" and listed[0].transcript.startswith("he hoped")
    assert voice_client.list_voices(model="elsewhere") == []
    expect_error(
        grpc.StatusCode.INVALID_ARGUMENT,
        ["guest", "already exists"],
        lambda: voice_client.create_voice(reference, voice_id="guest", model=str(tiny_xtts_dir)),
    )

    # The saved voice needs no model name (it knows its own) and a seed repeats the audio.
    from sidecar.v1 import synthesis_pb2

    seeded = synthesis_pb2.SynthesisOptions(seed=7)
    seeded.max_sentence_duration.FromMilliseconds(200)
    first = collect(voice_client.synthesize_stream("Same words.", "en", voice_id="guest", options=seeded))
    again = collect(voice_client.synthesize_stream("Same words.", "en", voice_id="guest", options=seeded))
    assert next(r.info for _, kind, r in first[0] if kind == "info").voice_id == "guest"
    assert len(first[1]) > 0 and np.array_equal(first[1], again[1])

    deleted = voice_client.delete_voice("guest")
    assert deleted.voice_id == "guest" and [v.voice_id for v in voice_client.list_voices()] == [narrator]
    expect_error(
        grpc.StatusCode.NOT_FOUND, ["guest"], lambda: voice_client.synthesize_stream("Hi.", "en", voice_id="guest")
    )
    expect_error(grpc.StatusCode.NOT_FOUND, ["guest"], lambda: voice_client.delete_voice("guest"))


def test_bad_requests_get_clear_errors_and_the_server_keeps_serving(voice_client, narrator, tiny_xtts_dir, data_dir):
    ref = data_dir / REFERENCE
    model = options(tiny_xtts_dir)
    bad = grpc.StatusCode.INVALID_ARGUMENT
    say, tiny = voice_client.synthesize_stream, str(tiny_xtts_dir)
    expect_error(bad, ["text is empty"], lambda: say(" ", "en", reference=ref, options=model))
    expect_error(
        bad,
        ["5001 characters", "at most 5000"],
        lambda: voice_client.synthesize_stream("a" * 5001, "en", reference=ref, options=model),
    )
    expect_error(bad, ["`voice_id`", "`reference`"], lambda: voice_client.synthesize_stream("Hi.", "en", options=model))
    expect_error(
        bad,
        ["2.1 s long", "at least 6 s"],
        lambda: say("Hi.", "en", reference=data_dir / SHORT_REFERENCE, options=model),
    )
    from sidecar.v1 import audio_pb2
    from sidecar_client import client as client_module

    silence = np.zeros(8 * 16_000, dtype="<i2").tobytes()
    pcm = audio_pb2.AudioFormat(
        pcm=audio_pb2.PcmFormat(encoding=audio_pb2.AUDIO_ENCODING_PCM_S16LE, sample_rate_hertz=16_000, channel_count=1)
    )
    expect_error(
        bad,
        ["silent"],
        lambda: voice_client.synthesize_stream("Hi.", "en", reference=silence, reference_format=pcm, options=model),
    )
    expect_error(bad, ["silent"], lambda: voice_client.create_voice(silence, audio_format=pcm, model=tiny))
    expect_error(
        bad,
        ["not a readable audio"],
        lambda: voice_client.synthesize_stream(
            "Hi.",
            "en",
            reference=b"not audio at all",
            reference_format=client_module.audio_format_for("x.wav"),
            options=model,
        ),
    )
    expect_error(bad, ["'xx'", "de, en"], lambda: say("Hi.", "xx", reference=ref, options=model))
    expect_error(
        bad,
        ["speed"],
        lambda: voice_client.synthesize_stream("Hi.", "en", reference=ref, options=options(tiny_xtts_dir, speed=5.0)),
    )
    expect_error(bad, ["Bad_Id", "a-z"], lambda: voice_client.create_voice(ref, voice_id="Bad_Id", model=tiny))
    expect_error(
        grpc.StatusCode.NOT_FOUND,
        ["no-such-voice", "saved:"],
        lambda: voice_client.synthesize_stream("Hi.", "en", voice_id="no-such-voice"),
    )
    expect_error(
        grpc.StatusCode.NOT_FOUND,
        ["config.json", "model.pth"],
        lambda: voice_client.synthesize_stream("Hi.", "en", reference=ref, options=options(tiny_xtts_dir.parent)),
    )
    # Coqui's XTTS v2 is not in this machine's cache, and downloads are off in tests.
    expect_error(
        grpc.StatusCode.NOT_FOUND,
        [xtts_models.HUB_REPO, "HF_HUB_OFFLINE"],
        lambda: voice_client.synthesize_stream("Hi.", "en", reference=ref),
    )
    # The same server still answers a good request.
    events, audio = collect(voice_client.synthesize_stream("Still here.", "de", voice_id=narrator, options=model))
    assert events[-1][1] == "summary" and len(audio) > 0


def test_cancelling_mid_stream_frees_the_job(xtts_sidecar, voice_client, narrator, tiny_xtts_dir):
    call = voice_client.synthesize_stream(
        "One here. Two here. Three here. Four here.", "en", voice_id=narrator, options=options(tiny_xtts_dir)
    )
    for response in call:
        if response.WhichOneof("event") == "audio":
            call.cancel()  # gone after the first chunk
            break
    deadline = time.monotonic() + 30
    while xtts_sidecar.runtime.jobs.running and time.monotonic() < deadline:
        time.sleep(0.05)
    assert xtts_sidecar.runtime.jobs.running == 0  # the slot is free again
    events, audio = collect(
        voice_client.synthesize_stream("Next one.", "en", voice_id=narrator, options=options(tiny_xtts_dir))
    )
    assert events[-1][1] == "summary" and len(audio) > 0


def test_licence_must_be_agreed_explicitly(tiny_xtts_dir, data_dir, monkeypatch):
    from sidecar import config
    from sidecar_client import SidecarClient
    from tests.harness import RunningSidecar

    monkeypatch.setenv(config.LICENSE_ENV, "yes")  # only an explicit "1" agrees
    refused = grpc.StatusCode.FAILED_PRECONDITION
    words = ["Coqui Public Model License", config.LICENSE_ENV, "--agree-coqui-license"]
    server = RunningSidecar()
    try:
        with SidecarClient(server.address) as client:  # refused before any weights are touched
            expect_error(
                refused,
                words,
                lambda: client.synthesize_stream(
                    "Hi.", "en", reference=data_dir / REFERENCE, options=options(tiny_xtts_dir)
                ),
            )
            expect_error(refused, words, lambda: client.create_voice(data_dir / REFERENCE, model=str(tiny_xtts_dir)))
    finally:
        server.stop()


def test_engine_streams_within_a_sentence(xtts_sidecar, voice_client, narrator, tiny_xtts_dir):
    """Several chunks per sentence, bounded length, and ListModels reports the loaded model."""
    from sidecar.runtime import voices
    from sidecar.v1 import models_pb2

    listed = voice_client.list_models(models_pb2.CAPABILITY_SYNTHESIS)
    loaded = [m for m in listed if m.path == str(tiny_xtts_dir.resolve())]
    assert loaded and loaded[0].loaded and loaded[0].family == "xtts"
    settings = xtts_sidecar.runtime.model_settings
    engine = xtts_sidecar.runtime.models.find(xtts_models.resolve(str(tiny_xtts_dir), settings)).model
    voice = xtts.Conditioning(**voices.VoiceStore(xtts_sidecar.config.voices_dir).get(narrator)[1])
    opts = xtts.SynthesisOptions(language="en", max_sentence_seconds=0.15, chunk_tokens=2, seed=1)
    assert engine.sentence_tokens("One.", opts) == 4
    # A worker thread, as in the server: torch from the main thread ran several times slower
    # here (its OpenMP team spins on oversubscribed cores).
    with concurrent.futures.ThreadPoolExecutor(1) as worker:
        items = worker.submit(lambda: list(engine.synthesize(engine.plan("One.", opts), voice, opts))).result()
    chunks, spoken = items[:-1], items[-1]
    assert all(isinstance(c, xtts.SpeechChunk) for c in chunks) and spoken.text == "One."
    assert len(chunks) == 3  # after tokens 2 and 4, then the held-back overlap at the end
    total = sum(c.samples.size for c in chunks)
    assert total <= 5 * TOKEN_SAMPLES
    assert [c.start for c in chunks] == pytest.approx(
        [sum(c.samples.size for c in chunks[:i]) / engine.sample_rate for i in range(3)]
    )
    assert spoken.end == pytest.approx(total / engine.sample_rate)


@pytest.mark.gpu
def test_engine_runs_on_cuda(tiny_xtts_dir, data_dir):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU here")
    from sidecar.media import audio as media

    engine, device, _ = xtts.MODEL_FAMILY.load_alone(
        str(tiny_xtts_dir), ServerConfig.model_settings_for("auto", agree_coqui_license=True)
    )
    assert device == "cuda"
    reference = media.decode_file(data_dir / REFERENCE, sample_rate=xtts.REFERENCE_SAMPLE_RATE, mono=True)
    opts = xtts.SynthesisOptions(language="en", max_sentence_seconds=SENTENCE_SECONDS, seed=1)
    items = list(engine.synthesize(engine.plan("On the GPU.", opts), engine.condition(reference.mono()), opts))
    audio = np.concatenate([i.samples for i in items if isinstance(i, xtts.SpeechChunk)])
    assert audio.size > 0 and np.isfinite(audio).all()


# --- the CLI ------------------------------------------------------------------------------


def test_cli_say_writes_wav_and_manages_voices(xtts_sidecar, narrator, tiny_xtts_dir, data_dir, tmp_path, capsys):
    from sidecar.cli.main import main

    server = ["--server", xtts_sidecar.address]
    out = tmp_path / "line.wav"
    limit = ["--max-sentence-seconds", str(SENTENCE_SECONDS), "--model", str(tiny_xtts_dir)]
    assert (
        main(
            [
                "say",
                *server,
                "--reference",
                str(data_dir / REFERENCE),
                "--save-voice",
                "cli-voice",
                "--model",
                str(tiny_xtts_dir),
            ]
        )
        == 0
    )
    assert main(["say", *server, "--list-voices"]) == 0
    assert "cli-voice" in capsys.readouterr().out
    assert (
        main(["say", *server, "--voice", narrator, *limit, "-o", str(out), "Hello from the command line. Twice."]) == 0
    )
    err = capsys.readouterr().err
    assert "2 sentence(s)" in err and "first audio after" in err
    with wave.open(str(out), "rb") as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (24_000, 1, 2)
        assert wav.getnframes() > 0
    before = out.read_bytes()
    assert main(["say", *server, "--voice", "cli-voice", *limit, "-o", str(out), "Again."]) == 2
    assert "pass --force" in capsys.readouterr().err and out.read_bytes() == before
    assert main(["say", *server, "--voice", "cli-voice", *limit, "-o", str(out), "   "]) == 2
    assert "empty" in capsys.readouterr().err
    assert main(["say", *server, "--voice", "nobody", *limit, "-o", str(tmp_path / "x.wav"), "Hi."]) == 1
    assert "NOT_FOUND" in capsys.readouterr().err and not (tmp_path / "x.wav").exists()
    assert main(["say", *server, "--delete-voice", "cli-voice"]) == 0
    assert [p.name for p in tmp_path.iterdir()] == ["line.wav"]  # no staging files left


def test_cli_in_process_server_needs_the_agreement(tiny_xtts_dir, data_dir, tmp_path, capsys, monkeypatch):
    from sidecar import config
    from sidecar.cli.main import main

    monkeypatch.delenv(config.LICENSE_ENV, raising=False)
    out = tmp_path / "x.wav"
    assert (
        main(["say", "--reference", str(data_dir / REFERENCE), "--model", str(tiny_xtts_dir), "-o", str(out), "Hi."])
        == 1
    )
    err = capsys.readouterr().err
    assert "FAILED_PRECONDITION" in err and "--agree-coqui-license" in err and not out.exists()

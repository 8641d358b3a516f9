"""StreamingRecognize through a real sidecar on loopback, with tiny.en on real speech."""

from __future__ import annotations

import threading
import time

import grpc
import numpy as np
import pytest

from sidecar.media import audio as media
from sidecar.v1 import audio_pb2, transcription_pb2, translation_pb2
from sidecar.v1 import streaming_recognition_pb2 as pb
from sidecar_client import SidecarClient, SidecarError
from sidecar_client.client import streaming_config
from sidecar_common.durations import seconds
from tests.conftest import normalize, word_error_rate
from tests.streaming_fixtures import (
    SAMPLE_RATE,
    boundary_errors,
    demo,
    paced_long_form,
    pcm_chunks,
    repeated_phrases,
    sentence_ends,
    speech,
    write_wav,
)


def collect(client, samples: np.ndarray, *, pace: float = 0.0, **config) -> dict:
    """Streams audio; returns finals, interims, events, lags and when each response came."""
    out = {
        "finals": [],
        "words": [],
        "interims": [],
        "events": [],
        "lags": [],
        "infos": [],
        "sent": [],
        "times": [],
        "processed": [],
    }
    started = time.perf_counter()
    call = client.streaming_recognize(
        pcm_chunks(samples, pace=pace, sent=out["sent"]), config=streaming_config(SAMPLE_RATE, **config)
    )
    for r in call:
        out["times"].append(time.perf_counter() - started)
        if r.HasField("info"):
            out["infos"].append(r.info)
        if r.HasField("final_result"):
            assert r.final_result.is_final and r.final_result.stability == 1.0
            out["finals"].append(r.final_result.transcript)
            out["words"].extend(r.final_result.words)
        if r.HasField("interim_result"):
            assert not r.interim_result.is_final and 0 <= r.interim_result.stability <= 1
            out["interims"].append((time.perf_counter() - started, r.interim_result.transcript))
            if r.interim_result.words:
                out["processed"].append(seconds(r.processed_duration))
        if r.speech_event == pb.SPEECH_EVENT_END and "end_processed" not in out:
            out["end_processed"] = seconds(r.processed_duration)
        if r.speech_event:
            out["events"].append((r.speech_event, seconds(r.speech_event_offset)))
        out["lags"].append(seconds(r.lag_duration))
        assert seconds(r.received_duration) >= seconds(r.processed_duration) - 1e-6
    out["sent"] = [t - started for t in out["sent"]]
    return out


def offline_demo(client):
    """The offline transcript of the demo with the same model, and the demo itself."""
    audio, reference = demo()
    transcript = client.transcribe(
        media.encode_pcm(audio[None, :], media.PCM_F32LE),
        audio_format=audio_pb2.AudioFormat(
            pcm=audio_pb2.PcmFormat(
                encoding=audio_pb2.AUDIO_ENCODING_PCM_F32LE, sample_rate_hertz=SAMPLE_RATE, channel_count=1
            )
        ),
        options=transcription_pb2.TranscriptionOptions(model="tiny.en"),
    )
    return audio, reference, " ".join(s.text for s in transcript.segments)


def test_faster_than_real_time_matches_offline_accuracy(client):
    audio, reference, offline = offline_demo(client)
    got = collect(client, audio, model="tiny.en")  # as fast as the server takes it
    hypothesis = " ".join(got["finals"])
    offline_wer, stream_wer = word_error_rate(reference, offline), word_error_rate(reference, hypothesis)
    # 10 % relative, plus 3 words of slack: on 58 words one word is 1.7 %, and tiny.en's
    # choice on a single word flips with the audio's start and prompt.
    assert stream_wer <= offline_wer * 1.1 + 3 / len(normalize(reference)), (hypothesis, offline)
    assert boundary_errors(reference, got["finals"]) == []
    starts = [seconds(w.time_range.start_offset) for w in got["words"]]
    assert starts == sorted(starts)  # final words come in order, never again
    assert got["words"][-1].time_range.end_offset.ToNanoseconds() <= len(audio) / SAMPLE_RATE * 1e9
    assert [info.model for info in got["infos"]] == ["tiny.en"]
    begins = [at for kind, at in got["events"] if kind == pb.SPEECH_EVENT_BEGIN]
    ends = [at for kind, at in got["events"] if kind == pb.SPEECH_EVENT_END]
    assert len(begins) == len(ends) >= 3  # the demo's four utterances (two may merge)
    assert all(b < e for b, e in zip(begins, ends))


# How much worse than the offline transcription of the same audio, on the same machine, the
# stream may be. int8 decoding differs across CPUs: 0.068 offline and 0.066-0.078 streamed on
# the CPU this was tuned on, but 0.056 offline and 0.082 streamed on an AVX-512 Xeon. That gap
# is an open defect; this bound keeps it from growing.
STREAM_WER_MARGIN = 0.03


def test_long_form_read_as_an_address_captions_as_well_as_offline(client, tmp_path):
    """4.4 min of one reader with 46 pauses mid-sentence, as an address is read, as fast as
    the server takes it. Each pause ends an utterance; it must not end the sentence (a full
    stop and a capital at most pauses: 48 sentence ends where the text has 13, before the
    words before a pause stayed in the buffer) nor make Whisper say a phrase twice ("produced
    the block books produced the block books")."""
    audio, reference = paced_long_form()
    got = collect(client, audio, model="tiny.en")
    text = "".join(w.text for w in got["words"])
    offline_text = " ".join(s.text for s in client.transcribe(write_wav(tmp_path / "long.wav", audio)).segments)
    offline = word_error_rate(reference, offline_text)
    assert word_error_rate(reference, text) <= offline + STREAM_WER_MARGIN, (offline, text)
    assert repeated_phrases(reference, text, shortest=2) == 0, text
    right, said, meant = sentence_ends(reference, text)
    assert said <= 1.6 * meant and right >= meant / 2, (right, said, meant, text)  # 20 of 13 on an AVX-512 Xeon
    marks = [k for k, w in enumerate(got["words"]) if not any(c.isalnum() for c in w.text)]
    for k in marks:  # a mark settled later comes alone, at the end of the word it ends
        assert k > 0 and got["words"][k].time_range.end_offset == got["words"][k - 1].time_range.end_offset
        assert got["words"][k].time_range.start_offset == got["words"][k].time_range.end_offset
        assert got["words"][k].text in {".", ",", "?", "!", ";", ":"}
    assert marks, "no word's punctuation waited for what followed it"


def test_real_time_pace_gives_results_while_audio_still_arrives(client):
    audio, reference = speech("1089-134691-0001", lead=0.3, tail=2.5)
    got = collect(client, audio, pace=1.0)
    assert word_error_rate(reference, " ".join(got["finals"])) <= 0.15
    # Results came from part of the audio, decoded while the rest was still being recorded
    # (how soon in wall time depends on the CPU: the benchmark measures that).
    assert got["interims"] and min(got["processed"]) < len(audio) / SAMPLE_RATE / 2
    # Speech ended where it did and was finalized by the endpoint, not by the half-close.
    assert (pb.SPEECH_EVENT_END, pytest.approx(5.2, abs=0.3)) in got["events"]
    assert got["end_processed"] < len(audio) / SAMPLE_RATE


def test_fast_stream_of_several_utterances_with_no_interim_results(client):
    audio, reference = speech("1089-134691-0000", "1089-134691-0001", pause=1.0)
    got = collect(client, audio, interim_results=False)
    assert got["interims"] == []
    assert word_error_rate(reference, " ".join(got["finals"])) <= 0.15
    assert boundary_errors(reference, got["finals"]) == []


def test_silence_and_noise_produce_no_text(client, data_dir):
    rng = np.random.default_rng(6)
    silence = np.zeros(6 * SAMPLE_RATE, np.float32)
    noise = (rng.standard_normal(6 * SAMPLE_RATE) * 0.05).astype(np.float32)
    hum = (0.1 * np.sin(2 * np.pi * 50 * np.arange(4 * SAMPLE_RATE) / SAMPLE_RATE)).astype(np.float32)
    got = collect(client, np.concatenate([silence, noise, hum]))
    assert got["finals"] == [] and all(text == "" for _, text in got["interims"])
    # Without VAD every stretch is decoded, and the stream guards still keep silence empty.
    got = collect(client, silence[: 3 * SAMPLE_RATE], voice_activity=pb.VoiceActivityConfig(enabled=False))
    assert got["finals"] == []


def test_resampled_stereo_44k_float_input(client):
    audio, reference = speech("1089-134691-0000", lead=0.3, tail=0.8)
    stereo = media.resample(media.Audio(np.stack([audio, audio]), SAMPLE_RATE), 44_100)
    data = media.encode_pcm(stereo.samples, media.PCM_F32LE)
    odd = [data[i : i + 1001] for i in range(0, len(data), 1001)]  # frames straddle chunks
    config = streaming_config(44_100, channel_count=2, encoding=audio_pb2.AUDIO_ENCODING_PCM_F32LE)
    finals = [
        r.final_result.transcript for r in client.streaming_recognize(odd, config=config) if r.HasField("final_result")
    ]
    assert word_error_rate(reference, " ".join(finals)) <= 0.2


def raw_call(client, requests):
    return list(client.streaming.StreamingRecognize(iter(requests), metadata=client.metadata))


def test_bad_streams_get_invalid_argument_and_the_server_carries_on(client):
    ok = streaming_config(SAMPLE_RATE)
    audio = pb.StreamingRecognizeRequest(audio_content=b"\0\0" * 1600)
    cases = {
        "must carry `config`": [audio],
        "only the first message may carry `config`": [pb.StreamingRecognizeRequest(config=ok)] * 2,
        "ended before its `config`": [],
        "NaN or infinity": [
            pb.StreamingRecognizeRequest(
                config=streaming_config(SAMPLE_RATE, encoding=audio_pb2.AUDIO_ENCODING_PCM_F32LE)
            ),
            pb.StreamingRecognizeRequest(audio_content=np.array([np.nan] * 4, "<f4").tobytes()),
        ],
        "ended inside a frame": [
            pb.StreamingRecognizeRequest(config=ok),
            pb.StreamingRecognizeRequest(audio_content=b"\0\0\0"),
        ],
        "look like an encoded file": [
            pb.StreamingRecognizeRequest(config=ok),
            pb.StreamingRecognizeRequest(audio_content=b"RIFF\0\0\0\0WAVEfmt "),
        ],
        "sample rate 8 Hz": [pb.StreamingRecognizeRequest(config=streaming_config(8))],
        "`pcm_format`": [pb.StreamingRecognizeRequest(config=pb.StreamingRecognitionConfig())],
        "endpoint silence": [
            pb.StreamingRecognizeRequest(
                config=streaming_config(
                    SAMPLE_RATE, voice_activity=pb.VoiceActivityConfig(endpoint_silence_duration={"seconds": 9})
                )
            )
        ],
        "English-only": [pb.StreamingRecognizeRequest(config=streaming_config(SAMPLE_RATE, language_code="de"))],
    }
    for message, requests in cases.items():
        with pytest.raises(grpc.RpcError) as raised:
            raw_call(client, requests)
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT, message
        assert message in raised.value.details()
    with pytest.raises(SidecarError) as raised:
        list(client.streaming_recognize([], config=streaming_config(SAMPLE_RATE, model="no-such-model")))
    assert raised.value.code == grpc.StatusCode.NOT_FOUND
    got = collect(client, speech("1089-134691-0000", lead=0.2, tail=0.8)[0])
    assert normalize(" ".join(got["finals"])) == ["he", "could", "wait", "no", "longer"]


def test_a_stream_translated_a_sentence_at_a_time(client, m2m100):
    """Translation in the config: each sentence of final words comes translated into every
    target language, after the final that completes it and before the stream ends, over the
    time its words took, as TranslationService translates that sentence."""
    samples, _ = speech("1089-134691-0000", "1089-134686-0001", "1089-134691-0001")
    options = translation_pb2.TranslationOptions(model=str(m2m100))
    translation = translation_pb2.SpeechTranslationConfig(target_language_codes=["es", "fr"], options=options)
    responses = list(
        client.streaming_recognize(pcm_chunks(samples), config=streaming_config(SAMPLE_RATE, translation=translation))
    )
    words = [w for r in responses for w in r.final_result.words]
    said = "".join(w.text for w in words)
    results = [(i, t) for i, r in enumerate(responses) for t in r.translation_results]
    sentences = [t.source_text for _, t in results if t.language_code == "es"]
    assert [t.source_text for _, t in results if t.language_code == "fr"] == sentences
    assert len(sentences) >= 3 and normalize(" ".join(sentences)) == normalize(said), (sentences, said)
    pauses = [seconds(r.speech_event_offset) for r in responses if r.speech_event == pb.SPEECH_EVENT_END]
    spans = [(seconds(t.time_range.start_offset), seconds(t.time_range.end_offset)) for _, t in results[::2]]
    for text, (_, end), (next_start, _) in zip(sentences, spans, spans[1:]):  # at its mark or a pause
        # VAD's end of speech and Whisper's word end differ by up to about half a second
        assert text[-1] in ".?!" or any(end - 0.5 <= p <= next_start for p in pauses), (text, spans, pauses)
    ends = [seconds(w.time_range.end_offset) for w in words]
    for i, result in results:
        start, end = seconds(result.time_range.start_offset), seconds(result.time_range.end_offset)
        assert start in [seconds(w.time_range.start_offset) for w in words] and end in ends
        final_at = next(
            k
            for k, r in enumerate(responses)
            for w in r.final_result.words
            if w.time_range.end_offset == result.time_range.end_offset
        )
        assert final_at < i, "a translation comes after the final that completes its sentence"
    assert [seconds(t.time_range.start_offset) for _, t in results] == sorted(
        seconds(t.time_range.start_offset) for _, t in results
    )
    for code in ("es", "fr"):
        # one at a time: a batch's longest text bounds every translation's length in it
        expected = [client.translate([s], code, source_language_code="en", options=options) for s in sentences]
        assert [t.translated_text for _, t in results if t.language_code == code] == [
            e.translations[0].translated_text for e in expected
        ]

    def config(**fields):
        fields.setdefault("options", options)
        return streaming_config(SAMPLE_RATE, translation=translation_pb2.SpeechTranslationConfig(**fields))

    cases = {
        "already in en": (config(target_language_codes=["en"]), grpc.StatusCode.INVALID_ARGUMENT),
        "1 to 4 target languages": (config(target_language_codes=[]), grpc.StatusCode.INVALID_ARGUMENT),
        "given twice": (config(target_language_codes=["es", "es"]), grpc.StatusCode.INVALID_ARGUMENT),
        "xx": (config(target_language_codes=["xx"]), grpc.StatusCode.INVALID_ARGUMENT),
        "no-such-model": (
            config(target_language_codes=["es"], options=translation_pb2.TranslationOptions(model="no-such-model")),
            grpc.StatusCode.NOT_FOUND,
        ),
    }
    for message, (bad, code) in cases.items():
        with pytest.raises(grpc.RpcError) as raised:
            raw_call(client, [pb.StreamingRecognizeRequest(config=bad)])
        assert raised.value.code() == code and message in raised.value.details(), raised.value.details()


@pytest.fixture()
def one_stream_client():
    from tests.harness import RunningSidecar

    server = RunningSidecar(max_live_streams=1)
    try:
        with SidecarClient(server.address) as c:
            yield c
    finally:
        server.stop()


def test_streams_beyond_the_bound_get_resource_exhausted(one_stream_client):
    client = one_stream_client
    release = threading.Event()

    def held():
        yield b"\0\0" * 1600
        release.wait(30)

    first = client.streaming_recognize(held(), config=streaming_config(SAMPLE_RATE))
    responses = iter(first)
    assert next(responses).HasField("info")  # the first stream is running
    try:
        with pytest.raises(SidecarError) as raised:
            list(client.streaming_recognize([b"\0\0"], config=streaming_config(SAMPLE_RATE)))
        assert raised.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "stream(s) running" in raised.value.details
    finally:
        release.set()
        list(responses)
    assert [
        r.HasField("info") for r in client.streaming_recognize([b"\0\0" * 1600], config=streaming_config(SAMPLE_RATE))
    ][0]


def test_stopping_the_server_ends_live_streams_at_once_with_unavailable():
    """A live stream never ends by itself: when the sidecar stops it ends with UNAVAILABLE
    rather than holding the shutdown for the grace period and being cut off (a CancelledError
    traceback in the log, and an abort when the process exited under a decoding thread)."""
    from sidecar.server.inprocess import InProcessSidecar

    audio, _ = speech("1089-134686-0000", lead=0.3, tail=1.0)
    server = InProcessSidecar(shutdown_grace_seconds=30).start()
    failure, stopped = [], threading.Event()
    with SidecarClient(server.address) as client:

        def listen():
            try:
                collect(client, audio, pace=1.0, model="tiny.en")
            except SidecarError as exc:
                failure.append(exc)
            stopped.set()

        threading.Thread(target=listen, daemon=True).start()
        time.sleep(3.0)  # speaking, words pending
        started = time.perf_counter()
        server.run(server.sidecar.stop())  # the configured grace: 30 s
        took = time.perf_counter() - started
        assert stopped.wait(10)
    server.stop()
    assert took < 5, "the live stream did not hold the shutdown for its grace period"
    [exc] = failure
    assert exc.code == grpc.StatusCode.UNAVAILABLE and "shutting down" in exc.details
    assert not [t for t in threading.enumerate() if t.name == "stream-decode"], "its thread has ended"

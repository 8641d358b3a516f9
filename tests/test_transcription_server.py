"""TranscribeFile through a real server on loopback, with real and tiny random Whisper models."""

import time

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

from sidecar.media import audio as media
from sidecar.v1 import audio_pb2, models_pb2, translation_pb2
from sidecar.v1 import transcription_pb2 as pb
from sidecar_client import SidecarError
from sidecar_common.durations import seconds
from tests.conftest import normalize, word_error_rate


@pytest.fixture(scope="module")
def tiny_random_model(tmp_path_factory):
    from tests.tiny_whisper import build_tiny_whisper

    return build_tiny_whisper(tmp_path_factory.mktemp("tiny-whisper"), multilingual=True)


def joined_text(transcript) -> str:
    return " ".join(s.text for s in transcript.segments)


def test_real_tiny_en_word_error_rate(client, librispeech):
    """Corpus WER over the four LibriSpeech clips (per-clip WER on 5-word clips is noise)."""
    references, hypotheses = [], []
    for uid in sorted(librispeech):
        path, reference = librispeech[uid]
        transcript = client.transcribe(path)
        assert transcript.info.model == "tiny.en" and transcript.info.language_code == "en"
        references.append(reference)
        hypotheses.append(joined_text(transcript))
    assert word_error_rate(" ".join(references), " ".join(hypotheses)) <= 0.10


def test_whole_clip_word_error_rate_and_word_times(client, librispeech, data_dir):
    transcript = client.transcribe(data_dir / "demo-1089.flac")
    reference = " ".join(librispeech[u][1] for u in sorted(librispeech))
    assert word_error_rate(reference, joined_text(transcript)) <= 0.10
    duration = seconds(transcript.info.audio_duration)
    assert duration == pytest.approx(23.01, abs=0.05)
    words = [w for s in transcript.segments for w in s.words]
    assert len(words) >= 50  # the reference has 57
    starts = [seconds(w.time_range.start_offset) for w in words]
    assert starts == sorted(starts)
    assert all(0 <= seconds(w.time_range.start_offset) <= seconds(w.time_range.end_offset) <= duration for w in words)
    assert [s.index for s in transcript.segments] == list(range(len(transcript.segments)))


def test_events_arrive_in_order_and_segments_stream(client, data_dir):
    # Three copies of the clip: 69 s, so faster-whisper decodes several 30 s windows, one after
    # another (a CPU's default batches them: test_long_audio_decoded_in_batches_keeps_its_words).
    clip = media.decode_file(data_dir / "demo-1089.flac", sample_rate=16_000)
    pcm = media.encode_pcm(np.tile(clip.samples, 3), media.PCM_S16LE)
    fmt = audio_pb2.AudioFormat(
        pcm=audio_pb2.PcmFormat(encoding=audio_pb2.AUDIO_ENCODING_PCM_S16LE, sample_rate_hertz=16_000, channel_count=1)
    )
    events, arrivals, fractions = [], [], []
    one_after_another = pb.TranscriptionOptions(batch_size=1)
    for response in client.transcribe_stream(pcm, audio_format=fmt, options=one_after_another):
        kind = response.WhichOneof("event")
        events.append(kind)
        arrivals.append(time.perf_counter())
        if kind == "progress" and response.progress.stage == "transcribing":
            fractions.append(response.progress.fraction_done)
    assert events[0] == "progress" and events[-1] == "summary"
    assert events.count("info") == 1 and events.index("info") < events.index("segment")
    segment_times = [t for t, e in zip(arrivals, events) if e == "segment"]
    # Segments go out as each window is decoded, not all at the end.
    assert segment_times[-1] - segment_times[0] > 0.3
    assert fractions == sorted(fractions) and 0.9 <= fractions[-1] <= 1.0


def test_long_audio_decoded_in_batches_keeps_its_words(client, librispeech, data_dir):
    """A CPU's default for 69 s: windows of at most 20 s decoded 4 at a time, each a segment
    (one after another gives a segment per sentence or so), with the same words, near enough
    (4.0 % WER against 3.4 % one after another here; over five placements of these clips with
    pauses, 1.8 points fewer: sidecar.engines.whisper), word times in order."""
    clip = media.decode_file(data_dir / "demo-1089.flac", sample_rate=16_000)
    pcm = media.encode_pcm(np.tile(clip.samples, 3), media.PCM_S16LE)
    fmt = audio_pb2.AudioFormat(
        pcm=audio_pb2.PcmFormat(encoding=audio_pb2.AUDIO_ENCODING_PCM_S16LE, sample_rate_hertz=16_000, channel_count=1)
    )
    reference = " ".join([" ".join(librispeech[u][1] for u in sorted(librispeech))] * 3)
    batched = client.transcribe(pcm, audio_format=fmt)
    assert word_error_rate(reference, joined_text(batched)) <= 0.06
    starts = [seconds(w.time_range.start_offset) for s in batched.segments for w in s.words]
    assert starts == sorted(starts) and starts[-1] > 60
    assert [s.index for s in batched.segments] == list(range(len(batched.segments)))
    one_after_another = client.transcribe(pcm, audio_format=fmt, options=pb.TranscriptionOptions(batch_size=1))
    assert 3 <= len(batched.segments) < len(one_after_another.segments)
    assert all(seconds(s.time_range.end_offset) - seconds(s.time_range.start_offset) <= 21 for s in batched.segments)


def test_a_transcript_translated_a_sentence_at_a_time(client, data_dir, m2m100):
    """Translation in the options: the transcript's sentences, each in every target language
    after the segment that completes it, over its words' time, as TranslationService
    translates it; the segments are those of a plain transcription."""
    clip = data_dir / "demo-1089.flac"
    options = translation_pb2.TranslationOptions(model=str(m2m100))
    translation = translation_pb2.SpeechTranslationConfig(target_language_codes=["de", "es"], options=options)
    events = [
        r.WhichOneof("event")
        for r in client.transcribe_stream(clip, options=pb.TranscriptionOptions(translation=translation))
    ]
    assert events.index("segment") < events.index("translated_sentence") < events.index("summary")
    got = client.transcribe(clip, options=pb.TranscriptionOptions(translation=translation))
    plain = client.transcribe(clip)
    assert [s.text for s in got.segments] == [s.text for s in plain.segments]
    assert got.summary.segment_count == len(got.segments)
    sentences = [t.source_text for t in got.translations if t.language_code == "de"]
    assert [t.source_text for t in got.translations if t.language_code == "es"] == sentences
    assert len(sentences) >= 2 and all(s[-1] in ".?!" for s in sentences[:-1]), sentences
    assert normalize(" ".join(sentences)) == normalize(joined_text(got))
    words = [w for s in got.segments for w in s.words]
    for t in got.translations:
        assert t.time_range.start_offset in [w.time_range.start_offset for w in words]
        assert t.time_range.end_offset in [w.time_range.end_offset for w in words]
    for code in ("de", "es"):
        expected = [client.translate([s], code, source_language_code="en", options=options) for s in sentences]
        assert [t.translated_text for t in got.translations if t.language_code == code] == [
            e.translations[0].translated_text for e in expected
        ]
    with pytest.raises(SidecarError) as raised:
        client.transcribe(clip, options=pb.TranscriptionOptions(translation=translation, language_code="fr"))
    assert raised.value.code == grpc.StatusCode.INVALID_ARGUMENT  # tiny.en is English-only
    with pytest.raises(SidecarError) as raised:
        wrong = translation_pb2.SpeechTranslationConfig(target_language_codes=["en"], options=options)
        client.transcribe(clip, options=pb.TranscriptionOptions(translation=wrong))
    assert raised.value.code == grpc.StatusCode.INVALID_ARGUMENT and "already in en" in str(raised.value)


def test_raw_pcm_input(client, librispeech):
    path, reference = librispeech["1089-134686-0000"]
    clip = media.decode_file(path, sample_rate=22_050)
    stereo = np.repeat(clip.samples, 2, axis=0)
    fmt = audio_pb2.AudioFormat(
        pcm=audio_pb2.PcmFormat(encoding=audio_pb2.AUDIO_ENCODING_PCM_S16LE, sample_rate_hertz=22_050, channel_count=2)
    )
    transcript = client.transcribe(media.encode_pcm(stereo, media.PCM_S16LE), audio_format=fmt)
    assert word_error_rate(reference, joined_text(transcript)) <= 0.10
    assert seconds(transcript.info.audio_duration) == pytest.approx(10.435, abs=0.01)


def test_multilingual_base_detects_english_and_translates(client, librispeech):
    path, reference = librispeech["1089-134686-0000"]
    options = pb.TranscriptionOptions(model="base")
    transcript = client.transcribe(path, options=options)
    assert transcript.info.language_code == "en" and transcript.info.language_probability > 0.9
    assert word_error_rate(reference, joined_text(transcript)) <= 0.10


def test_mixed_language_audio_gets_a_language_per_segment(client, data_dir):
    """23 s of English, then a German sentence: detected once for the whole, the German half
    comes out as invented English (about 5 % of its words right); detected per window, it comes
    out as German and says so."""
    import re

    english = media.decode_file(data_dir / "demo-1089.flac", sample_rate=16_000).samples
    german = media.decode_file(data_dir / "fleurs" / "fleurs-de-000.ogg", sample_rate=16_000).samples
    mixed = np.concatenate([english, np.zeros((1, 32_000), np.float32), german], axis=1)
    fmt = audio_pb2.AudioFormat(
        pcm=audio_pb2.PcmFormat(encoding=audio_pb2.AUDIO_ENCODING_PCM_S16LE, sample_rate_hertz=16_000, channel_count=1)
    )
    reference = set(re.findall(r"\w+", (data_dir / "fleurs" / "fleurs-de-000.txt").read_text().casefold()))

    def german_words_found(transcript) -> float:
        words = set(
            re.findall(
                r"\w+",
                " ".join(s.text for s in transcript.segments if s.time_range.start_offset.seconds >= 25).casefold(),
            )
        )
        return len(reference & words) / len(reference)

    pcm = media.encode_pcm(mixed, media.PCM_S16LE)
    options = pb.TranscriptionOptions(model="base", language_per_segment=True)
    per_window = client.transcribe(pcm, audio_format=fmt, options=options)
    languages = [s.language_code for s in per_window.segments]
    assert languages[0] == "en" and languages[-1] == "de"
    assert german_words_found(per_window) >= 0.6
    for options, needle in [
        (pb.TranscriptionOptions(language_per_segment=True), "English-only"),
        (pb.TranscriptionOptions(model="base", language_per_segment=True, language_code="de"), "none to detect"),
        (pb.TranscriptionOptions(model="base", language_per_segment=True, batch_size=8), "one window at a time"),
        (pb.TranscriptionOptions(batch_size=65), "batch size"),
        (pb.TranscriptionOptions(pieces=9), "pieces"),
        (pb.TranscriptionOptions(pieces=2, batch_size=8), "one window after another"),
        (pb.TranscriptionOptions(model="base", pieces=2, language_per_segment=True), "whole audio"),
    ]:
        with pytest.raises(SidecarError) as err:
            client.transcribe(pcm, audio_format=fmt, options=options)
        assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT and needle in err.value.details


def test_english_only_model_refuses_other_languages(client, librispeech):
    path, _ = librispeech["1089-134691-0000"]
    for options, needle in [
        (pb.TranscriptionOptions(language_code="de"), "English-only"),
        (pb.TranscriptionOptions(translate=True), "cannot translate"),
        (pb.TranscriptionOptions(language_code="xx"), "not one Whisper knows"),
        (pb.TranscriptionOptions(beam_size=99), "beam size"),
    ]:
        with pytest.raises(SidecarError) as err:
            client.transcribe(path, options=options)
        assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT and needle in err.value.details


def test_unknown_model_is_not_found(client, librispeech):
    with pytest.raises(SidecarError) as err:
        client.transcribe(librispeech["1089-134691-0000"][0], options=pb.TranscriptionOptions(model="huge-v9"))
    assert err.value.code == grpc.StatusCode.NOT_FOUND and "huge-v9" in err.value.details
    assert err.value.request_id  # from the failed call's trailing metadata: the server's log names it


def test_tiny_random_model_from_a_local_directory(client, tiny_random_model, data_dir):
    options = pb.TranscriptionOptions(model=str(tiny_random_model), vad_filter=False)
    transcript = client.transcribe(data_dir / "1089-134691-0000.flac", options=options)
    duration = seconds(transcript.info.audio_duration)
    assert transcript.summary.segment_count == len(transcript.segments)
    # A random model emits timestamps past the clip's end: every time must be clamped.
    for s in transcript.segments:
        assert 0 <= seconds(s.time_range.start_offset) <= seconds(s.time_range.end_offset) <= duration
        assert all(seconds(w.time_range.end_offset) <= duration for w in s.words)


def test_list_models_health_and_reflection(client, sidecar_server):
    models = client.list_models()
    names = {m.name: m for m in models}
    assert {"tiny.en", "base"} <= set(names)
    assert names["tiny.en"].is_default and names["tiny.en"].source == "embedded"
    assert models_pb2.CAPABILITY_TRANSLATION in names["base"].capabilities
    assert models_pb2.CAPABILITY_TRANSLATION not in names["tiny.en"].capabilities
    only = client.list_models(models_pb2.CAPABILITY_TRANSLATION)
    assert "tiny.en" not in {m.name for m in only} and "base" in {m.name for m in only}
    status = client.health.Check(health_pb2.HealthCheckRequest(service="sidecar.v1.TranscriptionService"))
    assert status.status == health_pb2.HealthCheckResponse.SERVING
    services = set(ProtoReflectionDescriptorDatabase(client.channel).get_services())
    assert {"sidecar.v1.TranscriptionService", "sidecar.v1.ModelService", "grpc.health.v1.Health"} <= services


def test_hyphenated_words_stay_whole():
    from sidecar.engines.whisper import Word, _joined_words

    words = _joined_words(
        [
            Word(" flour", 9.0, 9.3, 0.9),
            Word("-fattened", 9.3, 9.8, 0.8),
            Word(" sauce", 9.8, 10.1, 0.95),
            Word("'s", 10.1, 10.2, 0.7),
            Word("你好", 11.0, 11.5, 0.9),
            Word("世界", 11.5, 12.0, 0.9),
        ]
    )
    assert [w.text for w in words] == [" flour-fattened", " sauce's", "你好", "世界"]
    assert (words[0].start, words[0].end, words[0].probability) == (9.0, 9.8, 0.8)

"""Parity of the surfaces that must agree, for every service: the proto's options, the engine's
option dataclass and the CLI's flags, defaults included. A field added to one and not the others
fails here; so does a CLI default that differs from the engine's."""

import argparse
import dataclasses

import pytest

from sidecar.cli.main import build_parser
from sidecar.engines import (
    audio_events,
    deepfilter,
    demucs_engine,
    diarization,
    musicgen,
    streaming,
    translation,
    whisper,
    xtts,
)
from sidecar.v1 import (
    cues_pb2,
    diarization_pb2,
    enhancement_pb2,
    events_pb2,
    separation_pb2,
    streaming_recognition_pb2,
    synthesis_pb2,
    transcription_pb2,
    translation_pb2,
)


@dataclasses.dataclass(frozen=True)
class Surfaces:
    proto: type
    engine: type
    command: str
    to_engine: dict  # proto field -> engine field, where the names differ
    to_flag: dict  # proto field -> CLI dest, where the names differ
    server_only: frozenset = frozenset()  # proto fields the servicer or pipeline uses, not the engine
    engine_only: frozenset = frozenset()  # engine tunables no request sets
    not_flags: frozenset = frozenset()  # proto fields the CLI sets itself


SERVICES = {
    "transcription": Surfaces(
        transcription_pb2.TranscriptionOptions,
        whisper.TranscriptionOptions,
        "subtitle",
        to_engine={"language_code": "language"},
        to_flag={"language_code": "language", "vad_filter": "no_vad", "diarization": "diarize", "translation": "to"},
        server_only=frozenset({"model", "diarization", "translation"}),
        engine_only=frozenset({"trim_window", "temperature_fallback", "max_new_tokens"}),  # live re-decodes
        not_flags=frozenset({"word_timestamps"}),
    ),  # cues need word times: always on
    "diarization": Surfaces(
        diarization_pb2.DiarizationOptions,
        diarization.DiarizationOptions,
        "diarize",
        to_engine={"min_speaker_count": "min_speakers", "max_speaker_count": "max_speakers"},
        to_flag={
            "speaker_count": "speakers",
            "min_speaker_count": "min_speakers",
            "max_speaker_count": "max_speakers",
            "model": "pipeline",
            "name_enrolled_speakers": "known_speakers",
            "speaker_references": "speaker_ref",
        },
        # The server turns these into the engine's known_speakers (reference audio and names).
        server_only=frozenset({"name_enrolled_speakers", "known_speaker_ids", "speaker_references"}),
        engine_only=frozenset({"known_speakers"}),
        not_flags=frozenset({"known_speaker_ids"}),  # the CLI names every enrolled speaker
    ),
    "enhancement": Surfaces(
        enhancement_pb2.EnhancementOptions,
        deepfilter.EnhancementOptions,
        "denoise",
        to_engine={},
        to_flag={"attenuation_limit_db": "attenuation_limit"},
    ),
    "separation": Surfaces(
        separation_pb2.SeparationOptions,
        demucs_engine.SeparationOptions,
        "stems",
        to_engine={"shift_count": "shifts", "segment_duration": "segment_seconds"},
        to_flag={
            "shift_count": "shifts",
            "segment_duration": "segment",
            "model_repository": "repo",
            "output_sample_rate_hertz": "sample_rate",
        },
        server_only=frozenset({"model", "model_repository", "output_encoding", "output_sample_rate_hertz"}),
        not_flags=frozenset({"output_encoding"}),
    ),  # float32 over the wire; --format picks the file
    "events": Surfaces(
        events_pb2.EventDetectionOptions,
        audio_events.EventOptions,
        "events",
        to_engine={
            "window_duration": "window_seconds",
            "hop_duration": "hop_seconds",
            "min_region_duration": "min_region_seconds",
            "merge_gap_duration": "merge_gap_seconds",
        },
        to_flag={
            "window_duration": "window",
            "hop_duration": "hop",
            "min_region_duration": "min_region",
            "merge_gap_duration": "merge_gap",
        },
        server_only=frozenset({"model"}),
    ),
    "cues": Surfaces(
        cues_pb2.CueSettings,
        musicgen.CueOptions,
        "cue",
        to_engine={"audio_duration": "duration"},
        to_flag={"audio_duration": "duration", "guidance_scale": "guidance", "reference_mode": "melody"},
        server_only=frozenset({"model", "reference_sha256"}),
        engine_only=frozenset({"chunk_seconds"}),
        not_flags=frozenset({"reference_sha256"}),
    ),  # output only
    "synthesis": Surfaces(
        synthesis_pb2.SynthesisOptions,
        xtts.SynthesisOptions,
        "say",
        to_engine={"max_sentence_duration": "max_sentence_seconds"},
        to_flag={"max_sentence_duration": "max_sentence_seconds"},
        server_only=frozenset({"model", "output_encoding"}),
        engine_only=frozenset({"language", "chunk_tokens"}),  # language is the request's, not an option
        not_flags=frozenset({"output_encoding"}),
    ),  # the CLI writes 16-bit WAV
    "live": Surfaces(
        streaming_recognition_pb2.StreamingRecognitionConfig,
        streaming.StreamingOptions,
        "live",
        to_engine={"language_code": "language", "voice_activity": "endpoint_silence"},
        to_flag={
            "language_code": "language",
            "interim_results": "no_interim",
            "voice_activity": "endpoint_silence",
            "translation": "to",
        },
        server_only=frozenset({"model", "pcm_format", "translation"}),
        engine_only=frozenset(
            {
                "vad_enabled",
                "speech_threshold",
                "decode_interval",
                "context_seconds",
                "max_buffer_seconds",
                "speech_pad",
            }
        ),
        not_flags=frozenset({"pcm_format"}),
    ),  # the capture sends 16 kHz mono s16le
    "translation": Surfaces(
        translation_pb2.TranslationOptions,
        translation.TranslationOptions,
        "subtitle",  # --to
        to_engine={},
        to_flag={"model": "translation_model", "beam_size": "translation_beam_size"},
        server_only=frozenset({"model"}),
        engine_only=frozenset({"max_length_ratio"}),  # a guard against a model that repeats itself
    ),
}


@pytest.fixture(scope="module")
def commands() -> dict[str, argparse.ArgumentParser]:
    return build_parser()._subparsers._group_actions[0].choices


def engine_fields(surfaces: Surfaces) -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(surfaces.engine)}


@pytest.mark.parametrize("service", SERVICES)
def test_proto_options_and_engine_options_agree(service):
    surfaces = SERVICES[service]
    proto = {f.name for f in surfaces.proto.DESCRIPTOR.fields}
    mapped = {surfaces.to_engine.get(name, name) for name in proto - surfaces.server_only}
    assert mapped == engine_fields(surfaces).keys() - surfaces.engine_only


@pytest.mark.parametrize("service", SERVICES)
def test_every_option_has_a_flag_with_the_engines_default(service, commands):
    surfaces = SERVICES[service]
    flags = {a.dest: a for a in commands[surfaces.command]._actions}
    engine = engine_fields(surfaces)
    for name in (f.name for f in surfaces.proto.DESCRIPTOR.fields):
        if name in surfaces.not_flags:
            continue
        dest = surfaces.to_flag.get(name, name)
        assert dest in flags, f"`sidecar {surfaces.command}` has no flag for option {name}"
        field = engine.get(surfaces.to_engine.get(name, name))
        default = flags[dest].default
        if field is None or default in (None, 0, 0.0, "", (), False) or field.default is dataclasses.MISSING:
            continue  # unset on the command line: the server applies the engine's default
        assert default == field.default, (
            f"`sidecar {surfaces.command} --{dest}` defaults to {default}, the engine to {field.default}"
        )


def request_for(args: argparse.Namespace):
    """The options message a command builds from its parsed flags."""
    from sidecar.cli import events, live, say, stems

    class Reach:  # what live_options needs of a client
        address, token = "127.0.0.1:1", None

    builders = {
        "say": say.options_for,
        "stems": stems.options_from_args,
        "events": events.options_for,
        "live": lambda a: live.live_options(a, Reach()).config(),
    }
    return builders[args.command](args)


@pytest.mark.parametrize(
    "argv, expected",
    [
        (
            [
                "say",
                "Hi.",
                "--voice",
                "v",
                "-o",
                "x.wav",
                "--top-k",
                "7",
                "--top-p",
                "0.5",
                "--repetition-penalty",
                "2",
            ],
            {"top_k": 7, "top_p": 0.5, "repetition_penalty": 2.0},
        ),
        (
            ["stems", "song.wav", "-o", "out", "--sample-rate", "48000", "--shifts", "2"],
            {"output_sample_rate_hertz": 48000, "shift_count": 2},
        ),
        (["live", "-i", "talk.wav", "--beam-size", "1", "--hotwords", "Ana"], {"beam_size": 1, "hotwords": "Ana"}),
        (["events", "talk.wav", "--threshold", "0.3"], {"threshold": pytest.approx(0.3)}),
    ],
)
def test_flags_reach_the_request(argv, expected):
    request = request_for(build_parser().parse_args(argv))
    assert {name: getattr(request, name) for name in expected} == expected


def all_messages():
    import importlib
    import pkgutil

    import sidecar.v1

    for module in pkgutil.iter_modules(sidecar.v1.__path__):
        if module.name.endswith("_pb2"):
            descriptor = importlib.import_module(f"sidecar.v1.{module.name}").DESCRIPTOR
            pending = list(descriptor.message_types_by_name.values())
            while pending:
                message = pending.pop()
                pending.extend(message.nested_types)
                yield message


def test_one_shape_for_ranges_and_one_name_for_speed():
    """A span of time is a TimeRange wherever one is meant; every summary's speed is speed_factor."""
    messages = list(all_messages())
    assert len(messages) > 40
    for message in messages:
        fields = {f.name for f in message.fields}
        if message.full_name != "sidecar.v1.TimeRange":
            assert not {"start_offset", "end_offset"} <= fields, f"{message.full_name}: use a TimeRange"
        assert "real_time_factor" not in fields, f"{message.full_name}: use speed_factor"
        if message.name.endswith("Summary") and "processing_duration" in fields:
            assert "speed_factor" in fields, message.full_name

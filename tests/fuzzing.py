"""Hypothesis strategies for every v1 RPC's requests, built from the proto descriptors.

Each field gets values a hostile client might send: extreme and out-of-range integers, NaN and
infinite floats, unknown enum numbers, paths, hub ids and long strings, nested messages a few
levels deep. A streaming RPC gets its config message followed by audio (a real WAV, random
bytes, or nothing). Used by tests/test_fuzz.py (a fixed budget in the suite) and bench/fuzz.py
(longer runs).
"""

from __future__ import annotations

import dataclasses
import importlib
import io
import wave

import grpc
import numpy as np
from google.protobuf import descriptor as d
from google.protobuf import message_factory
from hypothesis import strategies as st

SERVICES = ("cues", "diarization", "enhancement", "events", "models", "separation", "streaming_recognition",
            "synthesis", "transcription", "translation")  # fmt: skip
MODULES = tuple(importlib.import_module(f"sidecar.v1.{name}_pb2") for name in SERVICES)
HOSTILE_STRINGS = (
    "",
    " ",
    "..",
    "../../../../etc/passwd",
    "/etc",
    "/tmp",
    "~/x",
    "someone/evil-model",
    "tiny.en",
    "en",
    "xx-bogus",
    "\x00",
    "ä" * 300,
    "word " * 2000,
)
_INT_RANGES = {
    d.FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    d.FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    d.FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    d.FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    d.FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
    d.FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    d.FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1),
    d.FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    d.FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
    d.FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}


@dataclasses.dataclass(frozen=True)
class Rpc:
    service: str
    method: d.MethodDescriptor

    @property
    def path(self) -> str:
        return f"/{self.service}/{self.method.name}"

    @property
    def name(self) -> str:
        return self.method.name


def rpcs() -> list[Rpc]:
    found = []
    for module in MODULES:
        for service in module.DESCRIPTOR.services_by_name.values():
            found += [Rpc(service.full_name, method) for method in service.methods]
    return sorted(found, key=lambda r: r.name)


def rpc_named(name: str) -> Rpc:
    return next(rpc for rpc in rpcs() if rpc.name == name)


def wav_bytes(seconds: float = 1.0, rate: int = 16000) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    samples = (np.sin(2 * np.pi * 220 * t) * 0.2 * 32767).astype("<i2")
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.tobytes())
    return out.getvalue()


def _scalar(field: d.FieldDescriptor, depth: int):
    kind = field.type
    if kind in _INT_RANGES:
        low, high = _INT_RANGES[kind]
        return st.one_of(st.integers(low, high), st.sampled_from([low, high, -1, 0, 1, 2, 5, 64, 10**6]))
    if kind == d.FieldDescriptor.TYPE_FLOAT:
        return st.floats(width=32, allow_nan=True, allow_infinity=True)
    if kind == d.FieldDescriptor.TYPE_DOUBLE:
        return st.floats(allow_nan=True, allow_infinity=True)
    if kind == d.FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if kind == d.FieldDescriptor.TYPE_STRING:
        return st.one_of(st.sampled_from(HOSTILE_STRINGS), st.text(max_size=40))
    if kind == d.FieldDescriptor.TYPE_BYTES:
        return st.binary(max_size=256)
    if kind == d.FieldDescriptor.TYPE_ENUM:
        numbers = [v.number for v in field.enum_type.values]
        return st.one_of(st.sampled_from(numbers), st.integers(-3, max(numbers) + 3))
    if kind == d.FieldDescriptor.TYPE_MESSAGE:
        return messages(field.message_type, depth + 1)
    raise AssertionError(f"no strategy for {field.full_name}")


def messages(descriptor: d.Descriptor, depth: int = 0):
    """Messages of this type with any subset of fields set to hostile values."""
    cls = message_factory.GetMessageClass(descriptor)
    if depth > 3:
        return st.just(cls())
    fields = {}
    for field in descriptor.fields:
        value = _scalar(field, depth)
        if field.is_repeated:
            value = st.lists(value, max_size=3)
        fields[field.name] = st.one_of(st.none(), value)

    def build(values: dict):
        message = cls()
        for name, value in values.items():
            if value is None:
                continue
            field = descriptor.fields_by_name[name]
            try:
                if field.is_repeated:
                    target = getattr(message, name)
                    if field.type == d.FieldDescriptor.TYPE_MESSAGE:
                        for item in value:
                            target.add().CopyFrom(item)
                    else:
                        target.extend(value)
                elif field.type == d.FieldDescriptor.TYPE_MESSAGE:
                    getattr(message, name).CopyFrom(value)
                else:
                    setattr(message, name, value)
            except (ValueError, TypeError):  # a value protobuf itself refuses (a surrogate in a string)
                continue
        return message

    return st.fixed_dictionaries(fields).map(build)


def _config_field(descriptor: d.Descriptor) -> d.FieldDescriptor | None:
    return next((f for f in descriptor.fields if f.type == d.FieldDescriptor.TYPE_MESSAGE), None)


def _audio_field(descriptor: d.Descriptor) -> d.FieldDescriptor | None:
    return next((f for f in descriptor.fields if f.type == d.FieldDescriptor.TYPE_BYTES), None)


def requests(rpc: Rpc):
    """What a client sends: one message, or a stream of a config then audio chunks."""
    descriptor = rpc.method.input_type
    if not rpc.method.client_streaming:
        return messages(descriptor).map(lambda m: [m])
    cls = message_factory.GetMessageClass(descriptor)
    config, audio = _config_field(descriptor), _audio_field(descriptor)
    audio_values = st.sampled_from([wav_bytes(), b"", b"RIFF"]) | st.binary(max_size=512)

    def stream(config_message, chunks, order, usable_format):
        if usable_format and config_message is not None:
            _make_format_usable(config_message)
        first = [cls(**{config.name: config_message})] if config is not None else []
        rest = [cls(**{audio.name: chunk}) for chunk in chunks] if audio is not None else []
        return {"normal": first + rest, "config late": rest + first, "config twice": first + first + rest}[order]

    return st.builds(
        stream,
        messages(config.message_type) if config is not None else st.none(),
        st.lists(audio_values, max_size=2),
        st.sampled_from(["normal", "normal", "normal", "config late", "config twice"]),
        st.booleans(),
    )


def _make_format_usable(config) -> None:
    """Half the configs describe their audio right, so the options behind get exercised too."""
    fields = config.DESCRIPTOR.fields_by_name
    if "audio_format" in fields:
        config.audio_format.Clear()
        config.audio_format.encoded_file.filename = "clip.wav"
    if "pcm_format" in fields:
        config.pcm_format.encoding = 1  # AUDIO_ENCODING_PCM_S16LE
        config.pcm_format.sample_rate_hertz = 16000
        config.pcm_format.channel_count = 1


def call(channel: grpc.Channel, rpc: Rpc, sent: list, timeout: float = 60.0) -> grpc.StatusCode:
    """Sends the requests and reads every response; returns the final status code."""
    serialize = lambda m: m.SerializeToString()  # noqa: E731
    parse = message_factory.GetMessageClass(rpc.method.output_type).FromString
    streaming_in, streaming_out = rpc.method.client_streaming, rpc.method.server_streaming
    kind = {
        (False, False): channel.unary_unary,
        (False, True): channel.unary_stream,
        (True, False): channel.stream_unary,
        (True, True): channel.stream_stream,
    }[(streaming_in, streaming_out)]
    method = kind(rpc.path, request_serializer=serialize, response_deserializer=parse)
    argument = iter(sent) if streaming_in else sent[0]
    try:
        result = method(argument, timeout=timeout)
        if streaming_out:
            for _ in result:
                pass
    except grpc.RpcError as error:
        return error.code()
    return grpc.StatusCode.OK

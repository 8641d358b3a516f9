import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from sidecar.v1 import audio_pb2 as _audio_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ReferenceMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REFERENCE_MODE_UNSPECIFIED: _ClassVar[ReferenceMode]
    REFERENCE_MODE_MELODY: _ClassVar[ReferenceMode]
    REFERENCE_MODE_CONTINUATION: _ClassVar[ReferenceMode]
REFERENCE_MODE_UNSPECIFIED: ReferenceMode
REFERENCE_MODE_MELODY: ReferenceMode
REFERENCE_MODE_CONTINUATION: ReferenceMode

class CueSettings(_message.Message):
    __slots__ = ("model", "prompt", "audio_duration", "seed", "guidance_scale", "top_k", "top_p", "temperature", "reference_mode", "reference_sha256")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    AUDIO_DURATION_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    GUIDANCE_SCALE_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    TOP_P_FIELD_NUMBER: _ClassVar[int]
    TEMPERATURE_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_MODE_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_SHA256_FIELD_NUMBER: _ClassVar[int]
    model: str
    prompt: str
    audio_duration: _duration_pb2.Duration
    seed: int
    guidance_scale: float
    top_k: int
    top_p: float
    temperature: float
    reference_mode: ReferenceMode
    reference_sha256: str
    def __init__(self, model: _Optional[str] = ..., prompt: _Optional[str] = ..., audio_duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., seed: _Optional[int] = ..., guidance_scale: _Optional[float] = ..., top_k: _Optional[int] = ..., top_p: _Optional[float] = ..., temperature: _Optional[float] = ..., reference_mode: _Optional[_Union[ReferenceMode, str]] = ..., reference_sha256: _Optional[str] = ...) -> None: ...

class GenerateCueConfig(_message.Message):
    __slots__ = ("settings", "audio_format", "output_encoding")
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    AUDIO_FORMAT_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_ENCODING_FIELD_NUMBER: _ClassVar[int]
    settings: CueSettings
    audio_format: _audio_pb2.AudioFormat
    output_encoding: _audio_pb2.AudioEncoding
    def __init__(self, settings: _Optional[_Union[CueSettings, _Mapping]] = ..., audio_format: _Optional[_Union[_audio_pb2.AudioFormat, _Mapping]] = ..., output_encoding: _Optional[_Union[_audio_pb2.AudioEncoding, str]] = ...) -> None: ...

class GenerateCueRequest(_message.Message):
    __slots__ = ("config", "audio_content")
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    AUDIO_CONTENT_FIELD_NUMBER: _ClassVar[int]
    config: GenerateCueConfig
    audio_content: bytes
    def __init__(self, config: _Optional[_Union[GenerateCueConfig, _Mapping]] = ..., audio_content: _Optional[bytes] = ...) -> None: ...

class CueInfo(_message.Message):
    __slots__ = ("model", "device", "audio_format", "step_count", "reference_duration")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    AUDIO_FORMAT_FIELD_NUMBER: _ClassVar[int]
    STEP_COUNT_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_DURATION_FIELD_NUMBER: _ClassVar[int]
    model: str
    device: str
    audio_format: _audio_pb2.PcmFormat
    step_count: int
    reference_duration: _duration_pb2.Duration
    def __init__(self, model: _Optional[str] = ..., device: _Optional[str] = ..., audio_format: _Optional[_Union[_audio_pb2.PcmFormat, _Mapping]] = ..., step_count: _Optional[int] = ..., reference_duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class CueSummary(_message.Message):
    __slots__ = ("settings", "first_audio_duration", "audio_duration", "processing_duration", "speed_factor", "chunk_count")
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    FIRST_AUDIO_DURATION_FIELD_NUMBER: _ClassVar[int]
    AUDIO_DURATION_FIELD_NUMBER: _ClassVar[int]
    PROCESSING_DURATION_FIELD_NUMBER: _ClassVar[int]
    SPEED_FACTOR_FIELD_NUMBER: _ClassVar[int]
    CHUNK_COUNT_FIELD_NUMBER: _ClassVar[int]
    settings: CueSettings
    first_audio_duration: _duration_pb2.Duration
    audio_duration: _duration_pb2.Duration
    processing_duration: _duration_pb2.Duration
    speed_factor: float
    chunk_count: int
    def __init__(self, settings: _Optional[_Union[CueSettings, _Mapping]] = ..., first_audio_duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., audio_duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., processing_duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., speed_factor: _Optional[float] = ..., chunk_count: _Optional[int] = ...) -> None: ...

class GenerateCueResponse(_message.Message):
    __slots__ = ("info", "audio", "progress", "summary")
    INFO_FIELD_NUMBER: _ClassVar[int]
    AUDIO_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    info: CueInfo
    audio: _audio_pb2.AudioChunk
    progress: _audio_pb2.Progress
    summary: CueSummary
    def __init__(self, info: _Optional[_Union[CueInfo, _Mapping]] = ..., audio: _Optional[_Union[_audio_pb2.AudioChunk, _Mapping]] = ..., progress: _Optional[_Union[_audio_pb2.Progress, _Mapping]] = ..., summary: _Optional[_Union[CueSummary, _Mapping]] = ...) -> None: ...

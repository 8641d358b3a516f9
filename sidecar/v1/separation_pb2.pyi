import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from sidecar.v1 import audio_pb2 as _audio_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SeparationOptions(_message.Message):
    __slots__ = ("model", "model_repository", "stems", "two_stems", "shift_count", "overlap", "segment_duration", "output_encoding", "output_sample_rate_hertz")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    MODEL_REPOSITORY_FIELD_NUMBER: _ClassVar[int]
    STEMS_FIELD_NUMBER: _ClassVar[int]
    TWO_STEMS_FIELD_NUMBER: _ClassVar[int]
    SHIFT_COUNT_FIELD_NUMBER: _ClassVar[int]
    OVERLAP_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_DURATION_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_ENCODING_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_SAMPLE_RATE_HERTZ_FIELD_NUMBER: _ClassVar[int]
    model: str
    model_repository: str
    stems: _containers.RepeatedScalarFieldContainer[str]
    two_stems: str
    shift_count: int
    overlap: float
    segment_duration: _duration_pb2.Duration
    output_encoding: _audio_pb2.AudioEncoding
    output_sample_rate_hertz: int
    def __init__(self, model: _Optional[str] = ..., model_repository: _Optional[str] = ..., stems: _Optional[_Iterable[str]] = ..., two_stems: _Optional[str] = ..., shift_count: _Optional[int] = ..., overlap: _Optional[float] = ..., segment_duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., output_encoding: _Optional[_Union[_audio_pb2.AudioEncoding, str]] = ..., output_sample_rate_hertz: _Optional[int] = ...) -> None: ...

class SeparationConfig(_message.Message):
    __slots__ = ("audio_format", "options")
    AUDIO_FORMAT_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    audio_format: _audio_pb2.AudioFormat
    options: SeparationOptions
    def __init__(self, audio_format: _Optional[_Union[_audio_pb2.AudioFormat, _Mapping]] = ..., options: _Optional[_Union[SeparationOptions, _Mapping]] = ...) -> None: ...

class SeparateFileRequest(_message.Message):
    __slots__ = ("config", "audio_content")
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    AUDIO_CONTENT_FIELD_NUMBER: _ClassVar[int]
    config: SeparationConfig
    audio_content: bytes
    def __init__(self, config: _Optional[_Union[SeparationConfig, _Mapping]] = ..., audio_content: _Optional[bytes] = ...) -> None: ...

class SeparationInfo(_message.Message):
    __slots__ = ("model", "device", "stems", "output_format", "audio_duration", "segment_duration")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    STEMS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FORMAT_FIELD_NUMBER: _ClassVar[int]
    AUDIO_DURATION_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_DURATION_FIELD_NUMBER: _ClassVar[int]
    model: str
    device: str
    stems: _containers.RepeatedScalarFieldContainer[str]
    output_format: _audio_pb2.PcmFormat
    audio_duration: _duration_pb2.Duration
    segment_duration: _duration_pb2.Duration
    def __init__(self, model: _Optional[str] = ..., device: _Optional[str] = ..., stems: _Optional[_Iterable[str]] = ..., output_format: _Optional[_Union[_audio_pb2.PcmFormat, _Mapping]] = ..., audio_duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., segment_duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class StemChunk(_message.Message):
    __slots__ = ("stem", "audio")
    STEM_FIELD_NUMBER: _ClassVar[int]
    AUDIO_FIELD_NUMBER: _ClassVar[int]
    stem: str
    audio: _audio_pb2.AudioChunk
    def __init__(self, stem: _Optional[str] = ..., audio: _Optional[_Union[_audio_pb2.AudioChunk, _Mapping]] = ...) -> None: ...

class SeparationSummary(_message.Message):
    __slots__ = ("stems", "audio_duration", "processing_duration", "speed_factor")
    STEMS_FIELD_NUMBER: _ClassVar[int]
    AUDIO_DURATION_FIELD_NUMBER: _ClassVar[int]
    PROCESSING_DURATION_FIELD_NUMBER: _ClassVar[int]
    SPEED_FACTOR_FIELD_NUMBER: _ClassVar[int]
    stems: _containers.RepeatedScalarFieldContainer[str]
    audio_duration: _duration_pb2.Duration
    processing_duration: _duration_pb2.Duration
    speed_factor: float
    def __init__(self, stems: _Optional[_Iterable[str]] = ..., audio_duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., processing_duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., speed_factor: _Optional[float] = ...) -> None: ...

class SeparateFileResponse(_message.Message):
    __slots__ = ("progress", "info", "stem_chunk", "summary")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    INFO_FIELD_NUMBER: _ClassVar[int]
    STEM_CHUNK_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    progress: _audio_pb2.Progress
    info: SeparationInfo
    stem_chunk: StemChunk
    summary: SeparationSummary
    def __init__(self, progress: _Optional[_Union[_audio_pb2.Progress, _Mapping]] = ..., info: _Optional[_Union[SeparationInfo, _Mapping]] = ..., stem_chunk: _Optional[_Union[StemChunk, _Mapping]] = ..., summary: _Optional[_Union[SeparationSummary, _Mapping]] = ...) -> None: ...

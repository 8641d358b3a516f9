import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from sidecar.v1 import audio_pb2 as _audio_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EnhancementOptions(_message.Message):
    __slots__ = ("attenuation_limit_db", "post_filter")
    ATTENUATION_LIMIT_DB_FIELD_NUMBER: _ClassVar[int]
    POST_FILTER_FIELD_NUMBER: _ClassVar[int]
    attenuation_limit_db: float
    post_filter: bool
    def __init__(self, attenuation_limit_db: _Optional[float] = ..., post_filter: _Optional[bool] = ...) -> None: ...

class EnhanceFileConfig(_message.Message):
    __slots__ = ("audio_format", "options", "output_encoding")
    AUDIO_FORMAT_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_ENCODING_FIELD_NUMBER: _ClassVar[int]
    audio_format: _audio_pb2.AudioFormat
    options: EnhancementOptions
    output_encoding: _audio_pb2.AudioEncoding
    def __init__(self, audio_format: _Optional[_Union[_audio_pb2.AudioFormat, _Mapping]] = ..., options: _Optional[_Union[EnhancementOptions, _Mapping]] = ..., output_encoding: _Optional[_Union[_audio_pb2.AudioEncoding, str]] = ...) -> None: ...

class EnhanceFileRequest(_message.Message):
    __slots__ = ("config", "audio_content")
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    AUDIO_CONTENT_FIELD_NUMBER: _ClassVar[int]
    config: EnhanceFileConfig
    audio_content: bytes
    def __init__(self, config: _Optional[_Union[EnhanceFileConfig, _Mapping]] = ..., audio_content: _Optional[bytes] = ...) -> None: ...

class EnhancementInfo(_message.Message):
    __slots__ = ("output_format", "audio_duration", "model", "latency_duration")
    OUTPUT_FORMAT_FIELD_NUMBER: _ClassVar[int]
    AUDIO_DURATION_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    LATENCY_DURATION_FIELD_NUMBER: _ClassVar[int]
    output_format: _audio_pb2.PcmFormat
    audio_duration: _duration_pb2.Duration
    model: str
    latency_duration: _duration_pb2.Duration
    def __init__(self, output_format: _Optional[_Union[_audio_pb2.PcmFormat, _Mapping]] = ..., audio_duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., model: _Optional[str] = ..., latency_duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class EnhancementSummary(_message.Message):
    __slots__ = ("audio_duration", "frame_count", "processing_duration", "speed_factor")
    AUDIO_DURATION_FIELD_NUMBER: _ClassVar[int]
    FRAME_COUNT_FIELD_NUMBER: _ClassVar[int]
    PROCESSING_DURATION_FIELD_NUMBER: _ClassVar[int]
    SPEED_FACTOR_FIELD_NUMBER: _ClassVar[int]
    audio_duration: _duration_pb2.Duration
    frame_count: int
    processing_duration: _duration_pb2.Duration
    speed_factor: float
    def __init__(self, audio_duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., frame_count: _Optional[int] = ..., processing_duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., speed_factor: _Optional[float] = ...) -> None: ...

class EnhanceFileResponse(_message.Message):
    __slots__ = ("progress", "info", "audio_chunk", "summary")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    INFO_FIELD_NUMBER: _ClassVar[int]
    AUDIO_CHUNK_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    progress: _audio_pb2.Progress
    info: EnhancementInfo
    audio_chunk: _audio_pb2.AudioChunk
    summary: EnhancementSummary
    def __init__(self, progress: _Optional[_Union[_audio_pb2.Progress, _Mapping]] = ..., info: _Optional[_Union[EnhancementInfo, _Mapping]] = ..., audio_chunk: _Optional[_Union[_audio_pb2.AudioChunk, _Mapping]] = ..., summary: _Optional[_Union[EnhancementSummary, _Mapping]] = ...) -> None: ...

class StreamEnhanceConfig(_message.Message):
    __slots__ = ("pcm_format", "options", "output_encoding")
    PCM_FORMAT_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_ENCODING_FIELD_NUMBER: _ClassVar[int]
    pcm_format: _audio_pb2.PcmFormat
    options: EnhancementOptions
    output_encoding: _audio_pb2.AudioEncoding
    def __init__(self, pcm_format: _Optional[_Union[_audio_pb2.PcmFormat, _Mapping]] = ..., options: _Optional[_Union[EnhancementOptions, _Mapping]] = ..., output_encoding: _Optional[_Union[_audio_pb2.AudioEncoding, str]] = ...) -> None: ...

class StreamEnhanceRequest(_message.Message):
    __slots__ = ("config", "audio_content")
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    AUDIO_CONTENT_FIELD_NUMBER: _ClassVar[int]
    config: StreamEnhanceConfig
    audio_content: bytes
    def __init__(self, config: _Optional[_Union[StreamEnhanceConfig, _Mapping]] = ..., audio_content: _Optional[bytes] = ...) -> None: ...

class StreamEnhanceResponse(_message.Message):
    __slots__ = ("info", "audio_chunk")
    INFO_FIELD_NUMBER: _ClassVar[int]
    AUDIO_CHUNK_FIELD_NUMBER: _ClassVar[int]
    info: EnhancementInfo
    audio_chunk: _audio_pb2.AudioChunk
    def __init__(self, info: _Optional[_Union[EnhancementInfo, _Mapping]] = ..., audio_chunk: _Optional[_Union[_audio_pb2.AudioChunk, _Mapping]] = ...) -> None: ...

import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from sidecar.v1 import audio_pb2 as _audio_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class VoiceReference(_message.Message):
    __slots__ = ("audio_format", "audio_content", "transcript")
    AUDIO_FORMAT_FIELD_NUMBER: _ClassVar[int]
    AUDIO_CONTENT_FIELD_NUMBER: _ClassVar[int]
    TRANSCRIPT_FIELD_NUMBER: _ClassVar[int]
    audio_format: _audio_pb2.AudioFormat
    audio_content: bytes
    transcript: str
    def __init__(self, audio_format: _Optional[_Union[_audio_pb2.AudioFormat, _Mapping]] = ..., audio_content: _Optional[bytes] = ..., transcript: _Optional[str] = ...) -> None: ...

class SynthesisOptions(_message.Message):
    __slots__ = ("model", "speed", "temperature", "top_k", "top_p", "repetition_penalty", "seed", "output_encoding", "max_sentence_duration")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    SPEED_FIELD_NUMBER: _ClassVar[int]
    TEMPERATURE_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    TOP_P_FIELD_NUMBER: _ClassVar[int]
    REPETITION_PENALTY_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_ENCODING_FIELD_NUMBER: _ClassVar[int]
    MAX_SENTENCE_DURATION_FIELD_NUMBER: _ClassVar[int]
    model: str
    speed: float
    temperature: float
    top_k: int
    top_p: float
    repetition_penalty: float
    seed: int
    output_encoding: _audio_pb2.AudioEncoding
    max_sentence_duration: _duration_pb2.Duration
    def __init__(self, model: _Optional[str] = ..., speed: _Optional[float] = ..., temperature: _Optional[float] = ..., top_k: _Optional[int] = ..., top_p: _Optional[float] = ..., repetition_penalty: _Optional[float] = ..., seed: _Optional[int] = ..., output_encoding: _Optional[_Union[_audio_pb2.AudioEncoding, str]] = ..., max_sentence_duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class SynthesizeRequest(_message.Message):
    __slots__ = ("text", "language_code", "options", "voice_id", "reference")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_CODE_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    VOICE_ID_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    text: str
    language_code: str
    options: SynthesisOptions
    voice_id: str
    reference: VoiceReference
    def __init__(self, text: _Optional[str] = ..., language_code: _Optional[str] = ..., options: _Optional[_Union[SynthesisOptions, _Mapping]] = ..., voice_id: _Optional[str] = ..., reference: _Optional[_Union[VoiceReference, _Mapping]] = ...) -> None: ...

class SynthesisInfo(_message.Message):
    __slots__ = ("model", "device", "audio_format", "sentences", "language_code", "voice_id")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    AUDIO_FORMAT_FIELD_NUMBER: _ClassVar[int]
    SENTENCES_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_CODE_FIELD_NUMBER: _ClassVar[int]
    VOICE_ID_FIELD_NUMBER: _ClassVar[int]
    model: str
    device: str
    audio_format: _audio_pb2.PcmFormat
    sentences: _containers.RepeatedScalarFieldContainer[str]
    language_code: str
    voice_id: str
    def __init__(self, model: _Optional[str] = ..., device: _Optional[str] = ..., audio_format: _Optional[_Union[_audio_pb2.PcmFormat, _Mapping]] = ..., sentences: _Optional[_Iterable[str]] = ..., language_code: _Optional[str] = ..., voice_id: _Optional[str] = ...) -> None: ...

class SynthesizedSentence(_message.Message):
    __slots__ = ("index", "text", "time_range")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    TIME_RANGE_FIELD_NUMBER: _ClassVar[int]
    index: int
    text: str
    time_range: _audio_pb2.TimeRange
    def __init__(self, index: _Optional[int] = ..., text: _Optional[str] = ..., time_range: _Optional[_Union[_audio_pb2.TimeRange, _Mapping]] = ...) -> None: ...

class SynthesisSummary(_message.Message):
    __slots__ = ("first_audio_duration", "audio_duration", "processing_duration", "speed_factor", "chunk_count", "sentence_count")
    FIRST_AUDIO_DURATION_FIELD_NUMBER: _ClassVar[int]
    AUDIO_DURATION_FIELD_NUMBER: _ClassVar[int]
    PROCESSING_DURATION_FIELD_NUMBER: _ClassVar[int]
    SPEED_FACTOR_FIELD_NUMBER: _ClassVar[int]
    CHUNK_COUNT_FIELD_NUMBER: _ClassVar[int]
    SENTENCE_COUNT_FIELD_NUMBER: _ClassVar[int]
    first_audio_duration: _duration_pb2.Duration
    audio_duration: _duration_pb2.Duration
    processing_duration: _duration_pb2.Duration
    speed_factor: float
    chunk_count: int
    sentence_count: int
    def __init__(self, first_audio_duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., audio_duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., processing_duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., speed_factor: _Optional[float] = ..., chunk_count: _Optional[int] = ..., sentence_count: _Optional[int] = ...) -> None: ...

class SynthesizeResponse(_message.Message):
    __slots__ = ("info", "audio", "sentence", "progress", "summary")
    INFO_FIELD_NUMBER: _ClassVar[int]
    AUDIO_FIELD_NUMBER: _ClassVar[int]
    SENTENCE_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    info: SynthesisInfo
    audio: _audio_pb2.AudioChunk
    sentence: SynthesizedSentence
    progress: _audio_pb2.Progress
    summary: SynthesisSummary
    def __init__(self, info: _Optional[_Union[SynthesisInfo, _Mapping]] = ..., audio: _Optional[_Union[_audio_pb2.AudioChunk, _Mapping]] = ..., sentence: _Optional[_Union[SynthesizedSentence, _Mapping]] = ..., progress: _Optional[_Union[_audio_pb2.Progress, _Mapping]] = ..., summary: _Optional[_Union[SynthesisSummary, _Mapping]] = ...) -> None: ...

class Voice(_message.Message):
    __slots__ = ("voice_id", "display_name", "model", "transcript", "reference_duration", "create_time")
    VOICE_ID_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    TRANSCRIPT_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_DURATION_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    voice_id: str
    display_name: str
    model: str
    transcript: str
    reference_duration: _duration_pb2.Duration
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, voice_id: _Optional[str] = ..., display_name: _Optional[str] = ..., model: _Optional[str] = ..., transcript: _Optional[str] = ..., reference_duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateVoiceConfig(_message.Message):
    __slots__ = ("audio_format", "voice_id", "display_name", "transcript", "model")
    AUDIO_FORMAT_FIELD_NUMBER: _ClassVar[int]
    VOICE_ID_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    TRANSCRIPT_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    audio_format: _audio_pb2.AudioFormat
    voice_id: str
    display_name: str
    transcript: str
    model: str
    def __init__(self, audio_format: _Optional[_Union[_audio_pb2.AudioFormat, _Mapping]] = ..., voice_id: _Optional[str] = ..., display_name: _Optional[str] = ..., transcript: _Optional[str] = ..., model: _Optional[str] = ...) -> None: ...

class CreateVoiceRequest(_message.Message):
    __slots__ = ("config", "audio_content")
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    AUDIO_CONTENT_FIELD_NUMBER: _ClassVar[int]
    config: CreateVoiceConfig
    audio_content: bytes
    def __init__(self, config: _Optional[_Union[CreateVoiceConfig, _Mapping]] = ..., audio_content: _Optional[bytes] = ...) -> None: ...

class CreateVoiceResponse(_message.Message):
    __slots__ = ("voice",)
    VOICE_FIELD_NUMBER: _ClassVar[int]
    voice: Voice
    def __init__(self, voice: _Optional[_Union[Voice, _Mapping]] = ...) -> None: ...

class ListVoicesRequest(_message.Message):
    __slots__ = ("model",)
    MODEL_FIELD_NUMBER: _ClassVar[int]
    model: str
    def __init__(self, model: _Optional[str] = ...) -> None: ...

class ListVoicesResponse(_message.Message):
    __slots__ = ("voices",)
    VOICES_FIELD_NUMBER: _ClassVar[int]
    voices: _containers.RepeatedCompositeFieldContainer[Voice]
    def __init__(self, voices: _Optional[_Iterable[_Union[Voice, _Mapping]]] = ...) -> None: ...

class DeleteVoiceRequest(_message.Message):
    __slots__ = ("voice_id",)
    VOICE_ID_FIELD_NUMBER: _ClassVar[int]
    voice_id: str
    def __init__(self, voice_id: _Optional[str] = ...) -> None: ...

class DeleteVoiceResponse(_message.Message):
    __slots__ = ("voice",)
    VOICE_FIELD_NUMBER: _ClassVar[int]
    voice: Voice
    def __init__(self, voice: _Optional[_Union[Voice, _Mapping]] = ...) -> None: ...

import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from sidecar.v1 import audio_pb2 as _audio_pb2
from sidecar.v1 import transcription_pb2 as _transcription_pb2
from sidecar.v1 import translation_pb2 as _translation_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SpeechEvent(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SPEECH_EVENT_UNSPECIFIED: _ClassVar[SpeechEvent]
    SPEECH_EVENT_BEGIN: _ClassVar[SpeechEvent]
    SPEECH_EVENT_END: _ClassVar[SpeechEvent]
SPEECH_EVENT_UNSPECIFIED: SpeechEvent
SPEECH_EVENT_BEGIN: SpeechEvent
SPEECH_EVENT_END: SpeechEvent

class VoiceActivityConfig(_message.Message):
    __slots__ = ("enabled", "speech_threshold", "endpoint_silence_duration")
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    SPEECH_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_SILENCE_DURATION_FIELD_NUMBER: _ClassVar[int]
    enabled: bool
    speech_threshold: float
    endpoint_silence_duration: _duration_pb2.Duration
    def __init__(self, enabled: _Optional[bool] = ..., speech_threshold: _Optional[float] = ..., endpoint_silence_duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class StreamingRecognitionConfig(_message.Message):
    __slots__ = ("pcm_format", "model", "language_code", "interim_results", "hotwords", "initial_prompt", "beam_size", "voice_activity", "translation")
    PCM_FORMAT_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_CODE_FIELD_NUMBER: _ClassVar[int]
    INTERIM_RESULTS_FIELD_NUMBER: _ClassVar[int]
    HOTWORDS_FIELD_NUMBER: _ClassVar[int]
    INITIAL_PROMPT_FIELD_NUMBER: _ClassVar[int]
    BEAM_SIZE_FIELD_NUMBER: _ClassVar[int]
    VOICE_ACTIVITY_FIELD_NUMBER: _ClassVar[int]
    TRANSLATION_FIELD_NUMBER: _ClassVar[int]
    pcm_format: _audio_pb2.PcmFormat
    model: str
    language_code: str
    interim_results: bool
    hotwords: str
    initial_prompt: str
    beam_size: int
    voice_activity: VoiceActivityConfig
    translation: _translation_pb2.SpeechTranslationConfig
    def __init__(self, pcm_format: _Optional[_Union[_audio_pb2.PcmFormat, _Mapping]] = ..., model: _Optional[str] = ..., language_code: _Optional[str] = ..., interim_results: _Optional[bool] = ..., hotwords: _Optional[str] = ..., initial_prompt: _Optional[str] = ..., beam_size: _Optional[int] = ..., voice_activity: _Optional[_Union[VoiceActivityConfig, _Mapping]] = ..., translation: _Optional[_Union[_translation_pb2.SpeechTranslationConfig, _Mapping]] = ...) -> None: ...

class StreamingRecognizeRequest(_message.Message):
    __slots__ = ("config", "audio_content")
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    AUDIO_CONTENT_FIELD_NUMBER: _ClassVar[int]
    config: StreamingRecognitionConfig
    audio_content: bytes
    def __init__(self, config: _Optional[_Union[StreamingRecognitionConfig, _Mapping]] = ..., audio_content: _Optional[bytes] = ...) -> None: ...

class StreamingRecognitionResult(_message.Message):
    __slots__ = ("transcript", "words", "is_final", "stability", "time_range")
    TRANSCRIPT_FIELD_NUMBER: _ClassVar[int]
    WORDS_FIELD_NUMBER: _ClassVar[int]
    IS_FINAL_FIELD_NUMBER: _ClassVar[int]
    STABILITY_FIELD_NUMBER: _ClassVar[int]
    TIME_RANGE_FIELD_NUMBER: _ClassVar[int]
    transcript: str
    words: _containers.RepeatedCompositeFieldContainer[_transcription_pb2.Word]
    is_final: bool
    stability: float
    time_range: _audio_pb2.TimeRange
    def __init__(self, transcript: _Optional[str] = ..., words: _Optional[_Iterable[_Union[_transcription_pb2.Word, _Mapping]]] = ..., is_final: _Optional[bool] = ..., stability: _Optional[float] = ..., time_range: _Optional[_Union[_audio_pb2.TimeRange, _Mapping]] = ...) -> None: ...

class StreamingRecognitionInfo(_message.Message):
    __slots__ = ("model", "device", "language_code")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_CODE_FIELD_NUMBER: _ClassVar[int]
    model: str
    device: str
    language_code: str
    def __init__(self, model: _Optional[str] = ..., device: _Optional[str] = ..., language_code: _Optional[str] = ...) -> None: ...

class StreamingRecognizeResponse(_message.Message):
    __slots__ = ("info", "final_result", "interim_result", "speech_event", "speech_event_offset", "received_duration", "processed_duration", "lag_duration", "translation_results")
    INFO_FIELD_NUMBER: _ClassVar[int]
    FINAL_RESULT_FIELD_NUMBER: _ClassVar[int]
    INTERIM_RESULT_FIELD_NUMBER: _ClassVar[int]
    SPEECH_EVENT_FIELD_NUMBER: _ClassVar[int]
    SPEECH_EVENT_OFFSET_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_DURATION_FIELD_NUMBER: _ClassVar[int]
    PROCESSED_DURATION_FIELD_NUMBER: _ClassVar[int]
    LAG_DURATION_FIELD_NUMBER: _ClassVar[int]
    TRANSLATION_RESULTS_FIELD_NUMBER: _ClassVar[int]
    info: StreamingRecognitionInfo
    final_result: StreamingRecognitionResult
    interim_result: StreamingRecognitionResult
    speech_event: SpeechEvent
    speech_event_offset: _duration_pb2.Duration
    received_duration: _duration_pb2.Duration
    processed_duration: _duration_pb2.Duration
    lag_duration: _duration_pb2.Duration
    translation_results: _containers.RepeatedCompositeFieldContainer[_translation_pb2.TranslatedSentence]
    def __init__(self, info: _Optional[_Union[StreamingRecognitionInfo, _Mapping]] = ..., final_result: _Optional[_Union[StreamingRecognitionResult, _Mapping]] = ..., interim_result: _Optional[_Union[StreamingRecognitionResult, _Mapping]] = ..., speech_event: _Optional[_Union[SpeechEvent, str]] = ..., speech_event_offset: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., received_duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., processed_duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., lag_duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., translation_results: _Optional[_Iterable[_Union[_translation_pb2.TranslatedSentence, _Mapping]]] = ...) -> None: ...

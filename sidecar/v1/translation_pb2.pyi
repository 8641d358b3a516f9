import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from sidecar.v1 import audio_pb2 as _audio_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TranslationOptions(_message.Message):
    __slots__ = ("model", "beam_size")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    BEAM_SIZE_FIELD_NUMBER: _ClassVar[int]
    model: str
    beam_size: int
    def __init__(self, model: _Optional[str] = ..., beam_size: _Optional[int] = ...) -> None: ...

class TranslateRequest(_message.Message):
    __slots__ = ("contents", "source_language_code", "target_language_code", "options", "validate_only")
    CONTENTS_FIELD_NUMBER: _ClassVar[int]
    SOURCE_LANGUAGE_CODE_FIELD_NUMBER: _ClassVar[int]
    TARGET_LANGUAGE_CODE_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    VALIDATE_ONLY_FIELD_NUMBER: _ClassVar[int]
    contents: _containers.RepeatedScalarFieldContainer[str]
    source_language_code: str
    target_language_code: str
    options: TranslationOptions
    validate_only: bool
    def __init__(self, contents: _Optional[_Iterable[str]] = ..., source_language_code: _Optional[str] = ..., target_language_code: _Optional[str] = ..., options: _Optional[_Union[TranslationOptions, _Mapping]] = ..., validate_only: _Optional[bool] = ...) -> None: ...

class Translation(_message.Message):
    __slots__ = ("translated_text",)
    TRANSLATED_TEXT_FIELD_NUMBER: _ClassVar[int]
    translated_text: str
    def __init__(self, translated_text: _Optional[str] = ...) -> None: ...

class TranslateResponse(_message.Message):
    __slots__ = ("translations", "source_language_code", "detected_language_code", "target_language_code", "model", "device", "processing_duration")
    TRANSLATIONS_FIELD_NUMBER: _ClassVar[int]
    SOURCE_LANGUAGE_CODE_FIELD_NUMBER: _ClassVar[int]
    DETECTED_LANGUAGE_CODE_FIELD_NUMBER: _ClassVar[int]
    TARGET_LANGUAGE_CODE_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    PROCESSING_DURATION_FIELD_NUMBER: _ClassVar[int]
    translations: _containers.RepeatedCompositeFieldContainer[Translation]
    source_language_code: str
    detected_language_code: str
    target_language_code: str
    model: str
    device: str
    processing_duration: _duration_pb2.Duration
    def __init__(self, translations: _Optional[_Iterable[_Union[Translation, _Mapping]]] = ..., source_language_code: _Optional[str] = ..., detected_language_code: _Optional[str] = ..., target_language_code: _Optional[str] = ..., model: _Optional[str] = ..., device: _Optional[str] = ..., processing_duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class SpeechTranslationConfig(_message.Message):
    __slots__ = ("target_language_codes", "options")
    TARGET_LANGUAGE_CODES_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    target_language_codes: _containers.RepeatedScalarFieldContainer[str]
    options: TranslationOptions
    def __init__(self, target_language_codes: _Optional[_Iterable[str]] = ..., options: _Optional[_Union[TranslationOptions, _Mapping]] = ...) -> None: ...

class TranslatedSentence(_message.Message):
    __slots__ = ("language_code", "translated_text", "source_text", "time_range")
    LANGUAGE_CODE_FIELD_NUMBER: _ClassVar[int]
    TRANSLATED_TEXT_FIELD_NUMBER: _ClassVar[int]
    SOURCE_TEXT_FIELD_NUMBER: _ClassVar[int]
    TIME_RANGE_FIELD_NUMBER: _ClassVar[int]
    language_code: str
    translated_text: str
    source_text: str
    time_range: _audio_pb2.TimeRange
    def __init__(self, language_code: _Optional[str] = ..., translated_text: _Optional[str] = ..., source_text: _Optional[str] = ..., time_range: _Optional[_Union[_audio_pb2.TimeRange, _Mapping]] = ...) -> None: ...

import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from sidecar.v1 import audio_pb2 as _audio_pb2
from sidecar.v1 import diarization_pb2 as _diarization_pb2
from sidecar.v1 import translation_pb2 as _translation_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TranscriptionOptions(_message.Message):
    __slots__ = ("model", "language_code", "translate", "word_timestamps", "vad_filter", "initial_prompt", "hotwords", "beam_size", "diarization", "batch_size", "language_per_segment", "pieces", "translation")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_CODE_FIELD_NUMBER: _ClassVar[int]
    TRANSLATE_FIELD_NUMBER: _ClassVar[int]
    WORD_TIMESTAMPS_FIELD_NUMBER: _ClassVar[int]
    VAD_FILTER_FIELD_NUMBER: _ClassVar[int]
    INITIAL_PROMPT_FIELD_NUMBER: _ClassVar[int]
    HOTWORDS_FIELD_NUMBER: _ClassVar[int]
    BEAM_SIZE_FIELD_NUMBER: _ClassVar[int]
    DIARIZATION_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_PER_SEGMENT_FIELD_NUMBER: _ClassVar[int]
    PIECES_FIELD_NUMBER: _ClassVar[int]
    TRANSLATION_FIELD_NUMBER: _ClassVar[int]
    model: str
    language_code: str
    translate: bool
    word_timestamps: bool
    vad_filter: bool
    initial_prompt: str
    hotwords: str
    beam_size: int
    diarization: _diarization_pb2.DiarizationOptions
    batch_size: int
    language_per_segment: bool
    pieces: int
    translation: _translation_pb2.SpeechTranslationConfig
    def __init__(self, model: _Optional[str] = ..., language_code: _Optional[str] = ..., translate: _Optional[bool] = ..., word_timestamps: _Optional[bool] = ..., vad_filter: _Optional[bool] = ..., initial_prompt: _Optional[str] = ..., hotwords: _Optional[str] = ..., beam_size: _Optional[int] = ..., diarization: _Optional[_Union[_diarization_pb2.DiarizationOptions, _Mapping]] = ..., batch_size: _Optional[int] = ..., language_per_segment: _Optional[bool] = ..., pieces: _Optional[int] = ..., translation: _Optional[_Union[_translation_pb2.SpeechTranslationConfig, _Mapping]] = ...) -> None: ...

class TranscriptionConfig(_message.Message):
    __slots__ = ("audio_format", "options")
    AUDIO_FORMAT_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    audio_format: _audio_pb2.AudioFormat
    options: TranscriptionOptions
    def __init__(self, audio_format: _Optional[_Union[_audio_pb2.AudioFormat, _Mapping]] = ..., options: _Optional[_Union[TranscriptionOptions, _Mapping]] = ...) -> None: ...

class TranscribeFileRequest(_message.Message):
    __slots__ = ("config", "audio_content")
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    AUDIO_CONTENT_FIELD_NUMBER: _ClassVar[int]
    config: TranscriptionConfig
    audio_content: bytes
    def __init__(self, config: _Optional[_Union[TranscriptionConfig, _Mapping]] = ..., audio_content: _Optional[bytes] = ...) -> None: ...

class Word(_message.Message):
    __slots__ = ("text", "time_range", "probability", "speaker_label")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    TIME_RANGE_FIELD_NUMBER: _ClassVar[int]
    PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    SPEAKER_LABEL_FIELD_NUMBER: _ClassVar[int]
    text: str
    time_range: _audio_pb2.TimeRange
    probability: float
    speaker_label: str
    def __init__(self, text: _Optional[str] = ..., time_range: _Optional[_Union[_audio_pb2.TimeRange, _Mapping]] = ..., probability: _Optional[float] = ..., speaker_label: _Optional[str] = ...) -> None: ...

class Segment(_message.Message):
    __slots__ = ("index", "time_range", "text", "words", "average_log_probability", "no_speech_probability", "speaker_label", "language_code")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    TIME_RANGE_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    WORDS_FIELD_NUMBER: _ClassVar[int]
    AVERAGE_LOG_PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    NO_SPEECH_PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    SPEAKER_LABEL_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_CODE_FIELD_NUMBER: _ClassVar[int]
    index: int
    time_range: _audio_pb2.TimeRange
    text: str
    words: _containers.RepeatedCompositeFieldContainer[Word]
    average_log_probability: float
    no_speech_probability: float
    speaker_label: str
    language_code: str
    def __init__(self, index: _Optional[int] = ..., time_range: _Optional[_Union[_audio_pb2.TimeRange, _Mapping]] = ..., text: _Optional[str] = ..., words: _Optional[_Iterable[_Union[Word, _Mapping]]] = ..., average_log_probability: _Optional[float] = ..., no_speech_probability: _Optional[float] = ..., speaker_label: _Optional[str] = ..., language_code: _Optional[str] = ...) -> None: ...

class TranscriptionInfo(_message.Message):
    __slots__ = ("language_code", "language_probability", "audio_duration", "speech_duration", "model", "device")
    LANGUAGE_CODE_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    AUDIO_DURATION_FIELD_NUMBER: _ClassVar[int]
    SPEECH_DURATION_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    language_code: str
    language_probability: float
    audio_duration: _duration_pb2.Duration
    speech_duration: _duration_pb2.Duration
    model: str
    device: str
    def __init__(self, language_code: _Optional[str] = ..., language_probability: _Optional[float] = ..., audio_duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., speech_duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., model: _Optional[str] = ..., device: _Optional[str] = ...) -> None: ...

class TranscriptionSummary(_message.Message):
    __slots__ = ("segment_count", "processing_duration", "speed_factor")
    SEGMENT_COUNT_FIELD_NUMBER: _ClassVar[int]
    PROCESSING_DURATION_FIELD_NUMBER: _ClassVar[int]
    SPEED_FACTOR_FIELD_NUMBER: _ClassVar[int]
    segment_count: int
    processing_duration: _duration_pb2.Duration
    speed_factor: float
    def __init__(self, segment_count: _Optional[int] = ..., processing_duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., speed_factor: _Optional[float] = ...) -> None: ...

class TranscribeFileResponse(_message.Message):
    __slots__ = ("progress", "info", "segment", "summary", "translated_sentence")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    INFO_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    TRANSLATED_SENTENCE_FIELD_NUMBER: _ClassVar[int]
    progress: _audio_pb2.Progress
    info: TranscriptionInfo
    segment: Segment
    summary: TranscriptionSummary
    translated_sentence: _translation_pb2.TranslatedSentence
    def __init__(self, progress: _Optional[_Union[_audio_pb2.Progress, _Mapping]] = ..., info: _Optional[_Union[TranscriptionInfo, _Mapping]] = ..., segment: _Optional[_Union[Segment, _Mapping]] = ..., summary: _Optional[_Union[TranscriptionSummary, _Mapping]] = ..., translated_sentence: _Optional[_Union[_translation_pb2.TranslatedSentence, _Mapping]] = ...) -> None: ...

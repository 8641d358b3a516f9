import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from sidecar.v1 import audio_pb2 as _audio_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DiarizationBackend(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DIARIZATION_BACKEND_UNSPECIFIED: _ClassVar[DiarizationBackend]
    DIARIZATION_BACKEND_OFFLINE: _ClassVar[DiarizationBackend]
    DIARIZATION_BACKEND_PYANNOTE: _ClassVar[DiarizationBackend]
DIARIZATION_BACKEND_UNSPECIFIED: DiarizationBackend
DIARIZATION_BACKEND_OFFLINE: DiarizationBackend
DIARIZATION_BACKEND_PYANNOTE: DiarizationBackend

class DiarizationOptions(_message.Message):
    __slots__ = ("backend", "model", "speaker_count", "min_speaker_count", "max_speaker_count", "name_enrolled_speakers", "known_speaker_ids", "speaker_references", "name_threshold")
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    SPEAKER_COUNT_FIELD_NUMBER: _ClassVar[int]
    MIN_SPEAKER_COUNT_FIELD_NUMBER: _ClassVar[int]
    MAX_SPEAKER_COUNT_FIELD_NUMBER: _ClassVar[int]
    NAME_ENROLLED_SPEAKERS_FIELD_NUMBER: _ClassVar[int]
    KNOWN_SPEAKER_IDS_FIELD_NUMBER: _ClassVar[int]
    SPEAKER_REFERENCES_FIELD_NUMBER: _ClassVar[int]
    NAME_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    backend: DiarizationBackend
    model: str
    speaker_count: int
    min_speaker_count: int
    max_speaker_count: int
    name_enrolled_speakers: bool
    known_speaker_ids: _containers.RepeatedScalarFieldContainer[str]
    speaker_references: _containers.RepeatedCompositeFieldContainer[SpeakerReference]
    name_threshold: float
    def __init__(self, backend: _Optional[_Union[DiarizationBackend, str]] = ..., model: _Optional[str] = ..., speaker_count: _Optional[int] = ..., min_speaker_count: _Optional[int] = ..., max_speaker_count: _Optional[int] = ..., name_enrolled_speakers: _Optional[bool] = ..., known_speaker_ids: _Optional[_Iterable[str]] = ..., speaker_references: _Optional[_Iterable[_Union[SpeakerReference, _Mapping]]] = ..., name_threshold: _Optional[float] = ...) -> None: ...

class SpeakerReference(_message.Message):
    __slots__ = ("name", "audio_format", "audio_content")
    NAME_FIELD_NUMBER: _ClassVar[int]
    AUDIO_FORMAT_FIELD_NUMBER: _ClassVar[int]
    AUDIO_CONTENT_FIELD_NUMBER: _ClassVar[int]
    name: str
    audio_format: _audio_pb2.AudioFormat
    audio_content: bytes
    def __init__(self, name: _Optional[str] = ..., audio_format: _Optional[_Union[_audio_pb2.AudioFormat, _Mapping]] = ..., audio_content: _Optional[bytes] = ...) -> None: ...

class EnrolledSpeaker(_message.Message):
    __slots__ = ("speaker_id", "name", "reference_duration", "create_time")
    SPEAKER_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_DURATION_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    speaker_id: str
    name: str
    reference_duration: _duration_pb2.Duration
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, speaker_id: _Optional[str] = ..., name: _Optional[str] = ..., reference_duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class EnrollSpeakerConfig(_message.Message):
    __slots__ = ("audio_format", "name")
    AUDIO_FORMAT_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    audio_format: _audio_pb2.AudioFormat
    name: str
    def __init__(self, audio_format: _Optional[_Union[_audio_pb2.AudioFormat, _Mapping]] = ..., name: _Optional[str] = ...) -> None: ...

class EnrollSpeakerRequest(_message.Message):
    __slots__ = ("config", "audio_content")
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    AUDIO_CONTENT_FIELD_NUMBER: _ClassVar[int]
    config: EnrollSpeakerConfig
    audio_content: bytes
    def __init__(self, config: _Optional[_Union[EnrollSpeakerConfig, _Mapping]] = ..., audio_content: _Optional[bytes] = ...) -> None: ...

class EnrollSpeakerResponse(_message.Message):
    __slots__ = ("speaker",)
    SPEAKER_FIELD_NUMBER: _ClassVar[int]
    speaker: EnrolledSpeaker
    def __init__(self, speaker: _Optional[_Union[EnrolledSpeaker, _Mapping]] = ...) -> None: ...

class ListSpeakersRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListSpeakersResponse(_message.Message):
    __slots__ = ("speakers",)
    SPEAKERS_FIELD_NUMBER: _ClassVar[int]
    speakers: _containers.RepeatedCompositeFieldContainer[EnrolledSpeaker]
    def __init__(self, speakers: _Optional[_Iterable[_Union[EnrolledSpeaker, _Mapping]]] = ...) -> None: ...

class DeleteSpeakerRequest(_message.Message):
    __slots__ = ("speaker_id",)
    SPEAKER_ID_FIELD_NUMBER: _ClassVar[int]
    speaker_id: str
    def __init__(self, speaker_id: _Optional[str] = ...) -> None: ...

class DeleteSpeakerResponse(_message.Message):
    __slots__ = ("speaker",)
    SPEAKER_FIELD_NUMBER: _ClassVar[int]
    speaker: EnrolledSpeaker
    def __init__(self, speaker: _Optional[_Union[EnrolledSpeaker, _Mapping]] = ...) -> None: ...

class DiarizationConfig(_message.Message):
    __slots__ = ("audio_format", "options")
    AUDIO_FORMAT_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    audio_format: _audio_pb2.AudioFormat
    options: DiarizationOptions
    def __init__(self, audio_format: _Optional[_Union[_audio_pb2.AudioFormat, _Mapping]] = ..., options: _Optional[_Union[DiarizationOptions, _Mapping]] = ...) -> None: ...

class DiarizeFileRequest(_message.Message):
    __slots__ = ("config", "audio_content")
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    AUDIO_CONTENT_FIELD_NUMBER: _ClassVar[int]
    config: DiarizationConfig
    audio_content: bytes
    def __init__(self, config: _Optional[_Union[DiarizationConfig, _Mapping]] = ..., audio_content: _Optional[bytes] = ...) -> None: ...

class SpeakerTurn(_message.Message):
    __slots__ = ("time_range", "speaker_label", "confidence")
    TIME_RANGE_FIELD_NUMBER: _ClassVar[int]
    SPEAKER_LABEL_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    time_range: _audio_pb2.TimeRange
    speaker_label: str
    confidence: float
    def __init__(self, time_range: _Optional[_Union[_audio_pb2.TimeRange, _Mapping]] = ..., speaker_label: _Optional[str] = ..., confidence: _Optional[float] = ...) -> None: ...

class DiarizationSummary(_message.Message):
    __slots__ = ("speaker_count", "speaker_labels", "turn_count", "audio_duration", "speech_duration", "backend", "model", "device", "processing_duration", "speed_factor")
    SPEAKER_COUNT_FIELD_NUMBER: _ClassVar[int]
    SPEAKER_LABELS_FIELD_NUMBER: _ClassVar[int]
    TURN_COUNT_FIELD_NUMBER: _ClassVar[int]
    AUDIO_DURATION_FIELD_NUMBER: _ClassVar[int]
    SPEECH_DURATION_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    PROCESSING_DURATION_FIELD_NUMBER: _ClassVar[int]
    SPEED_FACTOR_FIELD_NUMBER: _ClassVar[int]
    speaker_count: int
    speaker_labels: _containers.RepeatedScalarFieldContainer[str]
    turn_count: int
    audio_duration: _duration_pb2.Duration
    speech_duration: _duration_pb2.Duration
    backend: DiarizationBackend
    model: str
    device: str
    processing_duration: _duration_pb2.Duration
    speed_factor: float
    def __init__(self, speaker_count: _Optional[int] = ..., speaker_labels: _Optional[_Iterable[str]] = ..., turn_count: _Optional[int] = ..., audio_duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., speech_duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., backend: _Optional[_Union[DiarizationBackend, str]] = ..., model: _Optional[str] = ..., device: _Optional[str] = ..., processing_duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., speed_factor: _Optional[float] = ...) -> None: ...

class DiarizeFileResponse(_message.Message):
    __slots__ = ("progress", "turn", "summary")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    TURN_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    progress: _audio_pb2.Progress
    turn: SpeakerTurn
    summary: DiarizationSummary
    def __init__(self, progress: _Optional[_Union[_audio_pb2.Progress, _Mapping]] = ..., turn: _Optional[_Union[SpeakerTurn, _Mapping]] = ..., summary: _Optional[_Union[DiarizationSummary, _Mapping]] = ...) -> None: ...

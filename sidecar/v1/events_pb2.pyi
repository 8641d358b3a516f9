import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from sidecar.v1 import audio_pb2 as _audio_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EventDetectionOptions(_message.Message):
    __slots__ = ("model", "labels", "window_duration", "hop_duration", "threshold", "min_region_duration", "merge_gap_duration")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    WINDOW_DURATION_FIELD_NUMBER: _ClassVar[int]
    HOP_DURATION_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    MIN_REGION_DURATION_FIELD_NUMBER: _ClassVar[int]
    MERGE_GAP_DURATION_FIELD_NUMBER: _ClassVar[int]
    model: str
    labels: _containers.RepeatedScalarFieldContainer[str]
    window_duration: _duration_pb2.Duration
    hop_duration: _duration_pb2.Duration
    threshold: float
    min_region_duration: _duration_pb2.Duration
    merge_gap_duration: _duration_pb2.Duration
    def __init__(self, model: _Optional[str] = ..., labels: _Optional[_Iterable[str]] = ..., window_duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., hop_duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., threshold: _Optional[float] = ..., min_region_duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., merge_gap_duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class EventDetectionConfig(_message.Message):
    __slots__ = ("audio_format", "options")
    AUDIO_FORMAT_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    audio_format: _audio_pb2.AudioFormat
    options: EventDetectionOptions
    def __init__(self, audio_format: _Optional[_Union[_audio_pb2.AudioFormat, _Mapping]] = ..., options: _Optional[_Union[EventDetectionOptions, _Mapping]] = ...) -> None: ...

class DetectEventsRequest(_message.Message):
    __slots__ = ("config", "audio_content")
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    AUDIO_CONTENT_FIELD_NUMBER: _ClassVar[int]
    config: EventDetectionConfig
    audio_content: bytes
    def __init__(self, config: _Optional[_Union[EventDetectionConfig, _Mapping]] = ..., audio_content: _Optional[bytes] = ...) -> None: ...

class EventDetectionInfo(_message.Message):
    __slots__ = ("model", "device", "labels", "audio_duration", "window_duration", "hop_duration", "threshold", "min_region_duration", "merge_gap_duration")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    AUDIO_DURATION_FIELD_NUMBER: _ClassVar[int]
    WINDOW_DURATION_FIELD_NUMBER: _ClassVar[int]
    HOP_DURATION_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    MIN_REGION_DURATION_FIELD_NUMBER: _ClassVar[int]
    MERGE_GAP_DURATION_FIELD_NUMBER: _ClassVar[int]
    model: str
    device: str
    labels: _containers.RepeatedScalarFieldContainer[str]
    audio_duration: _duration_pb2.Duration
    window_duration: _duration_pb2.Duration
    hop_duration: _duration_pb2.Duration
    threshold: float
    min_region_duration: _duration_pb2.Duration
    merge_gap_duration: _duration_pb2.Duration
    def __init__(self, model: _Optional[str] = ..., device: _Optional[str] = ..., labels: _Optional[_Iterable[str]] = ..., audio_duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., window_duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., hop_duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., threshold: _Optional[float] = ..., min_region_duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., merge_gap_duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class EventRegion(_message.Message):
    __slots__ = ("index", "label", "time_range", "score", "mean_score")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    TIME_RANGE_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    MEAN_SCORE_FIELD_NUMBER: _ClassVar[int]
    index: int
    label: str
    time_range: _audio_pb2.TimeRange
    score: float
    mean_score: float
    def __init__(self, index: _Optional[int] = ..., label: _Optional[str] = ..., time_range: _Optional[_Union[_audio_pb2.TimeRange, _Mapping]] = ..., score: _Optional[float] = ..., mean_score: _Optional[float] = ...) -> None: ...

class EventDetectionSummary(_message.Message):
    __slots__ = ("region_count", "window_count", "processing_duration", "speed_factor")
    REGION_COUNT_FIELD_NUMBER: _ClassVar[int]
    WINDOW_COUNT_FIELD_NUMBER: _ClassVar[int]
    PROCESSING_DURATION_FIELD_NUMBER: _ClassVar[int]
    SPEED_FACTOR_FIELD_NUMBER: _ClassVar[int]
    region_count: int
    window_count: int
    processing_duration: _duration_pb2.Duration
    speed_factor: float
    def __init__(self, region_count: _Optional[int] = ..., window_count: _Optional[int] = ..., processing_duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., speed_factor: _Optional[float] = ...) -> None: ...

class DetectEventsResponse(_message.Message):
    __slots__ = ("progress", "info", "region", "summary")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    INFO_FIELD_NUMBER: _ClassVar[int]
    REGION_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    progress: _audio_pb2.Progress
    info: EventDetectionInfo
    region: EventRegion
    summary: EventDetectionSummary
    def __init__(self, progress: _Optional[_Union[_audio_pb2.Progress, _Mapping]] = ..., info: _Optional[_Union[EventDetectionInfo, _Mapping]] = ..., region: _Optional[_Union[EventRegion, _Mapping]] = ..., summary: _Optional[_Union[EventDetectionSummary, _Mapping]] = ...) -> None: ...

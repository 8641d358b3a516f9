import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Capability(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CAPABILITY_UNSPECIFIED: _ClassVar[Capability]
    CAPABILITY_TRANSCRIPTION: _ClassVar[Capability]
    CAPABILITY_TRANSLATION: _ClassVar[Capability]
    CAPABILITY_LANGUAGE_DETECTION: _ClassVar[Capability]
    CAPABILITY_DIARIZATION: _ClassVar[Capability]
    CAPABILITY_ENHANCEMENT: _ClassVar[Capability]
    CAPABILITY_SEPARATION: _ClassVar[Capability]
    CAPABILITY_SYNTHESIS: _ClassVar[Capability]
    CAPABILITY_CUE_GENERATION: _ClassVar[Capability]
    CAPABILITY_EVENT_DETECTION: _ClassVar[Capability]
    CAPABILITY_STREAMING_RECOGNITION: _ClassVar[Capability]
    CAPABILITY_TEXT_TRANSLATION: _ClassVar[Capability]
CAPABILITY_UNSPECIFIED: Capability
CAPABILITY_TRANSCRIPTION: Capability
CAPABILITY_TRANSLATION: Capability
CAPABILITY_LANGUAGE_DETECTION: Capability
CAPABILITY_DIARIZATION: Capability
CAPABILITY_ENHANCEMENT: Capability
CAPABILITY_SEPARATION: Capability
CAPABILITY_SYNTHESIS: Capability
CAPABILITY_CUE_GENERATION: Capability
CAPABILITY_EVENT_DETECTION: Capability
CAPABILITY_STREAMING_RECOGNITION: Capability
CAPABILITY_TEXT_TRANSLATION: Capability

class ListModelsRequest(_message.Message):
    __slots__ = ("capability",)
    CAPABILITY_FIELD_NUMBER: _ClassVar[int]
    capability: Capability
    def __init__(self, capability: _Optional[_Union[Capability, str]] = ...) -> None: ...

class ModelInfo(_message.Message):
    __slots__ = ("name", "family", "capabilities", "source", "path", "loaded", "device", "is_default", "memory_bytes", "last_use_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    FAMILY_FIELD_NUMBER: _ClassVar[int]
    CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    LOADED_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    IS_DEFAULT_FIELD_NUMBER: _ClassVar[int]
    MEMORY_BYTES_FIELD_NUMBER: _ClassVar[int]
    LAST_USE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    family: str
    capabilities: _containers.RepeatedScalarFieldContainer[Capability]
    source: str
    path: str
    loaded: bool
    device: str
    is_default: bool
    memory_bytes: int
    last_use_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., family: _Optional[str] = ..., capabilities: _Optional[_Iterable[_Union[Capability, str]]] = ..., source: _Optional[str] = ..., path: _Optional[str] = ..., loaded: _Optional[bool] = ..., device: _Optional[str] = ..., is_default: _Optional[bool] = ..., memory_bytes: _Optional[int] = ..., last_use_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListModelsResponse(_message.Message):
    __slots__ = ("models",)
    MODELS_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[ModelInfo]
    def __init__(self, models: _Optional[_Iterable[_Union[ModelInfo, _Mapping]]] = ...) -> None: ...

class ListDownloadableModelsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DownloadableModel(_message.Message):
    __slots__ = ("name", "family", "approximate_size", "license", "license_to_accept", "downloaded")
    NAME_FIELD_NUMBER: _ClassVar[int]
    FAMILY_FIELD_NUMBER: _ClassVar[int]
    APPROXIMATE_SIZE_FIELD_NUMBER: _ClassVar[int]
    LICENSE_FIELD_NUMBER: _ClassVar[int]
    LICENSE_TO_ACCEPT_FIELD_NUMBER: _ClassVar[int]
    DOWNLOADED_FIELD_NUMBER: _ClassVar[int]
    name: str
    family: str
    approximate_size: str
    license: str
    license_to_accept: str
    downloaded: bool
    def __init__(self, name: _Optional[str] = ..., family: _Optional[str] = ..., approximate_size: _Optional[str] = ..., license: _Optional[str] = ..., license_to_accept: _Optional[str] = ..., downloaded: _Optional[bool] = ...) -> None: ...

class ListDownloadableModelsResponse(_message.Message):
    __slots__ = ("models",)
    MODELS_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[DownloadableModel]
    def __init__(self, models: _Optional[_Iterable[_Union[DownloadableModel, _Mapping]]] = ...) -> None: ...

class PullModelRequest(_message.Message):
    __slots__ = ("name", "accept_license")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ACCEPT_LICENSE_FIELD_NUMBER: _ClassVar[int]
    name: str
    accept_license: bool
    def __init__(self, name: _Optional[str] = ..., accept_license: _Optional[bool] = ...) -> None: ...

class PullModelResponse(_message.Message):
    __slots__ = ("done_bytes", "total_bytes", "file", "done")
    DONE_BYTES_FIELD_NUMBER: _ClassVar[int]
    TOTAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    FILE_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    done_bytes: int
    total_bytes: int
    file: str
    done: bool
    def __init__(self, done_bytes: _Optional[int] = ..., total_bytes: _Optional[int] = ..., file: _Optional[str] = ..., done: _Optional[bool] = ...) -> None: ...

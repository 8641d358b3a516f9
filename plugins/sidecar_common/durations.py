"""google.protobuf.Duration <-> seconds, the one conversion every side of the protocol makes."""

from __future__ import annotations

from typing import Protocol


class Duration(Protocol):
    seconds: int
    nanos: int


def seconds(duration: Duration) -> float:
    """A Duration (or anything with its `seconds` and `nanos`) as float seconds."""
    return duration.seconds + duration.nanos / 1e9


def duration(seconds: float):
    """A google.protobuf.Duration of `seconds`, negative values clamped to zero."""
    from google.protobuf import duration_pb2

    result = duration_pb2.Duration()
    result.FromNanoseconds(round(max(0.0, seconds) * 1e9))
    return result

"""google.protobuf.Duration <-> seconds, the one conversion every side of the protocol makes."""

from __future__ import annotations

from typing import Protocol


class Duration(Protocol):
    seconds: int
    nanos: int


def seconds(duration: Duration) -> float:
    """A Duration (or anything with its `seconds` and `nanos`) as float seconds."""
    return duration.seconds + duration.nanos / 1e9


def span(time_range) -> tuple[float, float]:
    """A TimeRange (anything with `start_offset` and `end_offset` Durations) as (start, end) seconds."""
    return seconds(time_range.start_offset), seconds(time_range.end_offset)


def duration(seconds: float):
    """A google.protobuf.Duration of `seconds`, negative values clamped to zero."""
    from google.protobuf import duration_pb2

    result = duration_pb2.Duration()
    result.FromNanoseconds(round(max(0.0, seconds) * 1e9))
    return result

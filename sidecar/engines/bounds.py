"""Bounds of the numeric and text options, declared as a table beside each option dataclass.

Each option dataclass derives from Bounded and lists its bounds in a BOUNDS class attribute,
field by field; they are checked when the options are made, so a request converted into options
is refused before any model loads or any audio is read. One mechanism for every service, and a
test (tests/test_hostile_inputs.py) that every number and free text an option dataclass holds
has a bound. Cross-field rules (a hop at most the window) stay in validate().
"""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

from sidecar.errors import InvalidOptionsError


@dataclasses.dataclass(frozen=True)
class Range:
    """low <= value <= high (low < value with above_low); None passes where the field allows
    it. NaN and infinity never pass."""

    low: float
    high: float
    what: str  # how messages name the option
    unit: str = ""
    above_low: bool = False

    def check(self, value: float) -> None:
        low_ok = value > self.low if self.above_low else value >= self.low
        if not (math.isfinite(value) and low_ok and value <= self.high):
            span = (
                f"above {self.low:g} and at most {self.high:g}{self.unit}"
                if self.above_low
                else f"{self.low:g}..{self.high:g}{self.unit}"
            )
            raise InvalidOptionsError(f"{self.what} must be {span}, not {value:g}{self.unit}")


@dataclasses.dataclass(frozen=True)
class Length:
    """Text of at most `max_chars` characters (or a tuple of at most `max_items` such texts)."""

    max_chars: int
    what: str
    max_items: int = 1

    def check(self, value: str | tuple[str, ...]) -> None:
        items = (value,) if isinstance(value, str) else tuple(value)
        if len(items) > self.max_items:
            raise InvalidOptionsError(f"{len(items)} {self.what} given; at most {self.max_items} are allowed")
        for item in items:
            if len(item) > self.max_chars:
                raise InvalidOptionsError(
                    f"the {self.what} has {len(item)} characters; at most {self.max_chars} are allowed"
                )


class Bounded:
    """A base for option dataclasses: BOUNDS are checked in __post_init__."""

    BOUNDS: ClassVar[dict[str, Range | Length]] = {}

    def __post_init__(self) -> None:
        check(self)


def check(options) -> None:
    """Checks every field `type(options).BOUNDS` names."""
    for name, bound in type(options).BOUNDS.items():
        value = getattr(options, name)
        if value is not None and not isinstance(value, bool):
            bound.check(value)

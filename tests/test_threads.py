"""runtime.threads.in_lanes: many items, a few at once, results as they finish."""

import threading
import time

import pytest

from sidecar.runtime import threads


class Tally:
    """Work that notes how many calls are under way at once."""

    def __init__(self, seconds: float = 0.05) -> None:
        self.seconds = seconds
        self.running = self.most = 0
        self.lock = threading.Lock()

    def __call__(self, item: int) -> int:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        time.sleep(self.seconds * (1 + item % 3))
        with self.lock:
            self.running -= 1
        if item == 13:
            raise ValueError("thirteen")
        return item * item


def test_lanes_run_every_item_a_few_at_once_and_give_each_result():
    tally = Tally()
    results = dict(threads.in_lanes("squares", 3, tally, list(range(10))))
    assert results == {i: i * i for i in range(10)}
    assert tally.most == 3
    one_lane = Tally()
    assert [i for i, _ in threads.in_lanes("squares", 1, one_lane, list(range(4)))] == [0, 1, 2, 3]
    assert one_lane.most == 1
    assert list(threads.in_lanes("squares", 4, tally, [])) == []


def test_an_error_reaches_the_reader_and_closing_takes_no_further_item():
    tally = Tally()
    with pytest.raises(ValueError, match="thirteen"):
        dict(threads.in_lanes("squares", 2, tally, [12, 13, 14]))
    started = []

    def noted(item: int) -> int:
        started.append(item)
        return tally(item)

    lanes = threads.in_lanes("squares", 2, noted, list(range(20)))
    next(lanes)
    lanes.close()
    time.sleep(tally.seconds * 4)  # the work under way ends, and nothing starts after it
    assert len(started) <= 4, started

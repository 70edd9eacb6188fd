"""retry_within: a one-shot command retries an unreachable server with backoff until its
deadline, then reports the last failure."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from kernel.errors import ConfigError, InfrastructureError
from kernel.retry import Backoff, retry_within


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def flaky(failures: int, error: Exception | None = None) -> tuple[list[int], Callable[[], str]]:
    calls: list[int] = []

    def operation() -> str:
        calls.append(1)
        if len(calls) <= failures:
            raise error or InfrastructureError("cannot reach Kafka at kafka:9092")
        return "done"

    return calls, operation


def test_retries_with_backoff_until_it_succeeds() -> None:
    clock = Clock()
    calls, operation = flaky(3)
    result = retry_within(
        operation,
        wait_s=60,
        what="topics",
        backoff=Backoff(base_s=1.0, max_s=15.0),
        sleep=clock.sleep,
        clock=clock,
    )
    assert result == "done" and len(calls) == 4
    assert clock.sleeps == [1.0, 2.0, 4.0]


def test_gives_up_at_the_deadline_with_the_last_failure() -> None:
    clock = Clock()
    calls, operation = flaky(100)
    with pytest.raises(InfrastructureError, match="cannot reach Kafka"):
        retry_within(operation, wait_s=10, what="topics", sleep=clock.sleep, clock=clock)
    assert clock.sleeps == [1.0, 2.0, 4.0, 3.0]  # the last wait ends at the deadline
    assert len(calls) == 5


def test_without_a_wait_it_tries_once() -> None:
    clock = Clock()
    calls, operation = flaky(1)
    with pytest.raises(InfrastructureError):
        retry_within(operation, wait_s=0, what="topics", sleep=clock.sleep, clock=clock)
    assert len(calls) == 1 and clock.sleeps == []


def test_other_failures_are_not_retried() -> None:
    clock = Clock()
    for error in (ConfigError("bad"), InfrastructureError("refused", retriable=False)):
        calls, operation = flaky(1, error)
        with pytest.raises(type(error)):
            retry_within(operation, wait_s=60, what="x", sleep=clock.sleep, clock=clock)
        assert len(calls) == 1
    assert clock.sleeps == []

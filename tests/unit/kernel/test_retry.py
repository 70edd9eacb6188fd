"""The one retry helper: backoff with and without jitter, interruptible waits, the retry loop."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingest.runner import RECONNECT_BASE_S
from kernel.errors import InfrastructureError
from kernel.retry import (
    Backoff,
    Stopped,
    backoff_s,
    pause,
    retry_until_stopped,
    until_stopped,
    wait_or_stop,
    wait_until_up,
)
from processors.normalize.runner import REGISTRY_RETRY_BASE_S, REGISTRY_RETRY_MAX_S
from processors.store.runner import RETRY_BASE_S, RETRY_MAX_S, retry_backoff


@given(attempt=st.integers(0, 10_000), cap=st.floats(0.01, 600), rand=st.floats(0, 1))
def test_backoff_doubles_up_to_the_cap_with_bounded_jitter(
    attempt: int, cap: float, rand: float
) -> None:
    """The bridge's reconnect delays: from 0.5 s, equal jitter."""

    def delay(n: int, r: float) -> float:
        return backoff_s(n, base_s=RECONNECT_BASE_S, max_s=cap, jitter=r)

    full = min(cap, 0.5 * 2.0 ** min(attempt, 32))
    assert full / 2 <= delay(attempt, rand) <= full <= cap
    assert delay(attempt + 1, 1.0) >= delay(attempt, 1.0)


@given(st.integers(0, 200))
def test_backoff_doubles_and_is_capped(attempt: int) -> None:
    """The store's retry delays: from 0.1 s up to 10 s, no jitter."""
    delay = backoff_s(attempt, base_s=0.1, max_s=10.0)
    assert 0.1 <= delay <= 10.0
    assert backoff_s(attempt + 1, base_s=0.1, max_s=10.0) >= delay
    if attempt < 6:
        assert delay == 0.1 * 2**attempt


def test_each_stage_keeps_its_delays() -> None:
    assert RECONNECT_BASE_S == 0.5
    assert (RETRY_BASE_S, RETRY_MAX_S) == (0.1, 10.0)
    store = retry_backoff()
    assert [store.next_s() for _ in range(9)] == [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 10.0, 10.0]
    normalize = Backoff(REGISTRY_RETRY_BASE_S, REGISTRY_RETRY_MAX_S)
    assert [normalize.next_s() for _ in range(8)] == [0.5, 1, 2, 4, 8, 16, 30, 30]


def test_a_negative_attempt_is_refused() -> None:
    with pytest.raises(ValueError, match="attempt"):
        backoff_s(-1, base_s=0.1, max_s=1.0)


def test_backoff_counts_attempts_draws_jitter_and_resets() -> None:
    draws = iter([0.0, 1.0, 0.5])
    b = Backoff(1.0, 8.0, jitter=lambda: next(draws))
    assert [b.next_s(), b.next_s(), b.next_s()] == [0.5, 2.0, 3.0]
    assert b.attempt == 3
    b.reset()
    assert b.attempt == 0
    assert Backoff(1.0, 8.0).next_s() == 1.0  # no jitter: the whole delay


def test_pause_ends_early_when_stopped() -> None:
    async def scenario() -> tuple[bool, bool, float]:
        stop = asyncio.Event()
        timed_out = await pause(0.01, stop)
        asyncio.get_running_loop().call_later(0.05, stop.set)
        started = time.monotonic()
        stopped = await pause(30, stop)
        return timed_out, stopped, time.monotonic() - started

    timed_out, stopped, waited = asyncio.run(scenario())
    assert not timed_out and stopped and waited < 5


def test_wait_or_stop_raises_stopped() -> None:
    async def scenario() -> None:
        stop = asyncio.Event()
        await wait_or_stop(0.01, stop)
        stop.set()
        await wait_or_stop(30, stop)

    with pytest.raises(Stopped):
        asyncio.run(scenario())


def test_retry_until_stopped_retries_retriable_failures_then_returns() -> None:
    calls: list[int] = []
    retries: list[int] = []

    async def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise InfrastructureError("down")
        return "up"

    async def scenario() -> str:
        return await retry_until_stopped(
            flaky,
            retriable=(InfrastructureError,),
            stop=asyncio.Event(),
            what="flaky",
            backoff=Backoff(0.001, 0.002),
            on_retry=lambda: retries.append(1),
        )

    assert asyncio.run(scenario()) == "up"
    assert len(calls) == 3 and len(retries) == 2


def test_retry_until_stopped_lets_other_failures_through() -> None:
    async def fatal() -> None:
        raise InfrastructureError("bad password", retriable=False)

    async def other() -> None:
        raise KeyError("bug")

    async def run(operation: Callable[[], Awaitable[None]]) -> None:
        await retry_until_stopped(
            operation,
            retriable=(InfrastructureError,),
            stop=asyncio.Event(),
            what="x",
            backoff=Backoff(0.001, 0.001),
        )

    with pytest.raises(InfrastructureError, match="bad password"):
        asyncio.run(run(fatal))
    with pytest.raises(KeyError):
        asyncio.run(run(other))


def test_retry_until_stopped_raises_stopped_while_waiting() -> None:
    async def down() -> None:
        raise OSError("down")

    async def scenario() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(0.05, stop.set)
        await retry_until_stopped(
            down, retriable=(OSError,), stop=stop, what="down", backoff=Backoff(30, 30)
        )

    started = time.monotonic()
    with pytest.raises(Stopped):
        asyncio.run(scenario())
    assert time.monotonic() - started < 5


def test_waiting_for_a_server_logs_one_line_per_kind_of_failure(
    caplog: pytest.LogCaptureFixture,
) -> None:
    failures = [OSError("refused")] * 5 + [InfrastructureError("no such database")] * 3
    calls = 0

    async def reach() -> str:
        nonlocal calls
        calls += 1
        if failures:
            raise failures.pop(0)
        return "up"

    async def scenario() -> str:
        return await wait_until_up(
            reach,
            retriable=(OSError, InfrastructureError),
            stop=asyncio.Event(),
            what="connecting to PostgreSQL",
            backoff=Backoff(0.001, 0.002),
            logger=logging.getLogger("journeygate.test"),
        )

    with caplog.at_level(logging.INFO, logger="journeygate.test"):
        assert asyncio.run(scenario()) == "up"
    lines = [rec.getMessage() for rec in caplog.records]
    assert calls == 9 and len(lines) == 3, lines
    assert "refused" in lines[0] and "no such database" in lines[1]
    assert "succeeded after 8 failed attempts" in lines[2]


def test_work_in_hand_gets_its_grace_after_a_stop_then_is_abandoned() -> None:
    async def scenario() -> tuple[str, bool]:
        stop = asyncio.Event()
        stop.set()
        quick = await until_stopped(asyncio.sleep(0.01, "done"), stop, grace_s=1.0)
        try:
            await until_stopped(asyncio.sleep(10), stop, grace_s=0.05)
        except Stopped:
            return quick, True
        return quick, False

    assert asyncio.run(scenario()) == ("done", True)

"""Retrying infrastructure failures: exponential backoff, interruptible waits, a retry loop.

Every stage retries the same way: the delay doubles from a base per failed attempt up to a cap,
optionally with "equal jitter" (half fixed, half random), and every wait ends as soon as the
stage's stop event is set. Waiting for a server at start-up (:func:`wait_until_up`) logs one line
per kind of failure, not one per attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from kernel.errors import InfrastructureError

T = TypeVar("T")

log = logging.getLogger("journeygate")

# 2**32 times any base exceeds every cap; the exponent is bounded so the float cannot overflow.
_MAX_DOUBLINGS = 32


class Stopped(Exception):
    """The stop event was set while an operation was waiting to be retried."""


def backoff_s(attempt: int, *, base_s: float, max_s: float, jitter: float | None = None) -> float:
    """Delay before retry ``attempt`` (0-based): ``base_s`` doubled per attempt, capped at
    ``max_s``. With ``jitter`` (a number in [0, 1]) the delay is "equal jitter": half of it
    fixed, the other half scaled by ``jitter``."""
    if attempt < 0:
        raise ValueError("attempt must be >= 0")
    full = float(min(max_s, base_s * 2.0 ** min(attempt, _MAX_DOUBLINGS)))
    if jitter is None:
        return full
    return full / 2 + full / 2 * jitter


@dataclass(slots=True)
class Backoff:
    """Successive backoff delays; ``jitter`` draws a number in [0, 1] per delay (e.g.
    ``random.random``), None for none."""

    base_s: float
    max_s: float
    jitter: Callable[[], float] | None = None
    attempt: int = 0

    def next_s(self) -> float:
        """The delay before the next retry; each call counts one more failed attempt."""
        rand = self.jitter() if self.jitter is not None else None
        delay = backoff_s(self.attempt, base_s=self.base_s, max_s=self.max_s, jitter=rand)
        self.attempt += 1
        return delay

    def reset(self) -> None:
        """Start again from ``base_s`` (after a success)."""
        self.attempt = 0


async def pause(delay_s: float, stop: asyncio.Event) -> bool:
    """Sleep ``delay_s``, returning early when ``stop`` is set; True if it is set."""
    if stop.is_set():
        return True
    try:
        await asyncio.wait_for(stop.wait(), timeout=delay_s)
    except TimeoutError:
        return False
    return True


async def wait_or_stop(delay_s: float, stop: asyncio.Event) -> None:
    """Sleep ``delay_s``; raise :class:`Stopped` as soon as ``stop`` is set."""
    if await pause(delay_s, stop):
        raise Stopped


async def retry_until_stopped(
    operation: Callable[[], Awaitable[T]],
    *,
    retriable: tuple[type[BaseException], ...],
    stop: asyncio.Event,
    what: str,
    backoff: Backoff,
    on_retry: Callable[[], None] = lambda: None,
    logger: logging.Logger = log,
) -> T:
    """Run ``operation`` until it succeeds, waiting ``backoff.next_s()`` after each ``retriable``
    failure (``backoff`` counts failures across calls until its owner resets it).

    Any other exception, or an :class:`InfrastructureError` that is not ``retriable``,
    propagates. Raises :class:`Stopped` if ``stop`` is set while waiting.
    """
    while True:
        try:
            return await operation()
        except retriable as exc:
            if isinstance(exc, InfrastructureError) and not exc.retriable:
                raise
            delay_s = backoff.next_s()
            logger.warning(
                "%s failed (%s: %s); retrying in %.1f s", what, type(exc).__name__, exc, delay_s
            )
            on_retry()
            await wait_or_stop(delay_s, stop)


def retry_within(
    operation: Callable[[], T],
    *,
    wait_s: float,
    what: str,
    backoff: Backoff | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    logger: logging.Logger = log,
) -> T:
    """Run the blocking ``operation``, retrying after each retriable
    :class:`InfrastructureError` with ``backoff`` (default: 1 s doubling up to 15 s) for up to
    ``wait_s`` seconds from the first try; then the last failure propagates. With ``wait_s``
    0 it runs once. For one-shot commands that may start before their server (e.g.
    ``journeygate migrate --wait-s``)."""
    backoff = backoff if backoff is not None else Backoff(base_s=1.0, max_s=15.0)
    deadline = clock() + wait_s
    while True:
        try:
            return operation()
        except InfrastructureError as exc:
            left_s = deadline - clock()
            if not exc.retriable or left_s <= 0:
                raise
            delay_s = min(backoff.next_s(), left_s)
            logger.warning("%s: %s; retrying in %.1f s", what, exc, delay_s)
            sleep(delay_s)


async def until_stopped(
    work: Coroutine[Any, Any, T], stop: asyncio.Event, grace_s: float = 0.0
) -> T:
    """Await ``work``; once ``stop`` is set, let it finish for up to ``grace_s`` more seconds,
    then cancel it and raise :class:`Stopped`. For a call that may wait long while a server is
    away (a Kafka consumer's start waits for its partitions, a produce for its acknowledgement),
    so that a stop is never held up by it for long."""
    task = asyncio.ensure_future(work)
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait((task, stopped), return_when=asyncio.FIRST_COMPLETED)
        if not task.done() and grace_s > 0:
            await asyncio.wait((task,), timeout=grace_s)
    except BaseException:
        task.cancel()
        raise
    finally:
        stopped.cancel()
    if task.done():
        return task.result()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
    raise Stopped


async def wait_until_up(
    operation: Callable[[], Awaitable[T]],
    *,
    retriable: tuple[type[BaseException], ...],
    stop: asyncio.Event,
    what: str,
    backoff: Backoff,
    on_failure: Callable[[BaseException], None] = lambda exc: None,
    logger: logging.Logger = log,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """:func:`retry_until_stopped` for reaching a server at start-up, which may take minutes:
    a failure is logged (WARNING) only when its kind (exception type) differs from the previous
    one, and success after failures once (INFO) with the attempts and time it took.
    ``on_failure`` hears every failure (e.g. to report the reason as the stage's readiness)."""
    started_s = clock()
    attempts = 0
    kind: type[BaseException] | None = None
    while True:
        try:
            result = await operation()
        except retriable as exc:
            if isinstance(exc, InfrastructureError) and not exc.retriable:
                raise
            attempts += 1
            on_failure(exc)
            if type(exc) is not kind:
                kind = type(exc)
                logger.warning(
                    "%s: %s; retrying with backoff (up to %.0f s apart) until it succeeds",
                    what,
                    exc,
                    backoff.max_s,
                )
            await wait_or_stop(backoff.next_s(), stop)
            continue
        if attempts:
            logger.info(
                "%s: succeeded after %d failed attempts in %.1f s",
                what,
                attempts,
                clock() - started_s,
            )
        return result

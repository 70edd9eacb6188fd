"""Blocking retries for infrastructure failures, interruptible by the stage's stop event."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from kernel.errors import InfrastructureError
from processors.store.logic import backoff_s

T = TypeVar("T")

log = logging.getLogger("journeygate.store")

RETRY_BASE_S = 0.1
RETRY_MAX_S = 10.0


class Stopped(Exception):
    """The stop event was set while an operation was waiting to be retried."""


async def wait_or_stop(delay_s: float, stop: asyncio.Event) -> None:
    """Sleep ``delay_s``; raise :class:`Stopped` as soon as ``stop`` is set."""
    if stop.is_set():
        raise Stopped
    try:
        await asyncio.wait_for(stop.wait(), timeout=delay_s)
    except TimeoutError:
        return
    raise Stopped


async def retry_until_stopped(
    operation: Callable[[], Awaitable[T]],
    *,
    retriable: tuple[type[BaseException], ...],
    stop: asyncio.Event,
    what: str,
    on_retry: Callable[[], None] = lambda: None,
) -> T:
    """Run ``operation`` until it succeeds, backing off after each ``retriable`` failure.

    Any other exception, or an InfrastructureError that is not ``retriable``, propagates.
    Raises :class:`Stopped` if ``stop`` is set while waiting.
    """
    attempt = 0
    while True:
        try:
            return await operation()
        except retriable as exc:
            if isinstance(exc, InfrastructureError) and not exc.retriable:
                raise
            delay_s = backoff_s(attempt, base_s=RETRY_BASE_S, max_s=RETRY_MAX_S)
            log.warning(
                "%s failed (%s: %s); retrying in %.1fs", what, type(exc).__name__, exc, delay_s
            )
            on_retry()
            await wait_or_stop(delay_s, stop)
            attempt += 1

"""The dealer API's store: its connection pool, opened to requests once PostgreSQL was reached
with every migration this release ships.

``journeygate api`` starts at once, as the stages do, whether or not the store is up and
migrated yet: :meth:`StoreGate.wait` (a task of the server's lifespan) tries again with backoff
until it is, its reason on ``/readyz`` meanwhile. A request that needs the store before then
checks it itself (so the first request after ``journeygate migrate`` is served, whatever the
backoff) and is answered 503, the reason logged, while it is still unreachable or not migrated.
Once open, the gate stays open: a request whose connection fails is answered 503 and the pool
reconnects.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from database.db import Pool, pooled
from database.schema import require_migrated_blocking
from kernel.errors import InfrastructureError, first_line
from kernel.health import Readiness
from kernel.kafka import startup_backoff
from kernel.retry import Stopped, wait_until_up

log = logging.getLogger("journeygate.api")
NOT_YET = "not connected to PostgreSQL yet"


class StoreGate:
    """The pool of ``database_url``, handed out once :meth:`wait` saw the store migrated."""

    def __init__(self, pool: Pool, database_url: str) -> None:
        self.pool = pool
        self._url = database_url
        self._why: str | None = NOT_YET

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
        """A pooled connection; InfrastructureError (the reason) while the store is not
        reachable and migrated, or no connection can be had."""
        if self._why is not None:
            self._check()
        with pooled(self.pool) as conn:
            yield conn

    def _check(self) -> None:
        """Open the gate if the store is reachable and migrated; else record and raise why."""
        try:
            with pooled(self.pool) as conn:
                require_migrated_blocking(conn, self._url)
        except (InfrastructureError, psycopg.OperationalError) as exc:
            self._why = first_line(exc)
            raise
        self._why = None

    async def wait(self, ready: Readiness, stop: asyncio.Event) -> None:
        """Try the store with backoff until it is reachable and migrated, then open the gate
        and meet ``ready``'s ``postgresql``; returns early when ``stop`` is set."""

        def failed(exc: BaseException) -> None:
            ready.unmet("postgresql", first_line(exc))

        try:
            await wait_until_up(
                lambda: asyncio.to_thread(self._check),  # a request may open it first
                retriable=(InfrastructureError, psycopg.OperationalError),
                stop=stop,
                what="reaching the store",
                backoff=startup_backoff(),
                on_failure=failed,
                logger=log,
            )
        except Stopped:
            return
        ready.met("postgresql")

"""Connections to the journey store (psycopg 3)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import msgspec
import psycopg
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool, PoolTimeout

from database.schema import privileges_needed, require_migrated, require_migrated_blocking
from kernel.errors import ConfigError, InfrastructureError, first_line
from kernel.health import Readiness
from kernel.kafka import startup_backoff
from kernel.retry import wait_until_up
from kernel.settings import mask_url

T = TypeVar("T")


def json_document(value: Any) -> Jsonb:
    """``value`` as one ``jsonb`` parameter, serialised by msgspec (dataclasses natively,
    non-finite floats as null) and sent as those bytes: pass it with ``%t`` (text format), as
    the rows of a ``jsonb_to_recordset`` that writes a batch in one statement. msgspec writes
    the JSON orjson writes (the same values; a UTC time ends in ``Z``), and a slotted
    dataclass about twice as fast: a batch's vehicle states were the largest part of the
    journey processor's write (docs/performance.md)."""
    return Jsonb(value, dumps=_JSON.encode)


_JSON = msgspec.json.Encoder()


def connect(
    database_url: str, *, autocommit: bool = False
) -> psycopg.Connection[tuple[object, ...]]:
    """Open a connection, or raise a one-line InfrastructureError naming the (masked) URL."""
    try:
        return psycopg.connect(database_url, autocommit=autocommit, connect_timeout=10)
    except psycopg.OperationalError as exc:
        raise InfrastructureError(
            f"cannot reach PostgreSQL at {mask_url(database_url)}: {first_line(exc)}"
        ) from exc


def connect_migrated(
    database_url: str, *, autocommit: bool = False
) -> psycopg.Connection[tuple[object, ...]]:
    """:func:`connect`, then check that every migration this release ships is applied: a
    one-shot command on a store not migrated (or behind) says so in the line the stages' readiness
    gives ("... is not migrated: 19 of 19 migrations pending, from 0001_foundation; run
    `journeygate migrate`", an InfrastructureError: exit 1), whichever table it wanted first."""
    conn = connect(database_url, autocommit=autocommit)
    try:
        require_migrated_blocking(conn, database_url)
    except BaseException:
        conn.close()
        raise
    return conn


Pool = ConnectionPool[psycopg.Connection[tuple[object, ...]]]


def connection_pool(database_url: str, *, max_size: int, timeout_s: float = 5.0) -> Pool:
    """A pool of up to ``max_size`` autocommit connections, opened at its first use (see
    :func:`pooled`); each connection is checked as it is handed out, so a restarted server costs
    no failed request."""
    return ConnectionPool(
        database_url,
        min_size=1,
        max_size=max_size,
        kwargs={"autocommit": True, "connect_timeout": 10},
        open=False,
        timeout=timeout_s,
        check=ConnectionPool.check_connection,
        name="journeygate",
    )


@contextmanager
def pooled(pool: Pool) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """A connection of ``pool`` for the block; InfrastructureError when none can be had within
    the pool's timeout (the server down, or every connection busy)."""
    pool.open()
    try:
        conn = pool.getconn()
    except PoolTimeout as exc:
        where = mask_url(pool.conninfo) if isinstance(pool.conninfo, str) else "the store"
        raise InfrastructureError(
            f"no PostgreSQL connection within {pool.timeout:g} s at {where}"
        ) from exc
    try:
        yield conn
    finally:
        pool.putconn(conn)


async def aconnect(
    database_url: str, *, autocommit: bool = False, migrated: bool = False
) -> psycopg.AsyncConnection[tuple[object, ...]]:
    """Async twin of :func:`connect`. With ``migrated``, a database that lacks a shipped
    migration is a retriable InfrastructureError too (:func:`database.schema.require_migrated`):
    what a stage's connections ask, so it waits for ``journeygate migrate``."""
    try:
        conn = await psycopg.AsyncConnection.connect(
            database_url, autocommit=autocommit, connect_timeout=10
        )
    except psycopg.OperationalError as exc:
        raise InfrastructureError(
            f"cannot reach PostgreSQL at {mask_url(database_url)}: {first_line(exc)}"
        ) from exc
    if migrated:
        try:
            await require_migrated(conn, database_url)
        except BaseException:
            await conn.close()
            raise
    return conn


AsyncConn = psycopg.AsyncConnection[tuple[object, ...]]


class Reconnecting:
    """One autocommit connection of a long-running stage, opened on first use and reopened
    after a connection failure (:meth:`guarded` drops it so the next call reconnects), each
    time to a database with every shipped migration (else a retriable InfrastructureError)."""

    def __init__(self, database_url: str) -> None:
        self._url = database_url
        self._conn: AsyncConn | None = None

    async def connection(self) -> AsyncConn:
        if self._conn is None or self._conn.closed:
            self._conn = await aconnect(self._url, autocommit=True, migrated=True)
        return self._conn

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.closed:
            await conn.close()

    async def guarded(self, work: Callable[[AsyncConn], Awaitable[T]]) -> T:
        """``work(connection)``; a connection failure closes the connection and re-raises; a
        statement the role may not run is a ConfigError naming it (the stage stops with that
        line: a role granted part of journeygate's tables is a deployment to mend)."""
        try:
            return await work(await self.connection())
        except (psycopg.OperationalError, psycopg.InterfaceError):
            await self.close()
            raise
        except psycopg.errors.InsufficientPrivilege as exc:
            raise ConfigError(privileges_needed(self._url, exc)) from None


STORE_FAILURES = (psycopg.OperationalError, psycopg.InterfaceError, InfrastructureError)
"""What a stage waits out (retrying) when PostgreSQL is unreachable."""


async def wait_for_store(
    connect: Callable[[], Awaitable[object]],
    ready: Readiness,
    stop: asyncio.Event,
    logger: logging.Logger,
) -> None:
    """Run ``connect`` until it succeeds, waiting with backoff while PostgreSQL is unreachable
    (one log line per kind of failure); the stage is not ready for ``postgresql`` meanwhile.
    Raises :class:`~kernel.retry.Stopped` if ``stop`` is set first."""
    await wait_until_up(
        connect,
        retriable=STORE_FAILURES,
        stop=stop,
        what="connecting to PostgreSQL",
        backoff=startup_backoff(),
        on_failure=lambda exc: ready.unmet("postgresql", str(exc).splitlines()[0]),
        logger=logger,
    )
    ready.met("postgresql")

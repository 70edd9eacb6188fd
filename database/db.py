"""Connections to the journey store (psycopg 3)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import psycopg

from kernel.errors import InfrastructureError
from kernel.settings import mask_url

T = TypeVar("T")


def connect(
    database_url: str, *, autocommit: bool = False
) -> psycopg.Connection[tuple[object, ...]]:
    """Open a connection, or raise a one-line InfrastructureError naming the (masked) URL."""
    try:
        return psycopg.connect(database_url, autocommit=autocommit, connect_timeout=10)
    except psycopg.OperationalError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InfrastructureError(
            f"cannot reach PostgreSQL at {mask_url(database_url)}: {first}"
        ) from exc


async def aconnect(
    database_url: str, *, autocommit: bool = False
) -> psycopg.AsyncConnection[tuple[object, ...]]:
    """Async twin of :func:`connect`."""
    try:
        return await psycopg.AsyncConnection.connect(
            database_url, autocommit=autocommit, connect_timeout=10
        )
    except psycopg.OperationalError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InfrastructureError(
            f"cannot reach PostgreSQL at {mask_url(database_url)}: {first}"
        ) from exc


AsyncConn = psycopg.AsyncConnection[tuple[object, ...]]


class Reconnecting:
    """One autocommit connection of a long-running stage, opened on first use and reopened
    after a connection failure (:meth:`guarded` drops it so the next call reconnects)."""

    def __init__(self, database_url: str) -> None:
        self._url = database_url
        self._conn: AsyncConn | None = None

    async def connection(self) -> AsyncConn:
        if self._conn is None or self._conn.closed:
            self._conn = await aconnect(self._url, autocommit=True)
        return self._conn

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.closed:
            await conn.close()

    async def guarded(self, work: Callable[[AsyncConn], Awaitable[T]]) -> T:
        """``work(connection)``; a connection failure closes the connection and re-raises."""
        try:
            return await work(await self.connection())
        except (psycopg.OperationalError, psycopg.InterfaceError):
            await self.close()
            raise

"""The vehicle registry as seen by a stream processor: the set of registered VINs.

:class:`VehicleRegistry` keeps the VINs of the ``vehicles`` table in memory and reloads them all
on demand; deciding *when* to reload is the caller's policy. The load time it records is taken
before the query starts, so every vehicle registered before that instant is in the set.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import psycopg

from database.db import aconnect
from database.schema import privileges_needed
from kernel.errors import ConfigError, InfrastructureError
from kernel.settings import mask_url

AsyncConn = psycopg.AsyncConnection[tuple[object, ...]]


class VehicleRegistry:
    """Registered VINs, loaded with ``SELECT vin FROM vehicles`` over one reused connection."""

    def __init__(self, database_url: str, *, clock: Callable[[], float] = time.time) -> None:
        self._database_url = database_url
        self._clock = clock
        self._conn: AsyncConn | None = None
        self._vins: frozenset[str] = frozenset()
        self._loaded_at_ms: int | None = None

    @property
    def vins(self) -> frozenset[str]:
        """The VINs of the last successful load (empty before the first)."""
        return self._vins

    @property
    def loaded_at_ms(self) -> int | None:
        """When the last successful load started (ms since the epoch, UTC), or None."""
        return self._loaded_at_ms

    def __contains__(self, vin: object) -> bool:
        return vin in self._vins

    async def load(self) -> int:
        """Reload every registered VIN; returns how many there are.

        Raises :class:`InfrastructureError` when PostgreSQL cannot be reached or the connection
        breaks (the connection is then dropped and the next call opens a new one), and while
        the database lacks a shipped migration (a deployment may start its stages while its
        migrate job still runs: the stage waits for it as it waits for the server); a
        :class:`ConfigError` when the role may not read the table.
        """
        started_ms = int(self._clock() * 1000)
        conn = await self._connection()
        try:
            async with conn.cursor() as cur:
                await cur.execute("SELECT vin FROM vehicles")
                rows = await cur.fetchall()
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            await self.close()
            raise InfrastructureError(
                f"vehicle registry query failed on {mask_url(self._database_url)}: "
                f"{type(exc).__name__}"
            ) from exc
        except psycopg.errors.InsufficientPrivilege as exc:
            raise ConfigError(privileges_needed(self._database_url, exc)) from None
        self._vins = frozenset(str(row[0]) for row in rows)
        self._loaded_at_ms = started_ms
        return len(self._vins)

    async def close(self) -> None:
        """Close the connection (a later :meth:`load` reconnects)."""
        conn, self._conn = self._conn, None
        if conn is not None and not conn.closed:
            await conn.close()

    async def _connection(self) -> AsyncConn:
        if self._conn is None or self._conn.closed:
            self._conn = await aconnect(self._database_url, autocommit=True, migrated=True)
        return self._conn

"""The store writer's PostgreSQL side: a batch of rows and its offsets in one transaction.

Each batch is copied (binary COPY, the rows already in its wire format, see
:mod:`processors.store.copybin`) into a temporary staging table, inserted into ``telemetry``
with ``ON CONFLICT DO NOTHING`` (repeats of a sample are absorbed), and the next offsets are
upserted into ``consumer_offsets`` before the single COMMIT. Offsets never move backwards: a
replayed batch cannot undo a later one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import psycopg
from psycopg import sql

from database.db import aconnect
from database.offsets import store_offsets
from kernel.offsets import Partition
from processors.store.copybin import CopyRows
from processors.store.logic import COLUMNS

STAGING_TABLE = "telemetry_staging"

_COLUMN_LIST = sql.SQL(", ").join(sql.Identifier(c) for c in COLUMNS)

_CREATE_STAGING = sql.SQL(
    "CREATE TEMP TABLE IF NOT EXISTS {} (LIKE telemetry INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
).format(sql.Identifier(STAGING_TABLE))

_COPY = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
    sql.Identifier(STAGING_TABLE), _COLUMN_LIST
)

_INSERT = sql.SQL("INSERT INTO telemetry ({}) SELECT {} FROM {} ON CONFLICT DO NOTHING").format(
    _COLUMN_LIST, _COLUMN_LIST, sql.Identifier(STAGING_TABLE)
)


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What one committed batch did."""

    rows: int
    """Rows offered (one per sample in the batch)."""
    inserted: int
    """Rows newly stored; ``rows - inserted`` were repeats."""
    offsets: Mapping[Partition, int]
    """The next offsets now stored, per partition."""


class StoreDb:
    """One connection of the store writer, reopened after a connection failure."""

    def __init__(self, database_url: str, group: str) -> None:
        self._url = database_url
        self._group = group
        self._conn: psycopg.AsyncConnection[tuple[object, ...]] | None = None

    async def connect(self) -> None:
        """Open the connection and its staging table (InfrastructureError if unreachable)."""
        await self.close()
        conn = await aconnect(self._url, autocommit=True)
        try:
            await conn.execute(_CREATE_STAGING)
        except BaseException:
            await conn.close()
            raise
        self._conn = conn

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()

    async def write_batch(self, rows: CopyRows, offsets: Mapping[Partition, int]) -> WriteResult:
        """Store ``rows`` and ``offsets`` in one transaction.

        Raises psycopg.OperationalError when the connection fails; the connection is then dropped
        and the next call reconnects. Nothing of a failed call is committed.
        """
        try:
            if self._conn is None:
                await self.connect()
            assert self._conn is not None
            return await _write(self._conn, self._group, rows, offsets)
        except psycopg.OperationalError:
            await self.close()
            raise


async def _write(
    conn: psycopg.AsyncConnection[tuple[object, ...]],
    group: str,
    rows: CopyRows,
    offsets: Mapping[Partition, int],
) -> WriteResult:
    async with conn.transaction(), conn.cursor() as cur:
        inserted = 0
        if rows.rows:
            async with cur.copy(_COPY) as copy:
                await copy.write(rows.stream())
            await cur.execute(_INSERT)
            inserted = cur.rowcount
        stored = await store_offsets(cur, group, offsets)
    return WriteResult(rows=rows.rows, inserted=inserted, offsets=stored)

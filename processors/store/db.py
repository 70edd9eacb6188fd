"""The store writer's PostgreSQL side: a batch of rows and its offsets in one transaction.

Each batch is copied (binary COPY, the rows already in its wire format, see
:mod:`processors.store.copybin`) into a temporary staging table, inserted into ``telemetry``
with ``ON CONFLICT DO NOTHING`` (repeats of a sample are absorbed), and the next offsets are
upserted into ``consumer_offsets`` before the single COMMIT. Offsets never move backwards: a
replayed batch cannot undo a later one.

In the same transaction, the sequence numbers the batch handled (every staged row's, and those
of the messages the normalizer dead-lettered, from receipts) are merged per vehicle and boot
into ``telemetry_acks`` (migration 0014): one upsert, idempotent (a batch written twice changes
nothing), that takes the common case (a batch extends a vehicle's row without a gap) without
any multirange work, and sums up what the touched rows call for in one row
(:class:`~processors.store.acks.BatchAcks`: the lines of ``telemetry.acks``, the gaps). A
vehicle's complete rows of other boots, untouched for :data:`ACK_ROWS_KEPT_DAYS`, are deleted
when it starts a new boot.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import psycopg
from psycopg import sql

from database.db import aconnect
from database.offsets import store_offsets
from database.schema import privileges_needed
from kernel.acks import Receipt
from kernel.errors import ConfigError
from kernel.offsets import Partition
from processors.store.acks import NO_ACKS, BatchAcks
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

# A complete row (no gap) of a boot no longer in use is kept this long after its last change: a
# device may still send a message of that boot again and wait for its acknowledgement.
ACK_ROWS_KEPT_DAYS = 7

# The seqs the batch handled (staged rows, dead letters) per vehicle and boot, merged into
# telemetry_acks in key order (concurrent writers during a rebalance lock rows in one order).
# Each batch group is first proposed as a row of its own (what a new row would hold); a row that
# exists takes it on the fast path (the batch extends it without a gap: no multirange work), or
# unchanged (the batch repeats what it covers), or through merged_acks (migration 0014). Every
# touched row is summed up in one row: the lines of telemetry.acks for the rows whose mark now
# covers some of what the batch handled for them (it advanced over it, or the batch repeated
# covered seqs: the device may have missed an acknowledgement), the gaps opened and filled, and
# the rows that are new.
_FAST = sql.SQL(
    "isempty(a.ahead_seqs) AND EXCLUDED.acked_seq = -1"
    " AND EXCLUDED.missing_seqs = a.acked_seq + 1 AND lower(EXCLUDED.ahead_seqs) = a.acked_seq + 1"
)
_COVERED = sql.SQL("EXCLUDED.high_seq <= a.acked_seq")
_MERGED = sql.SQL(
    "merged_acks(a.acked_seq, a.ahead_seqs, CASE WHEN EXCLUDED.acked_seq < 0"
    " THEN EXCLUDED.ahead_seqs ELSE EXCLUDED.ahead_seqs"
    " + int8multirange(int8range(0, EXCLUDED.acked_seq + 1)) END)"
)
_MERGE_ACKS = sql.SQL("""
WITH handled AS (
    SELECT vin, boot_id, seq FROM {staging} WHERE sample_idx = 0  -- one row per message
    UNION ALL
    SELECT * FROM unnest(%s::text[], %s::text[], %s::bigint[]) AS r(vin, boot_id, seq)
), batch AS (
    SELECT vin, boot_id, min(seq) AS lo, max(seq) AS hi, count(DISTINCT seq) AS n,
           array_agg(seq) AS seqs
    FROM handled GROUP BY vin, boot_id
), proposed AS (
    SELECT vin, boot_id, lo, hi, hi + 1 - n AS missing,
           CASE WHEN n = hi - lo + 1 THEN int8multirange(int8range(lo, hi + 1))
                ELSE seq_ranges(seqs) END AS seqs
    FROM batch
), merged AS (
INSERT INTO telemetry_acks AS a (vin, boot_id, acked_seq, ahead_seqs, high_seq, missing_seqs,
                                 missing_change, last_low_seq)
SELECT vin, boot_id,
       CASE WHEN lo > 0 THEN -1 WHEN missing = 0 THEN hi
            ELSE (merged_acks(-1, '{{}}', seqs)).acked_seq END,
       CASE WHEN lo > 0 THEN seqs WHEN missing = 0 THEN '{{}}'
            ELSE (merged_acks(-1, '{{}}', seqs)).ahead_seqs END,
       hi, missing, missing, lo
FROM proposed ORDER BY vin, boot_id
ON CONFLICT (vin, boot_id) DO UPDATE
SET acked_seq = CASE WHEN {fast} THEN EXCLUDED.high_seq WHEN {covered} THEN a.acked_seq
                     ELSE ({merged}).acked_seq END,
    ahead_seqs = CASE WHEN {fast} OR {covered} THEN a.ahead_seqs
                      ELSE ({merged}).ahead_seqs END,
    high_seq = GREATEST(a.high_seq, EXCLUDED.high_seq),
    missing_seqs = CASE WHEN {fast} OR {covered} THEN a.missing_seqs
                        ELSE ({merged}).missing_seqs END,
    missing_change = CASE WHEN {fast} OR {covered} THEN 0
                          ELSE ({merged}).missing_seqs - a.missing_seqs END,
    last_low_seq = EXCLUDED.last_low_seq,
    updated_at = now()
RETURNING a.vin, a.boot_id, a.acked_seq, a.missing_change, a.last_low_seq,
          a.xmax = 0 AS inserted
)
SELECT coalesce(string_agg(vin || ' ' || acked_seq || ' ' || boot_id, E'\n')
                FILTER (WHERE acked_seq >= 0 AND acked_seq >= last_low_seq), ''),
       coalesce(sum(missing_change) FILTER (WHERE missing_change > 0), 0)::bigint,
       coalesce(-sum(missing_change) FILTER (WHERE missing_change < 0), 0)::bigint,
       coalesce(array_agg(vin) FILTER (WHERE inserted), '{{}}'),
       coalesce(array_agg(boot_id) FILTER (WHERE inserted), '{{}}')
FROM merged
""").format(staging=sql.Identifier(STAGING_TABLE), fast=_FAST, covered=_COVERED, merged=_MERGED)

_PRUNE_ACKS = """
DELETE FROM telemetry_acks AS a
USING unnest(%s::text[], %s::text[]) AS n(vin, boot_id)
WHERE a.vin = n.vin AND a.boot_id <> n.boot_id AND a.missing_seqs = 0
  AND a.updated_at < now() - make_interval(days => %s)
"""

# The acknowledgement, again, of the boots whose devices repeated a message the normalizer dropped.
_ASKED_ACKS = """
SELECT coalesce(string_agg(DISTINCT a.vin || ' ' || a.acked_seq || ' ' || a.boot_id, E'\n'), '')
FROM telemetry_acks AS a JOIN unnest(%s::text[], %s::text[]) AS r(vin, boot_id) USING (vin, boot_id)
WHERE a.acked_seq >= 0
"""


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What one committed batch did."""

    rows: int
    """Rows offered (one per sample in the batch)."""
    inserted: int
    """Rows newly stored; ``rows - inserted`` were repeats."""
    offsets: Mapping[Partition, int]
    """The next offsets now stored, per partition."""
    acks: BatchAcks = NO_ACKS
    """What the batch's ``telemetry_acks`` rows call for."""


class StoreDb:
    """One connection of the store writer, reopened after a connection failure."""

    def __init__(self, database_url: str, group: str) -> None:
        self._url = database_url
        self._group = group
        self._conn: psycopg.AsyncConnection[tuple[object, ...]] | None = None

    async def connect(self) -> None:
        """Open the connection and its staging table (InfrastructureError if unreachable or
        not migrated)."""
        await self.close()
        conn = await aconnect(self._url, autocommit=True, migrated=True)
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

    async def write_batch(
        self,
        rows: CopyRows,
        offsets: Mapping[Partition, int],
        covering: Sequence[Receipt] = (),
        repeats: Sequence[Receipt] = (),
        *,
        acknowledge: bool = True,
    ) -> WriteResult:
        """Store ``rows`` and ``offsets`` in one transaction, with (if ``acknowledge``) the seqs
        they and the ``covering`` receipts handle; ``repeats`` name rows to read back.

        Raises psycopg.OperationalError when the connection fails; the connection is then dropped
        and the next call reconnects; ConfigError for a statement the role may not run. Nothing
        of a failed call is committed.
        """
        try:
            if self._conn is None:
                await self.connect()
            assert self._conn is not None
            return await _write(
                self._conn, self._group, rows, offsets, covering, repeats, acknowledge
            )
        except psycopg.OperationalError:
            await self.close()
            raise
        except psycopg.errors.InsufficientPrivilege as exc:
            raise ConfigError(privileges_needed(self._url, exc)) from None


async def _write(
    conn: psycopg.AsyncConnection[tuple[object, ...]],
    group: str,
    rows: CopyRows,
    offsets: Mapping[Partition, int],
    covering: Sequence[Receipt],
    repeats: Sequence[Receipt],
    acknowledge: bool,
) -> WriteResult:
    acks = NO_ACKS
    async with conn.transaction(), conn.cursor() as cur:
        inserted = 0
        if rows.rows:
            async with cur.copy(_COPY) as copy:
                await copy.write(rows.stream())
            await cur.execute(_INSERT)
            inserted = cur.rowcount
        if acknowledge and (rows.rows or covering):
            acks = await _merge_acks(cur, covering)
        if acknowledge and repeats:
            await cur.execute(_ASKED_ACKS, ([r.vin for r in repeats], [r.boot_id for r in repeats]))
            row = await cur.fetchone()
            acks = acks.with_lines(_text(row[0] if row else ""))
        stored = await store_offsets(cur, group, offsets)
    return WriteResult(rows.rows, inserted, stored, acks)


async def _merge_acks(
    cur: psycopg.AsyncCursor[tuple[object, ...]], covering: Sequence[Receipt]
) -> BatchAcks:
    await cur.execute(
        _MERGE_ACKS,
        ([r.vin for r in covering], [r.boot_id for r in covering], [r.seq for r in covering]),
    )
    row = await cur.fetchone()
    assert row is not None  # an aggregate: always one row
    lines, opened, filled, new_vins, new_boots = row
    if new_vins:
        await cur.execute(_PRUNE_ACKS, (new_vins, new_boots, ACK_ROWS_KEPT_DAYS))
    return BatchAcks(_text(lines).encode("ascii"), _int(opened), _int(filled))


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a text column, got {type(value).__name__}")
    return value


def _int(value: object) -> int:
    if not isinstance(value, int):
        raise TypeError(f"expected an integer column, got {type(value).__name__}")
    return value

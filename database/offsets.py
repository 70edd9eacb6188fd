"""Consumer offsets kept in the store (table ``consumer_offsets``), for the stages that commit
them in the same transaction as their rows: the store writer and the signals processor.

``next_offset`` is the offset of the next record to read (Kafka's committed-offset convention)
and never moves backwards (``GREATEST``): a batch replayed after a crash cannot rewind it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import psycopg

from database.db import aconnect
from database.schema import privileges_needed
from kernel.errors import ConfigError
from kernel.offsets import Partition

_UPSERT = """
INSERT INTO consumer_offsets (consumer_group, topic, kafka_partition, next_offset)
SELECT %s, t.topic, t.kafka_partition, t.next_offset
FROM unnest(%s::text[], %s::int[], %s::bigint[]) AS t(topic, kafka_partition, next_offset)
ON CONFLICT (consumer_group, topic, kafka_partition) DO UPDATE
SET next_offset = GREATEST(consumer_offsets.next_offset, EXCLUDED.next_offset),
    updated_at = now()
RETURNING topic, kafka_partition, next_offset
"""

_SELECT = """
SELECT topic, kafka_partition, next_offset FROM consumer_offsets
WHERE consumer_group = %s AND topic = ANY(%s)
"""


async def store_offsets(
    cur: psycopg.AsyncCursor[tuple[object, ...]], group: str, offsets: Mapping[Partition, int]
) -> dict[Partition, int]:
    """Upsert ``offsets`` inside the caller's transaction; returns the offsets now stored."""
    if not offsets:
        return {}
    ordered = sorted(offsets.items())
    await cur.execute(
        _UPSERT,
        (
            group,
            [topic for (topic, _), _ in ordered],
            [partition for (_, partition), _ in ordered],
            [offset for _, offset in ordered],
        ),
    )
    return {(str(t), _int(p)): _int(o) for t, p, o in await cur.fetchall()}


async def load_offsets(
    database_url: str, group: str, topics: Sequence[str]
) -> dict[Partition, int]:
    """The next offsets stored for ``group`` on ``topics``, on a short-lived connection.

    Raises InfrastructureError or psycopg.OperationalError when the database is unreachable,
    ConfigError when the role may not read the table.
    """
    conn = await aconnect(database_url, autocommit=True)
    try:
        cur = await conn.execute(_SELECT, (group, list(topics)))
        return {(str(t), _int(p)): _int(o) for t, p, o in await cur.fetchall()}
    except psycopg.errors.InsufficientPrivilege as exc:
        raise ConfigError(privileges_needed(database_url, exc)) from None
    finally:
        await conn.close()


def _int(value: object) -> int:
    if not isinstance(value, int):
        raise TypeError(f"expected an integer column, got {type(value).__name__}")
    return value

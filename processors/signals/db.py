"""The signals processor's PostgreSQL side: memories and facts in, one transaction per batch out.

A batch's vehicle memories (``signal_state``), new signals (``signals``, ``ON CONFLICT DO
NOTHING``), current views (``vehicle_state``), visits (``service_visits``), bill errors
(``bill_errors``), next offsets (``consumer_offsets``, never moving backwards) and the frames
partitions' usage shift states (``usage_shift``, only ever replaced by a state reaching as far in
the partition) are written in one transaction: a batch is stored entirely or not at all. Every
statement passes whole columns as arrays (``unnest``), one round trip per table. Columns of text,
bytea, timestamps and integers go in PostgreSQL's binary format (``%b``): the text format quotes and
escapes every array element with a regular expression, which cost more CPU than the rest of a
batch's writing. Numeric columns (visits, bill errors) stay in text, so that a float is read as its
shortest decimal. The signals and the views, the largest, go as one JSON document each
(``jsonb_to_recordset``), serialised by one orjson call with their JSON columns inside (floats as
their shortest decimal, non-finite ones as null, as before).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import psycopg

from database.db import Reconnecting, json_document
from database.offsets import store_offsets
from database.vehicle_facts import VehicleFacts, load_vehicle_facts, registry_version
from kernel.offsets import Partition
from processors.signals.dates import ms_to_datetime
from processors.signals.logic import BatchOutcome
from processors.signals.partition import PartitionState

Conn = psycopg.AsyncConnection[tuple[object, ...]]

_SELECT_STATE = "SELECT vin, state FROM signal_state WHERE vin = ANY(%b)"

_UPSERT_STATE = """
INSERT INTO signal_state (vin, state, as_of_ts)
SELECT s.vin, s.state, timestamptz 'epoch' + s.as_of_ms * interval '1 millisecond'
FROM unnest(%b::text[], %b::bytea[], %b::int8[]) AS s(vin, state, as_of_ms)
ON CONFLICT (vin) DO UPDATE
SET state = EXCLUDED.state, as_of_ts = EXCLUDED.as_of_ts, updated_at = now()
"""

# The signals and the views go as one JSON document each (jsonb_to_recordset): one C call
# serialises them with their JSON columns inside, where binary arrays dumped every element in
# Python; event times as epoch ms.
_INSERT_SIGNALS = """
INSERT INTO signals (signal_id, vin, dealer_id, kind, as_of_ts, payload, explanation)
SELECT s.signal_id, s.vin, s.dealer_id, s.kind,
       timestamptz 'epoch' + s.as_of_ms * interval '1 millisecond', s.payload, s.explanation
FROM jsonb_to_recordset(%t)
     AS s(signal_id text, vin text, dealer_id text, kind text, as_of_ms bigint, payload jsonb,
          explanation text)
ON CONFLICT DO NOTHING
"""
_UPSERT_VEHICLES = """
INSERT INTO vehicle_state (vin, dealer_id, as_of_ts, odometer_m, usage, active_faults,
                           last_service)
SELECT v.vin, v.dealer_id, timestamptz 'epoch' + v.as_of_ms * interval '1 millisecond',
       v.odometer_m, v.usage, v.active_faults, v.last_service
FROM jsonb_to_recordset(%t)
     AS v(vin text, dealer_id text, as_of_ms bigint, odometer_m bigint, usage jsonb,
          active_faults jsonb, last_service jsonb)
ON CONFLICT (vin) DO UPDATE
SET dealer_id = EXCLUDED.dealer_id, as_of_ts = EXCLUDED.as_of_ts,
    odometer_m = EXCLUDED.odometer_m, usage = COALESCE(EXCLUDED.usage, vehicle_state.usage),
    active_faults = EXCLUDED.active_faults, last_service = EXCLUDED.last_service,
    updated_at = now()
"""
_UPDATE_FORECASTS = """
UPDATE vehicle_state AS s
SET predicted_as_of_ts = timestamptz 'epoch'
        + (f.forecasts->>'as_of_ms')::bigint * interval '1 millisecond',
    warranty = f.forecasts->'warranty', service = f.forecasts->'service',
    equity = f.forecasts->'equity'
FROM jsonb_to_recordset(%t) AS f(vin text, forecasts jsonb)
WHERE s.vin = f.vin
"""
_INSERT_VISITS = """
INSERT INTO service_visits (visit_id, vin, visit_ts, odometer_m, dealer_id, currency,
                            invoiced_amount, items)
SELECT v.visit_id, v.vin, v.visit_ts, v.odometer_m, v.dealer_id, v.currency, v.invoiced,
       v.items::jsonb
FROM unnest(%s::text[], %s::text[], %s::timestamptz[], %s::bigint[], %s::text[], %s::text[],
            %s::numeric[], %s::text[])
     AS v(visit_id, vin, visit_ts, odometer_m, dealer_id, currency, invoiced, items)
ON CONFLICT (visit_id) DO NOTHING
"""

_INSERT_BILL_ERRORS = """
INSERT INTO bill_errors (visit_id, vin, dealer_id, currency, predicted_low, predicted_expected,
                         predicted_high, invoiced, abs_pct_error, predicted_as_of_ts)
SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::numeric[],
                     %s::numeric[], %s::numeric[], %s::numeric[], %s::float8[],
                     %s::timestamptz[])
ON CONFLICT (visit_id) DO NOTHING
RETURNING visit_id
"""

_SELECT_SHIFTS = """
SELECT kafka_partition, state FROM usage_shift
WHERE consumer_group = %s AND topic = %s AND kafka_partition = ANY(%s)
"""
_UPSERT_SHIFTS = """
INSERT INTO usage_shift (consumer_group, topic, kafka_partition, next_offset, state)
SELECT %s, %s, s.kafka_partition, s.next_offset, s.state
FROM unnest(%s::int[], %s::bigint[], %s::jsonb[]) AS s(kafka_partition, next_offset, state)
ON CONFLICT (consumer_group, topic, kafka_partition) DO UPDATE
SET next_offset = EXCLUDED.next_offset, state = EXCLUDED.state, updated_at = now()
WHERE usage_shift.next_offset <= EXCLUDED.next_offset
"""


@dataclass(frozen=True, slots=True)
class UsageShifts:
    """The frames partitions' states (usage shift, dealer prices) to store with a batch, and
    their topic."""

    topic: str
    states: Mapping[int, PartitionState]


@dataclass(frozen=True, slots=True)
class WriteResult:
    signals_inserted: int
    """Signals newly stored (the rest were already there)."""
    bill_errors_inserted: frozenset[str]
    """Visit ids whose bill error is newly stored."""
    offsets: Mapping[Partition, int]
    """The next offsets now stored, per partition."""


def _json(value: Any) -> str | None:
    """Compact JSON; non-finite floats become null (orjson's own rule, as
    :func:`~processors.signals.logic.json_ready` does), without a walk of the value first."""
    return None if value is None else orjson.dumps(value).decode()


class SignalsDb(Reconnecting):
    """One connection of the signals processor, reopened after a connection failure."""

    def __init__(self, database_url: str, group: str) -> None:
        super().__init__(database_url)
        self._group = group

    async def load_memories(self, vins: Sequence[str]) -> dict[str, bytes]:
        """The stored memories of ``vins`` (a vehicle never seen is absent), as stored: see
        :meth:`VehicleMemory.from_bytes`."""

        async def work(conn: Conn) -> dict[str, bytes]:
            cur = await conn.execute(_SELECT_STATE, (list(vins),))
            return {str(vin): _bytes(state) for vin, state in await cur.fetchall()}

        result: dict[str, bytes] = await self.guarded(work)
        return result

    async def registry_version(self) -> int:
        """The registry's version now (:func:`database.vehicle_facts.registry_version`)."""
        result: int = await self.guarded(registry_version)
        return result

    async def load_facts(self, vins: Sequence[str]) -> dict[str, VehicleFacts]:
        """The registry rows of ``vins`` (an unregistered VIN is absent)."""

        async def work(conn: Conn) -> dict[str, VehicleFacts]:
            return await load_vehicle_facts(conn, vins)

        result: dict[str, VehicleFacts] = await self.guarded(work)
        return result

    async def load_shifts(self, topic: str, partitions: Sequence[int]) -> dict[int, PartitionState]:
        """The partition states stored for ``partitions`` of ``topic`` (absent: none yet).
        Raises ValueError for a damaged one."""

        async def work(conn: Conn) -> dict[int, PartitionState]:
            cur = await conn.execute(_SELECT_SHIFTS, (self._group, topic, list(partitions)))
            return {_int(p): PartitionState.from_json(state) for p, state in await cur.fetchall()}

        result: dict[int, PartitionState] = await self.guarded(work)
        return result

    async def write_batch(
        self,
        outcome: BatchOutcome,
        states: Mapping[str, bytes],
        offsets: Mapping[Partition, int],
        shifts: UsageShifts | None = None,
    ) -> WriteResult:
        """Store a batch and its offsets in one transaction (see the module docstring).

        Raises psycopg.OperationalError when the connection fails: it is dropped, the next call
        reconnects, and nothing of the failed call is committed.
        """

        async def work(conn: Conn) -> WriteResult:
            return await _write(conn, self._group, outcome, states, offsets, shifts)

        result: WriteResult = await self.guarded(work)
        return result


async def _write(
    conn: Conn,
    group: str,
    outcome: BatchOutcome,
    states: Mapping[str, bytes],
    offsets: Mapping[Partition, int],
    shifts: UsageShifts | None,
) -> WriteResult:
    async with conn.transaction(), conn.cursor() as cur:
        if states:
            vins = sorted(states)
            as_of_ms = [outcome.memories[v].as_of_ms for v in vins]
            await cur.execute(_UPSERT_STATE, (vins, [states[v] for v in vins], as_of_ms))
        inserted = 0
        if outcome.signals:
            signals = [
                {
                    "signal_id": x.signal_id,
                    "vin": x.vin,
                    "dealer_id": x.dealer_id,
                    "kind": x.kind,
                    "as_of_ms": x.as_of_ms,
                    "payload": x.payload_json(),
                    "explanation": x.explanation,
                }
                for x in outcome.signals
            ]
            await cur.execute(_INSERT_SIGNALS, (json_document(signals),))
            inserted = cur.rowcount
        if outcome.vehicle_rows:
            # the rows as they are: msgspec writes a dataclass's fields, and jsonb_to_recordset
            # takes the columns it names (a row's forecasts, when it has them, are a column of
            # the next statement)
            rows = outcome.vehicle_rows
            await cur.execute(_UPSERT_VEHICLES, (json_document(rows),))
            forecast = [x for x in rows if x.forecasts is not None]
            if forecast:
                await cur.execute(_UPDATE_FORECASTS, (json_document(forecast),))
        if outcome.visits:
            v = outcome.visits
            await cur.execute(
                _INSERT_VISITS,
                (
                    [x.visit_id for x in v],
                    [x.vin for x in v],
                    [x.visit_ts for x in v],
                    [x.odometer_m for x in v],
                    [x.dealer_id for x in v],
                    [x.currency for x in v],
                    [x.invoiced_amount for x in v],
                    [
                        _json(
                            [
                                {
                                    "kind": i.kind,
                                    "code": i.code,
                                    "description": i.description,
                                    "amount": i.amount,
                                }
                                for i in x.items
                            ]
                        )
                        for x in v
                    ],
                ),
            )
        scored: set[str] = set()
        if outcome.bill_errors:
            b = outcome.bill_errors
            await cur.execute(
                _INSERT_BILL_ERRORS,
                (
                    [x.visit_id for x in b],
                    [x.vin for x in b],
                    [x.dealer_id for x in b],
                    [x.currency for x in b],
                    [x.predicted_low for x in b],
                    [x.predicted_expected for x in b],
                    [x.predicted_high for x in b],
                    [x.invoiced for x in b],
                    [x.abs_pct_error for x in b],
                    [ms_to_datetime(x.predicted_as_of_ms) for x in b],
                ),
            )
            scored = {str(row[0]) for row in await cur.fetchall()}
        if shifts is not None and shifts.states:
            parts = sorted(shifts.states)
            await cur.execute(
                _UPSERT_SHIFTS,
                (
                    group,
                    shifts.topic,
                    parts,
                    [offsets[(shifts.topic, p)] for p in parts],
                    [_json(shifts.states[p].as_json()) for p in parts],
                ),
            )
        stored = await store_offsets(cur, group, offsets)
    return WriteResult(inserted, frozenset(scored), stored)


def _bytes(value: object) -> bytes:
    if not isinstance(value, bytes | bytearray | memoryview):
        raise TypeError(f"expected a bytea column, got {type(value).__name__}")
    return bytes(value)


def _int(value: object) -> int:
    if not isinstance(value, int):
        raise TypeError(f"expected an integer column, got {type(value).__name__}")
    return value

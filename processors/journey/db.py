"""The journey processor's PostgreSQL side: states and registry facts in, one transaction per
batch out.

A batch's vehicle states (``journey_state``), timeline rows (``journey_events``), new alerts
(``alerts``, ``ON CONFLICT DO NOTHING``) with a webhook delivery (``webhook_outbox``) for each
one inserted whose dealer has a webhook, alert state changes (hidden, expired), the consent
changes heard on ``vehicle.consent`` (``consent_changes``, registered vehicles) and next offsets
(``consumer_offsets``, never moving backwards) are written in one transaction. A batch with
vehicles of an owner of several vehicles also writes its records of dealer.alerts there
(``journey_outbox``), published after the commit (:meth:`JourneyDb.drain_outbox`). Every statement
passes whole columns as arrays (``unnest``), in PostgreSQL's binary format (``%b``): the text
format quotes and escapes every array element with a regular expression, which took 40 % of
the processor's CPU (as in the signals processor's store). The two largest, states and timeline,
go as one JSON document each instead (``jsonb_to_recordset``), serialised by one orjson call.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec
import orjson
import psycopg

from database.db import Reconnecting, json_document
from database.offsets import store_offsets
from database.vehicle_facts import registry_version
from kernel.offsets import Partition
from processors.journey.alerts import when
from processors.journey.logic import ALLOWED_LATENESS_MS, BatchOutcome, tick_until
from processors.journey.machine import Alert
from processors.journey.state import Consent, VehicleJourney

Conn = psycopg.AsyncConnection[tuple[object, ...]]

_SELECT_STATE = "SELECT vin, state::text FROM journey_state WHERE vin = ANY(%s)"
# The owner, and whether it has other vehicles (its contact budget is then shared: docs/journey.md,
# "Alerts"); a vehicle without owner_id is its own owner and costs nothing more.
_SELECT_REGISTRY = """
SELECT v.vin, v.dealer_id, c.purpose, c.granted, c.changed_at, v.owner_id,
       CASE WHEN v.owner_id IS NULL THEN false
            ELSE EXISTS (SELECT 1 FROM vehicles o WHERE o.owner_id = v.owner_id AND o.vin <> v.vin)
       END
FROM vehicles v LEFT JOIN consent_current c ON c.vin = v.vin
WHERE v.vin = ANY(%s)
"""
# The batch's states and timeline go as one JSON document each (jsonb_to_recordset): one C call
# serialises them, where binary arrays dumped every element in Python (a third of the write).
_UPSERT_STATE = """
INSERT INTO journey_state (vin, state, as_of_ts, wake_ts, kafka_partition)
SELECT s.vin, s.state, timestamptz 'epoch' + s.as_of_ms * interval '1 millisecond',
       timestamptz 'epoch' + s.wake_ms * interval '1 millisecond', s.kafka_partition
FROM jsonb_to_recordset(%t)
    AS s(vin text, state jsonb, as_of_ms bigint, wake_ms bigint, kafka_partition integer)
ON CONFLICT (vin) DO UPDATE
SET state = EXCLUDED.state, as_of_ts = EXCLUDED.as_of_ts, wake_ts = EXCLUDED.wake_ts,
    kafka_partition = COALESCE(EXCLUDED.kafka_partition, journey_state.kafka_partition),
    updated_at = now()
"""
_SELECT_WOKEN = """
SELECT s.vin, s.state::text, w.until_ts, v.owner_id,
       CASE WHEN v.owner_id IS NULL THEN false
            ELSE EXISTS (SELECT 1 FROM vehicles o WHERE o.owner_id = v.owner_id AND o.vin <> v.vin)
       END
FROM unnest(%s::integer[], %s::timestamptz[]) AS w(kafka_partition, until_ts)
JOIN journey_state s ON s.kafka_partition = w.kafka_partition AND s.wake_ts <= w.until_ts
LEFT JOIN vehicles v ON v.vin = s.vin
WHERE NOT s.vin = ANY(%s)
ORDER BY s.vin
LIMIT %s
"""
# One transaction-scoped advisory lock per owner of several vehicles, taken in key order (so two
# members locking overlapping owners cannot deadlock), held until the batch commits; the first
# key is a constant naming the use ('JG' 'OC': journeygate owner contacts).
_OWNER_LOCK_CLASS = 0x4A474F43
_LOCK_OWNERS = """
SELECT count(pg_advisory_xact_lock(%s::integer, k)) FROM unnest(%s::integer[]) AS k
"""
_OWNER_KEYS = """
SELECT k FROM (SELECT DISTINCT hashtext(o) AS k FROM unnest(%s::text[]) AS o) AS x ORDER BY k
"""
_SELECT_OWNER_CONTACTS = """
SELECT owner_id, vin, contact_ts FROM owner_contacts
WHERE owner_id = ANY(%s) AND contact_ts > %s
"""
_INSERT_OWNER_CONTACTS = """
INSERT INTO owner_contacts (owner_id, vin, contact_ts, alert_id)
SELECT c.owner_id, c.vin, c.contact_ts, c.alert_id
FROM unnest(%b::text[], %b::text[], %b::timestamptz[], %b::text[])
     AS c(owner_id, vin, contact_ts, alert_id)
ON CONFLICT (vin, contact_ts) DO NOTHING
"""
_INSERT_JOURNEY_OUTBOX = """
INSERT INTO journey_outbox (record_key, record_value, alert_id)
SELECT * FROM unnest(%b::bytea[], %b::bytea[], %b::text[])
"""
# The oldest rows no other member is draining (it holds them locked until its commit).
_TAKE_JOURNEY_OUTBOX = """
SELECT id, record_key, record_value, alert_id FROM journey_outbox
ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED
"""
_DELETE_JOURNEY_OUTBOX = "DELETE FROM journey_outbox WHERE id = ANY(%s)"
OUTBOX_CHUNK = 1000
"""Outbox rows published and deleted per transaction."""


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A record of dealer.alerts kept in the outbox."""

    key: bytes
    value: bytes
    alert_id: str


_INSERT_EVENTS = """
INSERT INTO journey_events (event_id, vin, dealer_id, at_ts, event, gate, subject, episode_id,
                            stage, alert_id, detail, figures, cause_id)
SELECT e.event_id, e.vin, e.dealer_id, timestamptz 'epoch' + e.at_ms * interval '1 millisecond',
       e.event, e.gate, e.subject, e.episode_id, e.stage, e.alert_id, e.detail, e."values",
       e.cause_id
FROM jsonb_to_recordset(%t)
     AS e(event_id text, vin text, dealer_id text, at_ms bigint, event text, gate text,
          subject text, episode_id text, stage text, alert_id text, detail text,
          "values" jsonb, cause_id text)
ON CONFLICT (event_id) DO NOTHING
"""
_INSERT_ALERTS = """
INSERT INTO alerts (alert_id, episode_id, vin, dealer_id, alert_type, subject, stage, purpose,
                    severity, priority, created_ts, expires_ts, reason, action, figures,
                    cause_signal_id)
SELECT a.alert_id, a.episode_id, a.vin, a.dealer_id, a.alert_type, a.subject, a.stage,
       a.purpose, a.severity, a.priority, a.created_ts, a.expires_ts, a.reason, a.action,
       a.figures::jsonb, a.cause_signal_id
FROM unnest(%b::text[], %b::text[], %b::text[], %b::text[], %b::text[], %b::text[], %b::text[],
            %b::text[], %b::text[], %b::int[], %b::timestamptz[], %b::timestamptz[], %b::text[],
            %b::text[], %b::text[], %b::text[])
     AS a(alert_id, episode_id, vin, dealer_id, alert_type, subject, stage, purpose, severity,
          priority, created_ts, expires_ts, reason, action, figures, cause_signal_id)
ON CONFLICT (alert_id) DO NOTHING
RETURNING alert_id
"""
# One webhook delivery per alert this transaction inserted (RETURNING above) for a dealer with a
# webhook (docs/api.md, "Webhooks"); the delivery id of a raised alert is its alert id.
_INSERT_OUTBOX = """
INSERT INTO webhook_outbox (delivery_id, dealer_id, alert_id, payload)
SELECT o.alert_id, o.dealer_id, o.alert_id, o.payload::jsonb
FROM unnest(%b::text[], %b::text[], %b::text[]) AS o(alert_id, dealer_id, payload)
JOIN dealer_webhooks USING (dealer_id)
ON CONFLICT (delivery_id) DO NOTHING
"""
_INSERT_CONSENT = """
INSERT INTO consent_changes (vin, purpose, granted, changed_at, source)
SELECT c.vin, c.purpose, c.granted, c.changed_at, c.source
FROM unnest(%b::text[], %b::text[], %b::boolean[], %b::timestamptz[], %b::text[])
     AS c(vin, purpose, granted, changed_at, source)
WHERE c.purpose IN ('service_reminders', 'marketing_offers', 'location')
  AND EXISTS (SELECT 1 FROM vehicles v WHERE v.vin = c.vin)
ON CONFLICT (vin, purpose, changed_at) DO NOTHING
"""
# The consent changes heard on vehicle.consent are in the states of the vehicles they concern:
# recording them moves no registry version (migration 0018), and never waits for an import.
_KEEP_REGISTRY_VERSION = "SELECT set_config('journeygate.registry_version', 'keep', true)"
_UPDATE_ALERTS = """
UPDATE alerts AS a SET state = c.state, state_changed_ts = c.at_ts
FROM unnest(%b::text[], %b::text[], %b::timestamptz[]) AS c(alert_id, state, at_ts)
WHERE a.alert_id = c.alert_id AND a.state IN ('new', 'acknowledged')
"""


@dataclass(frozen=True, slots=True)
class Registered:
    """What the registry says of a vehicle: its dealer, the consent in force and its owner."""

    dealer_id: str
    consent: Mapping[str, Consent]
    owner_id: str | None = None
    """None: the vehicle is its own owner."""
    shared: bool = False
    """The owner has other registered vehicles (one contact budget for all)."""


@dataclass(frozen=True, slots=True)
class Woken:
    """A vehicle woken by time: its state, how far to evaluate it, its owner."""

    state: VehicleJourney
    until_ms: int
    owner_id: str | None = None
    shared: bool = False


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _iso(ms: int) -> str:
    return when(ms).isoformat().replace("+00:00", "Z")


def _webhook_payload(x: Alert, figures: list[dict[str, Any]]) -> str:
    return _json(
        {
            "event": "alert.raised",
            "alert_id": x.alert_id,
            "vin": x.vin,
            "dealer_id": x.dealer_id,
            "alert_type": x.alert_type,
            "subject": x.subject,
            "stage": x.stage,
            "purpose": x.purpose,
            "severity": x.severity,
            "priority": x.priority,
            "created_ts": _iso(x.at_ms),
            "expires_ts": _iso(x.expires_ms),
            "reason": x.reason,
            "action": x.action,
            "figures": figures,
        }
    )


def _bytes(value: object) -> bytes:
    assert isinstance(value, bytes | memoryview)
    return bytes(value)


def _ms(value: object) -> int:
    assert isinstance(value, datetime)
    return int(value.timestamp() * 1000)


class JourneyDb(Reconnecting):
    """One connection of the journey processor, reopened after a connection failure."""

    def __init__(self, database_url: str, group: str) -> None:
        super().__init__(database_url)
        self._group = group

    async def load_states(self, vins: Sequence[str]) -> dict[str, VehicleJourney]:
        async def work(conn: Conn) -> dict[str, VehicleJourney]:
            cur = await conn.execute(_SELECT_STATE, (list(vins),))
            return {
                str(vin): VehicleJourney.from_bytes(str(state))
                for vin, state in await cur.fetchall()
            }

        result: dict[str, VehicleJourney] = await self.guarded(work)
        return result

    async def load_woken(
        self, watermarks: Mapping[int, int], skip: Sequence[str], limit: int
    ) -> dict[str, Woken]:
        """States of the vehicles of these partitions (not in ``skip``) due to be evaluated by
        time by the partition's watermark (epoch ms; :func:`~processors.journey.logic.tick_until`),
        with that watermark and their owner; at most ``limit``."""
        if not watermarks:
            return {}
        parts = sorted(watermarks)

        async def work(conn: Conn) -> dict[str, Woken]:
            cur = await conn.execute(
                _SELECT_WOKEN,
                (parts, [when(tick_until(watermarks[p])) for p in parts], list(skip), limit),
            )
            return {
                str(vin): Woken(
                    VehicleJourney.from_bytes(str(state)),
                    _ms(until) + ALLOWED_LATENESS_MS,
                    None if owner is None else str(owner),
                    bool(shared),
                )
                for vin, state, until, owner, shared in await cur.fetchall()
            }

        result: dict[str, Woken] = await self.guarded(work)
        return result

    async def registry_version(self) -> int:
        """The registry's version now (:func:`database.vehicle_facts.registry_version`)."""
        result: int = await self.guarded(registry_version)
        return result

    async def load_registry(self, vins: Sequence[str]) -> dict[str, Registered]:
        async def work(conn: Conn) -> dict[str, Registered]:
            cur = await conn.execute(_SELECT_REGISTRY, (list(vins),))
            found: dict[str, Registered] = {}
            for vin, dealer, purpose, granted, changed, owner, shared in await cur.fetchall():
                entry = found.get(str(vin))
                if entry is None:
                    owner_id = None if owner is None else str(owner)
                    entry = found[str(vin)] = Registered(str(dealer), {}, owner_id, bool(shared))
                if purpose is not None:
                    assert isinstance(entry.consent, dict)
                    entry.consent[str(purpose)] = Consent(bool(granted), _ms(changed))
            return found

        result: dict[str, Registered] = await self.guarded(work)
        return result

    async def write_batch(
        self, outcome: BatchOutcome, offsets: Mapping[Partition, int]
    ) -> dict[Partition, int]:
        """Store a batch and its offsets in one transaction; returns the offsets now stored."""

        async def work(conn: Conn) -> dict[Partition, int]:
            return await _write(conn, self._group, outcome, offsets)

        result: dict[Partition, int] = await self.guarded(work)
        return result

    async def in_owners_transaction(
        self, owners: Sequence[str], since_ms: int, work: OwnersWork
    ) -> dict[Partition, int]:
        """Run a batch whose vehicles share owners with other vehicles in one transaction: lock
        ``owners`` (in key order), read their contacts newer than ``since_ms``, then ``work``
        (fold, publish, and write with the writer it is given, all before the commit). Another
        member's batch touching one of these owners waits for the commit, then reads the
        contacts it made."""

        async def run(conn: Conn) -> dict[Partition, int]:
            async with conn.transaction():
                async with conn.cursor() as cur:
                    await cur.execute(_OWNER_KEYS, (list(owners),))
                    keys = [int(str(k)) for (k,) in await cur.fetchall()]
                    await cur.execute(_LOCK_OWNERS, (_OWNER_LOCK_CLASS, keys))
                    await cur.execute(_SELECT_OWNER_CONTACTS, (list(owners), when(since_ms)))
                    found: dict[str, list[tuple[str, int]]] = {}
                    for owner, vin, at in await cur.fetchall():
                        found.setdefault(str(owner), []).append((str(vin), _ms(at)))
                contacts = {o: tuple(sorted(c)) for o, c in found.items()}

                async def write(
                    outcome: BatchOutcome,
                    offsets: Mapping[Partition, int],
                    outbox: Sequence[Outgoing],
                ) -> dict[Partition, int]:
                    return await _write(conn, self._group, outcome, offsets, outbox)

                return await work(contacts, write)

        result: dict[Partition, int] = await self.guarded(run)
        return result

    async def drain_outbox(self, send: Callable[[Sequence[Outgoing]], Awaitable[None]]) -> int:
        """Publish (``send``: returns once Kafka acknowledged them) and delete the outbox's rows,
        oldest first, :data:`OUTBOX_CHUNK` per transaction, until it is empty; the number
        published. Rows another member is draining are skipped; a crash between ``send`` and
        the commit publishes them again (the same records, same alert ids)."""

        async def work(conn: Conn) -> int:
            done = 0
            while True:
                async with conn.transaction(), conn.cursor() as cur:
                    await cur.execute(_TAKE_JOURNEY_OUTBOX, (OUTBOX_CHUNK,))
                    rows = await cur.fetchall()
                    if not rows:
                        return done
                    await send([Outgoing(_bytes(k), _bytes(v), str(a)) for _, k, v, a in rows])
                    await cur.execute(
                        _DELETE_JOURNEY_OUTBOX, ([int(str(i)) for i, _, _, _ in rows],)
                    )
                done += len(rows)

        result: int = await self.guarded(work)
        return result


Writer = Callable[
    [BatchOutcome, Mapping[Partition, int], Sequence[Outgoing]], Awaitable[dict[Partition, int]]
]
OwnersWork = Callable[
    [Mapping[str, tuple[tuple[str, int], ...]], Writer], Awaitable[dict[Partition, int]]
]
"""Given the owners' stored contacts and the transaction's writer, fold and write (the records
of dealer.alerts into the outbox)."""


async def _write(
    conn: Conn,
    group: str,
    outcome: BatchOutcome,
    offsets: Mapping[Partition, int],
    outbox: Sequence[Outgoing] = (),
) -> dict[Partition, int]:
    async with conn.transaction(), conn.cursor() as cur:
        if outbox:
            await cur.execute(
                _INSERT_JOURNEY_OUTBOX,
                ([o.key for o in outbox], [o.value for o in outbox], [o.alert_id for o in outbox]),
            )
        if outcome.states:
            rows = [
                {
                    "vin": v,
                    "state": msgspec.Raw(outcome.encoded[v]) if v in outcome.encoded else x,
                    "as_of_ms": x.as_of_ms,
                    "wake_ms": outcome.wakes.get(v),
                    "kafka_partition": outcome.partitions.get(v),
                }
                for v, x in sorted(outcome.states.items())
            ]
            await cur.execute(_UPSERT_STATE, (json_document(rows),))
        if outcome.alerts:
            a = outcome.alerts
            figures = [[f.as_json() for f in x.figures] for x in a]
            await cur.execute(
                _INSERT_ALERTS,
                (
                    [x.alert_id for x in a],
                    [x.episode_id for x in a],
                    [x.vin for x in a],
                    [x.dealer_id for x in a],
                    [x.alert_type for x in a],
                    [x.subject for x in a],
                    [x.stage for x in a],
                    [x.purpose for x in a],
                    [x.severity for x in a],
                    [x.priority for x in a],
                    [when(x.at_ms) for x in a],
                    [when(x.expires_ms) for x in a],
                    [x.reason for x in a],
                    [x.action for x in a],
                    [_json(f) for f in figures],
                    [x.cause_id for x in a],
                ),
            )
            inserted = {str(r[0]) for r in await cur.fetchall()}
            raised = [(x, f) for x, f in zip(a, figures, strict=True) if x.alert_id in inserted]
            if raised:
                await cur.execute(
                    _INSERT_OUTBOX,
                    (
                        [x.alert_id for x, _ in raised],
                        [x.dealer_id for x, _ in raised],
                        [_webhook_payload(x, f) for x, f in raised],
                    ),
                )
        if outcome.changes:
            c = outcome.changes
            await cur.execute(
                _UPDATE_ALERTS,
                ([x.alert.alert_id for x in c], [x.action for x in c], [when(x.at_ms) for x in c]),
            )
        if outcome.events:
            # the dataclasses' fields, by name
            events: Any = outcome.events
            if len(outcome.encoded_events) == len(events):  # made by the fold, while hot
                events = msgspec.Raw(b"[" + b",".join(outcome.encoded_events) + b"]")
            await cur.execute(_INSERT_EVENTS, (json_document(events),))
        contacts = _owner_contacts(outcome)
        if contacts:
            await cur.execute(
                _INSERT_OWNER_CONTACTS,
                (
                    [o for o, _, _, _ in contacts],
                    [v for _, v, _, _ in contacts],
                    [when(t) for _, _, t, _ in contacts],
                    [a for _, _, _, a in contacts],
                ),
            )
        if outcome.consent:
            k = outcome.consent
            await cur.execute(_KEEP_REGISTRY_VERSION)
            await cur.execute(
                _INSERT_CONSENT,
                (
                    [x.vin for x in k],
                    [x.purpose for x in k],
                    [x.granted for x in k],
                    [x.changed_at for x in k],
                    [x.source for x in k],
                ),
            )
        return await store_offsets(cur, group, offsets)


def _owner_contacts(outcome: BatchOutcome) -> list[tuple[str, str, int, str | None]]:
    """The contacts to record in ``owner_contacts`` (owner, VIN, epoch ms, alert id): those of
    every vehicle with an owner that the batch raised an alert for, with its other contacts
    still in the budget window (held in its state from before its owner was known: idempotent),
    and of every vehicle of an owner of several vehicles that the batch folded."""
    if not outcome.owners:
        return []
    ids = {(a.vin, a.at_ms): a.alert_id for a in outcome.alerts}
    alerted = {a.vin for a in outcome.alerts}
    rows = []
    for vin, owner in sorted(outcome.owners.items()):
        state = outcome.states.get(vin)
        if state is None or not (vin in alerted or vin in outcome.shared):
            continue
        rows += [(owner, vin, ms, ids.get((vin, ms))) for ms in sorted(set(state.contacts_ms))]
    return rows

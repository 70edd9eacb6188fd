"""What the dealer API reads and writes in the journey store (psycopg 3, parametrised SQL).

Every query of a dealer's data names the dealer: an alert or a vehicle of another dealer is
indistinguishable from one that does not exist.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

from dealers.keys import generate_key, hash_key, same_hash

Conn = psycopg.Connection[Any]

# An alert the processor has not hidden yet whose purpose's consent is withdrawn (a change read
# by the registry before the journey processor caught up) is not shown either.
_VISIBLE = """
NOT EXISTS (
    SELECT 1 FROM consent_current c
    WHERE c.vin = a.vin AND NOT c.granted
      AND c.purpose = CASE a.purpose WHEN 'service' THEN 'service_reminders'
                                     ELSE 'marketing_offers' END)
"""
_ALERT_COLUMNS = """
a.alert_id, a.vin, a.alert_type, a.subject, a.stage, a.purpose, a.severity, a.priority,
a.created_ts, a.expires_ts, a.reason, a.action, a.figures, a.state, a.acknowledged_at
"""
LISTED_STATES = ("new", "acknowledged", "expired")
DEFAULT_STATES = ("new", "acknowledged")


@dataclass(frozen=True, slots=True)
class Caller:
    key_id: int
    dealer_id: str


@dataclass(frozen=True, slots=True)
class NewKey:
    dealer_id: str
    key_id: int
    key: str
    dealer_created: bool


class UnknownDealer(LookupError):
    """No dealer of that id."""


def _storable(*texts: str | None) -> bool:
    """Whether PostgreSQL can hold every one of ``texts`` (text cannot contain NUL): a value
    that cannot be stored is in no row."""
    return not any(t is not None and "\x00" in t for t in texts)


def _utc(value: object) -> object:
    return value.astimezone(UTC) if isinstance(value, datetime) else value


def _insert_key(conn: Conn, dealer_id: str) -> tuple[int, str]:
    key = generate_key()
    row = conn.execute(
        "INSERT INTO dealer_keys (dealer_id, key_hash) VALUES (%s, %s) RETURNING key_id",
        (dealer_id, hash_key(key)),
    ).fetchone()
    assert row is not None
    return int(row[0]), key


def add_dealer(conn: Conn, dealer_id: str, name: str | None) -> NewKey:
    """Create the dealer if missing (a given name replaces the old one) and make a new key;
    the dealer's other keys stay valid."""
    with conn.transaction():
        row = conn.execute(
            "INSERT INTO dealers (dealer_id, name) VALUES (%s, %s)"
            " ON CONFLICT (dealer_id) DO UPDATE SET name = COALESCE(EXCLUDED.name, dealers.name)"
            " RETURNING (xmax = 0)",
            (dealer_id, name),
        ).fetchone()
        assert row is not None
        key_id, key = _insert_key(conn, dealer_id)
    return NewKey(dealer_id, key_id, key, bool(row[0]))


def rotate_key(conn: Conn, dealer_id: str) -> tuple[NewKey, int]:
    """Revoke every key of the dealer and make a new one, in one transaction; the new key and
    how many were revoked. :class:`UnknownDealer` if there is no such dealer."""
    with conn.transaction():
        found = conn.execute(
            "SELECT 1 FROM dealers WHERE dealer_id = %s FOR UPDATE", (dealer_id,)
        ).fetchone()
        if found is None:
            raise UnknownDealer(dealer_id)
        revoked = conn.execute(
            "UPDATE dealer_keys SET revoked_at = now() WHERE dealer_id = %s AND revoked_at IS NULL",
            (dealer_id,),
        ).rowcount
        key_id, key = _insert_key(conn, dealer_id)
    return NewKey(dealer_id, key_id, key, False), revoked


def authenticate(conn: Conn, key_hash: bytes) -> Caller | None:
    """The dealer of a live key with this hash, or None."""
    row = conn.execute(
        "SELECT k.key_id, k.dealer_id, k.key_hash FROM dealer_keys k"
        " JOIN dealers d USING (dealer_id)"
        " WHERE k.key_hash = %s AND k.revoked_at IS NULL",
        (key_hash,),
    ).fetchone()
    if row is None or not same_hash(bytes(row[2]), key_hash):
        return None
    return Caller(int(row[0]), str(row[1]))


def _alert(row: dict[str, Any]) -> dict[str, Any]:
    return {k: _utc(v) for k, v in row.items()}


def _alert_filters(
    dealer_id: str,
    states: Sequence[str],
    alert_type: str | None,
    since: datetime | None,
    vin: str | None,
) -> tuple[list[str], list[object]]:
    """The conditions (on ``alerts a``) and parameters selecting the dealer's visible alerts in
    ``states`` with the filters given (None: any)."""
    conditions = ["a.dealer_id = %s", "a.state = ANY(%s)", _VISIBLE]
    params: list[object] = [dealer_id, [s for s in states if s in LISTED_STATES]]
    if alert_type is not None:
        conditions.append("a.alert_type = %s")
        params.append(alert_type)
    if since is not None:
        conditions.append("a.created_ts >= %s")
        params.append(since)
    if vin is not None:
        conditions.append("a.vin = %s")
        params.append(vin)
    return conditions, params


def list_alerts(
    conn: Conn,
    dealer_id: str,
    *,
    states: Sequence[str],
    alert_type: str | None,
    since: datetime | None,
    vin: str | None,
    after: tuple[datetime, str] | None,
    limit: int,
) -> list[dict[str, Any]]:
    """Up to ``limit`` of the dealer's visible alerts, newest first (created_ts, then alert_id,
    both descending), after the cursor position ``after``."""
    if not _storable(alert_type, vin, None if after is None else after[1]):
        return []
    conditions, params = _alert_filters(dealer_id, states, alert_type, since, vin)
    if after is not None:
        conditions.append("(a.created_ts, a.alert_id) < (%s, %s)")
        params.extend(after)
    params.append(limit)
    query = (
        f"SELECT {_ALERT_COLUMNS} FROM alerts a WHERE {' AND '.join(conditions)}"  # noqa: S608
        " ORDER BY a.created_ts DESC, a.alert_id DESC LIMIT %s"
    )
    with conn.cursor(row_factory=dict_row) as cur:
        return [_alert(r) for r in cur.execute(query, params).fetchall()]


def alerts_by_priority(
    conn: Conn,
    dealer_id: str,
    *,
    states: Sequence[str],
    alert_type: str | None,
    vin: str | None,
    limit: int,
) -> list[dict[str, Any]]:
    """Up to ``limit`` of the dealer's visible alerts (the selection of :func:`list_alerts`),
    the most pressing first: priority, then severity, both descending, then newest first."""
    if not _storable(alert_type, vin):
        return []
    conditions, params = _alert_filters(dealer_id, states, alert_type, None, vin)
    params.append(limit)
    query = (
        f"SELECT {_ALERT_COLUMNS} FROM alerts a WHERE {' AND '.join(conditions)}"  # noqa: S608
        " ORDER BY a.priority DESC,"
        " CASE a.severity WHEN 'high' THEN 3 WHEN 'medium' THEN 2 ELSE 1 END DESC,"
        " a.created_ts DESC, a.alert_id DESC LIMIT %s"
    )
    with conn.cursor(row_factory=dict_row) as cur:
        return [_alert(r) for r in cur.execute(query, params).fetchall()]


def stream_start(
    conn: Conn, dealer_id: str, overlap: timedelta
) -> tuple[datetime, dict[str, datetime]]:
    """The store's clock now, and the dealer's alerts (any state) stored since ``overlap``
    before it, id to stored_at; read in one statement, so from one snapshot: these alerts are
    the ones committed before the stream starts."""
    rows = conn.execute(
        "WITH t AS (SELECT now() AS now)"
        " SELECT t.now, a.alert_id, a.stored_at FROM t"
        " LEFT JOIN alerts a ON a.dealer_id = %s AND a.stored_at >= t.now - %s",
        (dealer_id, overlap),
    ).fetchall()
    now = rows[0][0]
    assert isinstance(now, datetime)
    seen = {str(r[1]): r[2].astimezone(UTC) for r in rows if r[1] is not None}
    return now.astimezone(UTC), seen


def stream_alerts(
    conn: Conn,
    dealer_id: str,
    *,
    after: tuple[datetime, str],
    exclude: Sequence[str],
    limit: int,
) -> list[dict[str, Any]]:
    """Up to ``limit`` of the dealer's visible alerts (not hidden, consent not withdrawn) in
    stored order (stored_at, then alert_id) strictly after the position ``after``, leaving out
    the ids of ``exclude``. Each row has the alert's fields and its ``stored_at``."""
    query = (
        f"SELECT {_ALERT_COLUMNS}, a.stored_at FROM alerts a"  # noqa: S608
        f" WHERE a.dealer_id = %s AND a.state = ANY(%s) AND {_VISIBLE}"
        " AND (a.stored_at, a.alert_id) > (%s, %s) AND NOT (a.alert_id = ANY(%s::text[]))"
        " ORDER BY a.stored_at, a.alert_id LIMIT %s"
    )
    params = (dealer_id, list(LISTED_STATES), after[0], after[1], list(exclude), limit)
    with conn.cursor(row_factory=dict_row) as cur:
        return [_alert(r) for r in cur.execute(query, params).fetchall()]


def acknowledge(conn: Conn, dealer_id: str, alert_id: str) -> dict[str, Any] | None:
    """Set a new visible alert of the dealer to acknowledged; an acknowledged one is returned
    as it is. None for any other alert (another dealer's, hidden, expired, unknown)."""
    if not _storable(alert_id):
        return None
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            f"UPDATE alerts a SET state = 'acknowledged', acknowledged_at = now()"  # noqa: S608
            f" WHERE a.alert_id = %s AND a.dealer_id = %s AND a.state = 'new' AND {_VISIBLE}"
            f" RETURNING {_ALERT_COLUMNS}",
            (alert_id, dealer_id),
        ).fetchone()
        if row is None:
            row = cur.execute(
                f"SELECT {_ALERT_COLUMNS} FROM alerts a"  # noqa: S608
                f" WHERE a.alert_id = %s AND a.dealer_id = %s AND a.state = 'acknowledged'"
                f" AND {_VISIBLE}",
                (alert_id, dealer_id),
            ).fetchone()
    return None if row is None else _alert(row)


@dataclass(frozen=True, slots=True)
class VehicleRecord:
    registry: dict[str, Any]
    consent: dict[str, bool]
    state: dict[str, Any] | None
    timeline: list[dict[str, Any]]
    location: dict[str, Any] | None = None
    """The newest position in the telemetry: read only under the owner's location consent."""


def read_vehicle(
    conn: Conn, dealer_id: str, vin: str, timeline_limit: int = 100
) -> VehicleRecord | None:
    """The registry row, consent in force, current predictions and the newest timeline events
    (those of this dealer) of a vehicle of the dealer; None if it is not theirs or unknown."""
    if not _storable(vin):
        return None
    with conn.cursor(row_factory=dict_row) as cur:
        registry = cur.execute(
            "SELECT vin, brand, model, model_year, powertrain, delivery_date, market, currency"
            " FROM vehicles WHERE vin = %s AND dealer_id = %s",
            (vin, dealer_id),
        ).fetchone()
        if registry is None:
            return None
        consent = {
            str(r["purpose"]): bool(r["granted"])
            for r in cur.execute(
                "SELECT purpose, granted FROM consent_current WHERE vin = %s", (vin,)
            ).fetchall()
        }
        state = cur.execute(
            "SELECT as_of_ts, predicted_as_of_ts, odometer_m, usage, warranty, service, equity,"
            " active_faults, last_service FROM vehicle_state WHERE vin = %s",
            (vin,),
        ).fetchone()
        timeline = cur.execute(
            "SELECT event_id, at_ts, event, gate, subject, episode_id, stage, alert_id, detail,"
            " figures FROM journey_events WHERE vin = %s AND dealer_id = %s"
            " ORDER BY at_ts DESC, event_id DESC LIMIT %s",
            (vin, dealer_id, timeline_limit),
        ).fetchall()
        # Positions are read only when the owner's consent in force grants them.
        position = (
            cur.execute(_NEWEST_POSITION, (vin,)).fetchone()
            if consent.get("location", False)
            else None
        )
    reg = {k: (v.isoformat() if isinstance(v, date) else v) for k, v in registry.items()}
    return VehicleRecord(
        registry=reg,
        consent=consent,
        state=None if state is None else {k: _utc(v) for k, v in state.items()},
        timeline=[{k: _utc(v) for k, v in e.items()} for e in timeline],
        location=None if position is None else {k: _utc(v) for k, v in position.items()},
    )


_NEWEST_POSITION = """
SELECT event_ts, latitude_deg, longitude_deg FROM telemetry
WHERE vin = %s AND latitude_deg IS NOT NULL AND longitude_deg IS NOT NULL
ORDER BY event_ts DESC LIMIT 1
"""


def odometer_days(conn: Conn, dealer_id: str, vin: str, span: timedelta) -> list[tuple[date, int]]:
    """The odometer of a vehicle of the dealer at the end of each UTC day with a reading (the
    day's last reading, metres), oldest first, over ``span`` up to its newest reading; empty if
    the vehicle is not theirs or has none. Never reads the telemetry's positions."""
    if not _storable(vin):
        return []
    rows = conn.execute(
        "SELECT DISTINCT ON (day) day, odometer_m FROM ("
        " SELECT (t.event_ts AT TIME ZONE 'UTC')::date AS day, t.event_ts, t.seq, t.sample_idx,"
        " t.odometer_m FROM telemetry t"
        " WHERE t.vin = %s AND t.odometer_m IS NOT NULL"
        " AND EXISTS (SELECT 1 FROM vehicles v WHERE v.vin = t.vin AND v.dealer_id = %s)"
        " AND t.event_ts > (SELECT max(event_ts) FROM telemetry"
        " WHERE vin = %s AND odometer_m IS NOT NULL) - %s"
        ") d ORDER BY day, event_ts DESC, seq DESC, sample_idx DESC",
        (vin, dealer_id, vin, span),
    ).fetchall()
    return [(row[0], int(row[1])) for row in rows]

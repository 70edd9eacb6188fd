"""The journey processor's write path fills ``webhook_outbox`` in the batch's transaction: one
row per alert it inserts for a dealer with a webhook, none for a dealer without one, none again
when the same batch is written twice."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
import pytest

from dealers.webhooks import set_webhook
from kernel.settings import Settings
from processors.journey.db import JourneyDb
from processors.journey.logic import BatchOutcome
from processors.journey.machine import Alert
from schemas.alerts import Figure

pytestmark = pytest.mark.integration

DAY_MS = 86_400_000
T0_MS = 1_772_323_200_000  # 2026-03-01T00:00:00Z


def alert(n: int, dealer_id: str, at_ms: int = T0_MS) -> Alert:
    vin = f"1HGCM82633A00{n:04d}"
    return Alert(
        alert_id=f"{vin}:service_due:{at_ms}:early",
        episode_id=f"{vin}:service_due:{at_ms}",
        vin=vin,
        dealer_id=dealer_id,
        alert_type="service_due",
        subject=None,
        stage="early",
        purpose="service",
        severity="medium",
        priority=50,
        at_ms=at_ms,
        expires_ms=at_ms + 30 * DAY_MS,
        reason="Next service due about 02 Apr 2026, about USD 310.00.",
        action="Invite the owner to book the service.",
        figures=(Figure("days to service", 32.0, "days", "32 days"),),
        cause_id=f"{vin}:service:{at_ms}",
    )


def batch(*alerts: Alert) -> BatchOutcome:
    return BatchOutcome(states={}, events=(), alerts=alerts, changes=())


def write(settings: Settings, outcome: BatchOutcome) -> None:
    async def go() -> None:
        db = JourneyDb(settings.database_url, "journey-test")
        try:
            await db.write_batch(outcome, {})
        finally:
            await db.close()

    asyncio.run(go())


def outbox(settings: Settings) -> list[tuple[Any, ...]]:
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        return conn.execute(
            "SELECT delivery_id, dealer_id, alert_id, payload, state, attempts"
            " FROM webhook_outbox ORDER BY delivery_id"
        ).fetchall()


def test_one_outbox_row_per_raised_alert_of_a_dealer_with_a_webhook(settings: Settings) -> None:
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        conn.execute("INSERT INTO dealers (dealer_id) VALUES ('DLR-A'), ('DLR-B')")
        set_webhook(conn, "DLR-A", "https://a.example/hook", "whsec_" + "a" * 32)

    first = batch(alert(1, "DLR-A"), alert(2, "DLR-A"), alert(3, "DLR-B"))
    write(settings, first)
    rows = outbox(settings)
    assert [(r[0], r[1], r[2], r[4], r[5]) for r in rows] == [
        (a.alert_id, "DLR-A", a.alert_id, "new", 0) for a in first.alerts[:2]
    ]
    payload = rows[0][3]
    a1 = first.alerts[0]
    assert payload == {
        "event": "alert.raised",
        "alert_id": a1.alert_id,
        "vin": a1.vin,
        "dealer_id": "DLR-A",
        "alert_type": "service_due",
        "subject": None,
        "stage": "early",
        "purpose": "service",
        "severity": "medium",
        "priority": 50,
        "created_ts": "2026-03-01T00:00:00Z",
        "expires_ts": "2026-03-31T00:00:00Z",
        "reason": a1.reason,
        "action": a1.action,
        "figures": [{"name": "days to service", "value": 32.0, "unit": "days", "text": "32 days"}],
    }

    # The same batch again (a replay after a crash): nothing new, nothing duplicated.
    write(settings, first)
    assert outbox(settings) == rows

    # A webhook set later does not pick up the alerts raised before it, even when their batch
    # is replayed; it gets the next alert raised.
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        set_webhook(conn, "DLR-B", "https://b.example/hook", "whsec_" + "b" * 32)
    later = alert(4, "DLR-B", T0_MS + DAY_MS)
    write(settings, batch(*first.alerts, later))
    after = outbox(settings)
    assert [r[0] for r in after] == sorted([first.alerts[0].alert_id, first.alerts[1].alert_id,
                                            later.alert_id])  # fmt: skip
    assert {r[0]: r[3]["created_ts"] for r in after}[later.alert_id] == "2026-03-02T00:00:00Z"
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM alerts").fetchone() == (4,)


def test_the_outbox_rows_share_the_alerts_transaction(settings: Settings) -> None:
    """A batch whose transaction fails leaves neither its alerts nor their deliveries."""
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        conn.execute("INSERT INTO dealers (dealer_id) VALUES ('DLR-A')")
        set_webhook(conn, "DLR-A", "https://a.example/hook", "whsec_" + "a" * 32)
    # A malformed consent change fails after the alerts and the outbox rows are inserted.
    failing = BatchOutcome(
        states={}, events=(), alerts=(alert(1, "DLR-A"),), changes=(),
        consent=(object(),),  # type: ignore[arg-type]
    )  # fmt: skip
    with pytest.raises(AttributeError):
        write(settings, failing)
    assert outbox(settings) == []
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM alerts").fetchone() == (0,)

"""The dealer HTTP API against a real PostgreSQL: each dealer sees only its own alerts and
vehicles (another's look the same as none), hidden alerts never show, pages neither skip nor
repeat, keys rotate at once, the rate limit answers 429, equity needs marketing consent."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg.types.json import Jsonb

from dealers.api import create_app
from dealers.keys import generate_key
from dealers.store import add_dealer, rotate_key
from kernel.settings import Settings

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 1, tzinfo=UTC)
PROBLEM = "application/problem+json"
LOCATION_WORDS = ("latitude", "longitude", "location", "lat", "lon", "lng", "gps")


def vin(n: int) -> str:
    return f"1HGCM82633A{n:06d}"


@dataclass
class World:
    settings: Settings
    key_a: str
    key_b: str

    def connect(self) -> psycopg.Connection[tuple[Any, ...]]:
        return psycopg.connect(self.settings.database_url, autocommit=True)


def add_vehicle(conn: psycopg.Connection[Any], v: str, dealer: str) -> None:
    conn.execute(
        "INSERT INTO vehicles (vin, brand, model, model_year, powertrain, delivery_date,"
        " dealer_id, market, currency) VALUES (%s, 'Honda', 'Accord', 2023, 'ice', '2023-04-01',"
        " %s, 'US', 'USD')",
        (v, dealer),
    )


def add_alert(
    conn: psycopg.Connection[Any],
    alert_id: str,
    v: str,
    dealer: str,
    created: datetime,
    *,
    state: str = "new",
    alert_type: str = "service_due",
    purpose: str = "service",
    severity: str = "medium",
    priority: int = 50,
    reason: str = "due soon",
) -> None:
    conn.execute(
        "INSERT INTO alerts (alert_id, episode_id, vin, dealer_id, alert_type, stage, purpose,"
        " severity, priority, created_ts, expires_ts, reason, action, figures, state)"
        " VALUES (%s, %s, %s, %s, %s, 'early', %s, %s, %s, %s, %s, %s, 'book it', %s, %s)",
        (alert_id, f"{alert_id}:ep", v, dealer, alert_type, purpose, severity, priority, created,
         created + timedelta(days=30), reason,
         Jsonb([{"name": "days to service", "value": 12, "unit": "days"}]), state),
    )  # fmt: skip


def consent(conn: psycopg.Connection[Any], v: str, purpose: str, granted: bool, day: int) -> None:
    conn.execute(
        "INSERT INTO consent_changes (vin, purpose, granted, changed_at, source)"
        " VALUES (%s, %s, %s, %s, 'test')",
        (v, purpose, granted, T0 + timedelta(days=day)),
    )


@pytest.fixture
def world(settings: Settings) -> World:
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        key_a = add_dealer(conn, "DLR-A", "Dealer A").key
        key_b = add_dealer(conn, "DLR-B", None).key
        for n, dealer in ((1, "DLR-A"), (2, "DLR-A"), (3, "DLR-B")):
            add_vehicle(conn, vin(n), dealer)
            consent(conn, vin(n), "service_reminders", True, -100)
        add_alert(conn, "A-1", vin(1), "DLR-A", T0)
        add_alert(conn, "A-2", vin(2), "DLR-A", T0 + timedelta(hours=1))
        add_alert(conn, "A-ack", vin(1), "DLR-A", T0 + timedelta(hours=2), state="acknowledged")
        add_alert(conn, "A-hidden", vin(2), "DLR-A", T0 + timedelta(hours=3), state="hidden")
        add_alert(conn, "A-expired", vin(1), "DLR-A", T0 + timedelta(hours=4), state="expired")
        add_alert(conn, "B-1", vin(3), "DLR-B", T0 + timedelta(hours=5))
    return World(settings, key_a, key_b)


@pytest.fixture
def client(world: World) -> Iterator[TestClient]:
    with TestClient(create_app(world.settings)) as c:
        yield c


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["alert_id"] for item in response.json()["items"]]


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert set(body) == {"type", "title", "status", "detail"}
    assert body["status"] == status
    return body


def test_no_key_a_bad_key_or_an_unknown_key_is_401(client: TestClient) -> None:
    for headers in ({}, {"Authorization": "Basic eDp5"}, auth("nope"), auth(generate_key())):
        for method, path in (("GET", "/v1/alerts"), ("POST", "/v1/alerts/A-1/ack"),
                             ("GET", f"/v1/vehicles/{vin(1)}")):  # fmt: skip
            response = client.request(method, path, headers=headers)
            assert_problem(response, 401)
            assert response.headers["www-authenticate"].startswith("Bearer")


def test_each_dealer_lists_only_its_visible_alerts_newest_first(
    client: TestClient, world: World
) -> None:
    assert ids(client.get("/v1/alerts", headers=auth(world.key_a))) == ["A-ack", "A-2", "A-1"]
    assert ids(client.get("/v1/alerts", headers=auth(world.key_b))) == ["B-1"]
    first = client.get("/v1/alerts", headers=auth(world.key_a)).json()
    assert first["next_cursor"] is None
    item = first["items"][0]
    assert set(item) >= {"alert_id", "vin", "alert_type", "stage", "purpose", "severity",
                         "priority", "created_ts", "expires_ts", "reason", "action", "figures",
                         "state"}  # fmt: skip
    assert item["created_ts"] == "2026-03-01T02:00:00Z"
    assert item["expires_ts"] == "2026-03-31T02:00:00Z"


def test_filters_and_bad_parameters(client: TestClient, world: World) -> None:
    a = auth(world.key_a)
    assert ids(client.get("/v1/alerts", params={"state": "expired"}, headers=a)) == ["A-expired"]
    both = client.get("/v1/alerts", params=[("state", "new"), ("state", "expired")], headers=a)
    assert ids(both) == ["A-expired", "A-2", "A-1"]
    assert ids(client.get("/v1/alerts", params={"vehicle": vin(2)}, headers=a)) == ["A-2"]
    assert ids(client.get("/v1/alerts", params={"vehicle": vin(3)}, headers=a)) == []
    assert ids(client.get("/v1/alerts", params={"type": "big_bill"}, headers=a)) == []
    since = (T0 + timedelta(minutes=30)).isoformat()
    assert ids(client.get("/v1/alerts", params={"since": since}, headers=a)) == ["A-ack", "A-2"]
    z = client.get("/v1/alerts", params={"since": "2026-03-01T00:30:00Z"}, headers=a)
    assert ids(z) == ["A-ack", "A-2"]
    for params in ({"state": "hidden"}, {"state": "bogus"}, {"since": "yesterday"},
                   {"since": "2026-03-01T00:00:00"}, {"cursor": "garbage"}, {"limit": "0"},
                   {"limit": "x"}):  # fmt: skip
        assert_problem(client.get("/v1/alerts", params=params, headers=a), 400)


def test_hidden_alerts_and_withdrawn_consent_never_show(client: TestClient, world: World) -> None:
    a = auth(world.key_a)
    for params in ({}, {"state": ["new", "acknowledged", "expired"]}, {"vehicle": vin(2)}):
        assert "A-hidden" not in ids(client.get("/v1/alerts", params=params, headers=a))
    assert_problem(client.post("/v1/alerts/A-hidden/ack", headers=a), 404)
    # a withdrawal the journey processor has not acted on yet already hides the alerts
    with world.connect() as conn:
        consent(conn, vin(2), "service_reminders", False, 1)
    assert ids(client.get("/v1/alerts", headers=a)) == ["A-ack", "A-1"]
    assert_problem(client.post("/v1/alerts/A-2/ack", headers=a), 404)


def test_acknowledging_sets_the_state_once(client: TestClient, world: World) -> None:
    a = auth(world.key_a)
    first = client.post("/v1/alerts/A-1/ack", headers=a)
    assert first.status_code == 200, first.text
    assert first.json()["state"] == "acknowledged"
    acknowledged_at = first.json()["acknowledged_at"]
    assert acknowledged_at is not None
    again = client.post("/v1/alerts/A-1/ack", headers=a)
    assert again.status_code == 200 and again.json()["acknowledged_at"] == acknowledged_at
    with world.connect() as conn:
        row = conn.execute(
            "SELECT state, acknowledged_at FROM alerts WHERE alert_id = 'A-1'"
        ).fetchone()
    assert row is not None and row[0] == "acknowledged" and row[1] is not None
    assert_problem(client.post("/v1/alerts/A-expired/ack", headers=a), 404)


def test_another_dealers_ids_look_exactly_like_unknown_ones(
    client: TestClient, world: World
) -> None:
    b = auth(world.key_b)
    theirs = ["A-1", "A-2", "A-ack", "A-hidden", "A-expired", "no-such-alert", generate_key()]
    ack_bodies = {client.post(f"/v1/alerts/{a}/ack", headers=b).text for a in theirs}
    assert len(ack_bodies) == 1
    assert_problem(client.post("/v1/alerts/A-1/ack", headers=b), 404)
    vehicle_bodies = {
        client.get(f"/v1/vehicles/{v}", headers=b).text for v in (vin(1), vin(2), vin(999), "X")
    }
    assert len(vehicle_bodies) == 1
    assert_problem(client.get(f"/v1/vehicles/{vin(1)}", headers=b), 404)
    assert ids(client.get("/v1/alerts", params={"vehicle": vin(1)}, headers=b)) == []
    # nothing was acknowledged on A's side
    items = client.get("/v1/alerts", headers=auth(world.key_a)).json()["items"]
    assert [i["state"] for i in items] == ["acknowledged", "new", "new"]
    # the same holds the other way round
    a = auth(world.key_a)
    assert client.post("/v1/alerts/B-1/ack", headers=a).text in ack_bodies
    assert client.get(f"/v1/vehicles/{vin(3)}", headers=a).text in vehicle_bodies


def walk(client: TestClient, key: str, limit: int, between: Any = None) -> list[list[str]]:
    pages: list[list[str]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": limit, "vehicle": vin(10)}
        if cursor is not None:
            params["cursor"] = cursor
        body = client.get("/v1/alerts", params=params, headers=auth(key)).json()
        pages.append([i["alert_id"] for i in body["items"]])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages
        if between is not None:
            between(len(pages))


def test_pages_return_each_alert_once_even_with_new_alerts_between_pages(
    client: TestClient, world: World
) -> None:
    with world.connect() as conn:
        add_vehicle(conn, vin(10), "DLR-A")
        with conn.transaction():
            for n in range(230):
                # pairs of alerts share a created_ts: the alert id breaks the tie
                add_alert(conn, f"P-{n:03d}", vin(10), "DLR-A", T0 + timedelta(minutes=n // 2))
    everything = {f"P-{n:03d}" for n in range(230)}

    pages = walk(client, world.key_a, 1000)
    assert [len(p) for p in pages] == [200, 30]  # the limit is capped at 200
    flat = [i for p in pages for i in p]
    assert len(flat) == len(set(flat)) == 230 and set(flat) == everything
    assert flat == sorted(flat, reverse=True)

    extra = iter(range(10_000))

    def insert_newer(_: int) -> None:
        with world.connect() as conn:
            for _ in range(7):
                n = next(extra)
                add_alert(conn, f"Q-{n:04d}", vin(10), "DLR-A", T0 + timedelta(days=10, minutes=n))

    pages = walk(client, world.key_a, 40, insert_newer)
    flat = [i for p in pages for i in p]
    assert [len(p) for p in pages] == [40] * 5 + [30]
    assert len(flat) == len(set(flat)) == 230 and set(flat) == everything


def test_a_rotated_key_stops_at_once(client: TestClient, world: World) -> None:
    old = auth(world.key_a)
    assert client.get("/v1/alerts", headers=old).status_code == 200
    with world.connect() as conn:
        second = add_dealer(conn, "DLR-A", None).key
        made, revoked = rotate_key(conn, "DLR-A")
    assert revoked == 2
    assert_problem(client.get("/v1/alerts", headers=old), 401)
    assert_problem(client.get("/v1/alerts", headers=auth(second)), 401)
    assert ids(client.get("/v1/alerts", headers=auth(made.key)))[0] == "A-ack"
    assert client.get("/v1/alerts", headers=auth(world.key_b)).status_code == 200


def test_the_rate_limit_answers_429_with_retry_after(world: World) -> None:
    with TestClient(create_app(world.settings, rate_per_second=0.05, burst=3)) as client:
        a = auth(world.key_a)
        assert [client.get("/v1/alerts", headers=a).status_code for _ in range(3)] == [200] * 3
        limited = client.get("/v1/alerts", headers=a)
        assert_problem(limited, 429)
        assert 1 <= int(limited.headers["retry-after"]) <= 20
        assert client.get("/v1/alerts", headers=auth(world.key_b)).status_code == 200


def seed_vehicle_view(world: World) -> None:
    with world.connect() as conn:
        conn.execute(
            "INSERT INTO vehicle_state (vin, dealer_id, as_of_ts, odometer_m, usage, warranty,"
            " service, equity, predicted_as_of_ts) VALUES (%s, 'DLR-A', %s, 42000000, %s, %s,"
            " %s, %s, %s)",
            (vin(1), T0, Jsonb({"km_per_day": 40.0, "location": {"latitude": 1.0},
                                "last_latitude": 2}),
             Jsonb([{"coverage": "basic", "days_remaining": 30}]),
             Jsonb({"due_p50": "2026-04-02", "currency": "USD", "bill_expected": 310.0,
                    "items": [{"kind": "scheduled", "expected": 310.0, "lat": 5}]}),
             Jsonb({"currency": "USD", "equity_expected": 4200.0}), T0),
        )  # fmt: skip
        for n in range(120):
            gate = "equity_positive" if n % 10 == 0 else "service_due"
            conn.execute(
                "INSERT INTO journey_events (event_id, vin, dealer_id, at_ts, event, gate,"
                " detail, figures, cause_id) VALUES (%s, %s, 'DLR-A', %s, 'entered', %s, '',"
                " %s, 'test')",
                (f"e{n:03d}", vin(1), T0 + timedelta(hours=n), gate,
                 Jsonb({"days": n, "longitude_deg": 8.5})),
            )  # fmt: skip
        conn.execute(
            "INSERT INTO journey_events (event_id, vin, dealer_id, at_ts, event, detail, cause_id)"
            " VALUES ('other', %s, 'DLR-OLD', %s, 'visit', 'at DLR-OLD', 'test')",
            (vin(1), T0 + timedelta(days=30)),
        )


def keys_of(value: Any) -> set[str]:
    if isinstance(value, dict):
        return {str(k).lower() for k in value} | {k for v in value.values() for k in keys_of(v)}
    if isinstance(value, list):
        return {k for v in value for k in keys_of(v)}
    return set()


def test_the_vehicle_view_without_marketing_consent_has_no_equity(
    client: TestClient, world: World
) -> None:
    seed_vehicle_view(world)
    response = client.get(f"/v1/vehicles/{vin(1)}", headers=auth(world.key_a))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["vin"] == vin(1)
    assert body["registry"] == {"brand": "Honda", "model": "Accord", "model_year": 2023,
                                "powertrain": "ice", "delivery_date": "2023-04-01",
                                "market": "US", "currency": "USD"}  # fmt: skip
    assert body["consent"] == {"service_reminders": True, "marketing_offers": False,
                               "location": False}  # fmt: skip
    predictions = body["predictions"]
    assert "equity" not in predictions
    assert predictions["service"]["bill_expected"] == 310.0
    assert predictions["warranty"][0]["coverage"] == "basic"
    assert predictions["usage"]["km_per_day"] == 40.0
    timeline = body["timeline"]
    assert all(e["gate"] != "equity_positive" for e in timeline)
    assert [e["event_id"] for e in timeline] == [
        f"e{n:03d}" for n in range(119, 19, -1) if n % 10
    ]  # the newest 100, of this dealer only, less the marketing gate's
    assert "equity" not in response.text.lower()
    served = {k for part in ("predictions", "timeline") for k in keys_of(body[part])}
    assert not served & set(LOCATION_WORDS)
    assert "latitude" not in response.text and "longitude" not in response.text


def test_the_vehicle_view_with_marketing_consent_has_equity(
    client: TestClient, world: World
) -> None:
    seed_vehicle_view(world)
    with world.connect() as conn:
        consent(conn, vin(1), "marketing_offers", True, 0)
    body = client.get(f"/v1/vehicles/{vin(1)}", headers=auth(world.key_a)).json()
    assert body["predictions"]["equity"] == {"currency": "USD", "equity_expected": 4200.0}
    assert len(body["timeline"]) == 100
    assert body["timeline"][0]["event_id"] == "e119"
    assert body["timeline"][0]["at_ts"] == "2026-03-05T23:00:00Z"
    assert body["predictions"]["as_of_ts"] == "2026-03-01T00:00:00Z"
    assert any(e["gate"] == "equity_positive" for e in body["timeline"])
    served = {k for part in ("predictions", "timeline") for k in keys_of(body[part])}
    assert not served & set(LOCATION_WORDS)
    # a later withdrawal takes equity away at once
    with world.connect() as conn:
        consent(conn, vin(1), "marketing_offers", False, 1)
    body = client.get(f"/v1/vehicles/{vin(1)}", headers=auth(world.key_a)).json()
    assert "equity" not in body["predictions"]


def test_the_newest_position_is_served_only_under_location_consent(
    client: TestClient, world: World
) -> None:
    with world.connect() as conn:
        for seq, (day, lat, lon) in enumerate(
            [(0, 52.52, 13.40), (1, 48.14, 11.58), (2, None, None)]
        ):
            conn.execute(
                "INSERT INTO telemetry (vin, boot_id, seq, sample_idx, event_ts, ingest_ts,"
                " latitude_deg, longitude_deg) VALUES (%s, 'b', %s, 0, %s, %s, %s, %s)",
                (vin(1), seq, T0 + timedelta(days=day), T0 + timedelta(days=day), lat, lon),
            )
    url = f"/v1/vehicles/{vin(1)}"
    body = client.get(url, headers=auth(world.key_a)).json()
    assert body["consent"]["location"] is False and body["location"] is None
    assert "48.14" not in str(body) and "52.52" not in str(body)

    with world.connect() as conn:
        consent(conn, vin(1), "location", True, 0)
    body = client.get(url, headers=auth(world.key_a)).json()
    assert body["location"] == {  # the newest sample that has a position
        "event_ts": "2026-03-02T00:00:00Z", "latitude_deg": 48.14, "longitude_deg": 11.58,
    }  # fmt: skip
    served = {k for part in ("predictions", "timeline") for k in keys_of(body[part])}
    assert not served & set(LOCATION_WORDS)  # nowhere else
    assert_problem(client.get(url, headers=auth(world.key_b)), 404)  # not the other dealer's

    with world.connect() as conn:  # a withdrawal takes it away at once
        consent(conn, vin(1), "location", False, 1)
    assert client.get(url, headers=auth(world.key_a)).json()["location"] is None


def test_a_vehicle_without_predictions_and_the_openapi_document(
    client: TestClient, world: World
) -> None:
    body = client.get(f"/v1/vehicles/{vin(2)}", headers=auth(world.key_a)).json()
    assert body["predictions"] is None and body["timeline"] == []
    doc = client.get("/openapi.json").json()
    assert {"/v1/alerts", "/v1/alerts/{alert_id}/ack", "/v1/vehicles/{vin}"} <= set(doc["paths"])
    assert_problem(client.get("/v1/nothing-here"), 404)

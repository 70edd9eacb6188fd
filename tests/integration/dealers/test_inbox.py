"""The dealer inbox page (``/inbox``) against a real PostgreSQL, without a browser: signing in by
key sets a strict HttpOnly session cookie whose token is stored only hashed; a bad key is the
form again (401), sign-ins are rate-limited per address; a rotated key or an expired session
ends at once; every state-changing form needs the session's anti-forgery token and the same
origin; the list shows only the dealer's visible alerts, most pressing first, with filters kept
across an acknowledgement; withdrawn consent hides alerts at once; another dealer's ids are the
same 404 and acknowledging them changes nothing; reasons are escaped; the vehicle page has the
chart's data, the warranty timeline and the bill, and no location."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg.types.json import Jsonb
from test_dealer_api import T0, add_alert, add_vehicle, consent, vin
from test_dealer_api import World as ApiWorld

from dealers.api import create_app
from dealers.keys import generate_key
from dealers.store import add_dealer, rotate_key
from kernel.settings import Settings

pytestmark = pytest.mark.integration

XSS = "<script>alert('owned')</script> & \"quotes\""
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
ALERT_IDS = re.compile(r'data-alert-id="([^"]+)"')


@dataclass
class World(ApiWorld):
    def alert_state(self, alert_id: str) -> str:
        with self.connect() as conn:
            row = conn.execute("SELECT state FROM alerts WHERE alert_id = %s", (alert_id,))
            found = row.fetchone()
        assert found is not None
        return str(found[0])


def seed_vehicle(conn: psycopg.Connection[Any], v: str, dealer: str) -> None:
    """A vehicle of ``dealer`` with 60 days of telemetry (40 km a day) and its predictions."""
    add_vehicle(conn, v, dealer)
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO telemetry (vin, boot_id, seq, sample_idx, event_ts, ingest_ts,"
            " odometer_m, latitude_deg, longitude_deg) VALUES (%s, 'b1', %s, 0, %s, %s, %s,"
            " 48.1, 11.6)",
            [
                (v, n * 2 + k, at, at, 40_000_000 + n * 40_000 + k * 10_000)
                for n in range(60)
                for k in (0, 1)
                for at in [T0 - timedelta(days=59 - n) + timedelta(hours=12 + k * 6)]
            ],
        )
    conn.execute(
        "INSERT INTO vehicle_state (vin, dealer_id, as_of_ts, odometer_m, usage, warranty,"
        " service, equity, predicted_as_of_ts) VALUES (%s, %s, %s, 42370000, %s, %s, %s, %s, %s)",
        (v, dealer, T0 - timedelta(hours=6),
         Jsonb({"odometer_m": 42370000, "km_per_day": 40.0, "km_per_day_sd": 2.0,
                "daily_sd_km": 15.0, "history_days": 60, "recent_days": 60,
                "location": {"latitude": 1.0}}),
         Jsonb([{"coverage": "basic", "expiry_p10": "2026-04-01", "expiry_p50": "2026-04-01",
                 "expiry_p90": "2026-04-01", "binds": "time", "days_remaining": 31,
                 "km_remaining": 15000.0, "expired": False, "time_end": "2026-04-01",
                 "limit_km": 60000.0},
                {"coverage": "powertrain", "expiry_p10": "2027-05-01",
                 "expiry_p50": "2027-07-01", "expiry_p90": "2027-09-01", "binds": "distance",
                 "days_remaining": 487, "km_remaining": 19000.0, "expired": False,
                 "time_end": "2028-04-01", "limit_km": 100000.0}]),
         Jsonb({"due_p10": "2026-03-20", "due_p50": "2026-04-02", "due_p90": "2026-04-20",
                "due_date": "2026-04-01", "due_odometer_m": 45000000, "binds": "distance",
                "due_soon": True, "overdue": False, "days_remaining": 32, "km_remaining": 2630.0,
                "forecast_odometer_m": 45000000, "currency": "USD", "bill_low": 250.0,
                "bill_expected": 310.0, "bill_high": 420.5,
                "items": [{"kind": "scheduled", "code": None, "description": "30,000 km service",
                           "low": 200.0, "expected": 250.0, "high": 330.0, "covered": False,
                           "coverage": "none", "reason": "every 15,000 km"},
                          {"kind": "wear", "code": "brake_pads_front",
                           "description": "Front brake pads", "low": 50.0, "expected": 60.0,
                           "high": 90.5, "covered": False, "coverage": "none",
                           "reason": "worn by the following service"}]}),
         Jsonb({"currency": "USD", "equity_expected": 4200.0}), T0 - timedelta(hours=6)),
    )  # fmt: skip


@pytest.fixture
def world(settings: Settings) -> World:
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        key_a = add_dealer(conn, "DLR-A", "Dealer A").key
        key_b = add_dealer(conn, "DLR-B", None).key
        for n, dealer in ((1, "DLR-A"), (2, "DLR-A"), (3, "DLR-B")):
            seed_vehicle(conn, vin(n), dealer)
            consent(conn, vin(n), "service_reminders", True, -100)
        add_alert(conn, "A-low", vin(1), "DLR-A", T0 + timedelta(hours=3), priority=10,
                  severity="low")  # fmt: skip
        add_alert(conn, "A-high", vin(2), "DLR-A", T0, priority=90, severity="high",
                  alert_type="warranty_ending")  # fmt: skip
        add_alert(conn, "A-mid", vin(1), "DLR-A", T0 + timedelta(hours=1))
        add_alert(conn, "A-xss", vin(2), "DLR-A", T0 + timedelta(hours=2), reason=XSS)
        add_alert(conn, "A-ack", vin(1), "DLR-A", T0, state="acknowledged", priority=60)
        add_alert(conn, "A-hidden", vin(2), "DLR-A", T0, state="hidden", priority=100)
        add_alert(conn, "A-expired", vin(1), "DLR-A", T0, state="expired")
        add_alert(conn, "B-1", vin(3), "DLR-B", T0)
    return World(settings, key_a, key_b)


@pytest.fixture
def client(world: World) -> Iterator[TestClient]:
    with TestClient(create_app(world.settings)) as c:
        yield c


def login_token(client: TestClient) -> str:
    form = client.get("/inbox/login")
    assert form.status_code == 200, form.text
    found = CSRF.search(form.text)
    assert found is not None
    return found.group(1)


def sign_in(client: TestClient, key: str) -> httpx.Response:
    answer: httpx.Response = client.post(
        "/inbox/login",
        data={"csrf": login_token(client), "key": key},
        follow_redirects=False,
    )
    return answer


def signed_in(client: TestClient, key: str) -> str:
    """Sign in and return the session's anti-forgery token (from the list page)."""
    done = sign_in(client, key)
    assert done.status_code == 303 and done.headers["location"] == "/inbox", done.text
    page = client.get("/inbox")
    assert page.status_code == 200, page.text
    found = CSRF.search(page.text)
    assert found is not None
    return found.group(1)


def listed(client: TestClient, **params: Any) -> list[str]:
    page = client.get("/inbox", params=params)
    assert page.status_code == 200, page.text
    return ALERT_IDS.findall(page.text)


def test_signing_in_sets_a_strict_http_only_cookie_of_a_token_stored_hashed(
    client: TestClient, world: World
) -> None:
    assert client.get("/inbox", follow_redirects=False).headers["location"] == "/inbox/login"
    form = client.get("/inbox/login")
    assert "default-src 'none'" in form.headers["content-security-policy"]
    assert "script-src 'self'" in form.headers["content-security-policy"]
    login_cookie = form.headers["set-cookie"].lower()
    assert "httponly" in login_cookie and "samesite=strict" in login_cookie
    assert '<meta name="viewport"' in form.text

    done = sign_in(client, world.key_a)
    assert done.status_code == 303, done.text
    cookie = next(c for c in done.headers.get_list("set-cookie") if c.startswith("jg_inbox="))
    flags = [part.strip().lower() for part in cookie.split(";")]
    assert {"httponly", "samesite=strict", "path=/inbox", "max-age=43200"} <= set(flags)
    assert "secure" not in flags  # plain http; https below
    token = cookie.split(";")[0].split("=", 1)[1]
    with world.connect() as conn:
        rows = conn.execute(
            "SELECT token_hash, dealer_id, expires_at - created_at FROM dealer_sessions"
        ).fetchall()
    assert len(rows) == 1
    assert bytes(rows[0][0]) == hashlib.sha256(token.encode()).digest()
    assert rows[0][1] == "DLR-A" and rows[0][2] == timedelta(hours=12)
    page = client.get("/inbox")
    assert page.status_code == 200 and "DLR-A" in page.text
    again = client.get("/inbox/login", follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"] == "/inbox"
    assert page.headers["cache-control"] == "no-store"
    assert token not in page.text

    with TestClient(
        create_app(world.settings, session_lifetime_s=600), base_url="https://testserver"
    ) as secure:
        done = sign_in(secure, world.key_b)
        cookie = next(c for c in done.headers.get_list("set-cookie") if c.startswith("jg_inbox="))
        flags = [part.strip().lower() for part in cookie.split(";")]
        assert "secure" in flags and "max-age=600" in flags
        assert listed(secure) == ["B-1"]


def test_a_bad_key_is_the_form_again_with_401_and_no_session(
    client: TestClient, world: World
) -> None:
    with world.connect() as conn:
        revoked_key = add_dealer(conn, "DLR-C", None).key
        rotate_key(conn, "DLR-C")
    bodies = set()
    for key in ("", "nope", generate_key(), revoked_key, world.key_a + "x"):
        answer = sign_in(client, key)
        assert answer.status_code == 401, answer.text
        assert "That key is not valid." in answer.text
        assert not any(c.startswith("jg_inbox=") for c in answer.headers.get_list("set-cookie"))
        bodies.add(CSRF.sub("", answer.text))
    assert len(bodies) == 1  # an unknown and a revoked key look the same
    assert client.get("/inbox", follow_redirects=False).status_code == 303
    with world.connect() as conn:
        assert conn.execute("SELECT count(*) FROM dealer_sessions").fetchone() == (0,)


def test_sign_ins_are_rate_limited_per_client_address(world: World) -> None:
    with TestClient(create_app(world.settings, rate_per_second=0.05, burst=3)) as client:
        assert [sign_in(client, "nope").status_code for _ in range(3)] == [401] * 3
        limited = sign_in(client, world.key_a)  # even the right key
        assert limited.status_code == 429
        assert 1 <= int(limited.headers["retry-after"]) <= 20
        assert "Too many sign-in attempts" in limited.text
        # the API's own keys keep their buckets
        api = client.get("/v1/alerts", headers={"Authorization": f"Bearer {world.key_a}"})
        assert api.status_code == 200


def test_a_rotated_key_or_an_expired_session_ends_at_once(client: TestClient, world: World) -> None:
    signed_in(client, world.key_a)
    assert listed(client)
    with world.connect() as conn:
        rotate_key(conn, "DLR-A")
    gone = client.get("/inbox", follow_redirects=False)
    assert gone.status_code == 303 and gone.headers["location"] == "/inbox/login"
    assert client.get(f"/inbox/vehicles/{vin(1)}", follow_redirects=False).status_code == 303

    signed_in(client, world.key_b)
    assert listed(client) == ["B-1"]
    with world.connect() as conn:
        conn.execute("UPDATE dealer_sessions SET expires_at = now() - interval '1 second'")
    assert client.get("/inbox", follow_redirects=False).status_code == 303


def test_every_state_changing_form_needs_the_sessions_token_and_the_same_origin(
    client: TestClient, world: World
) -> None:
    csrf = signed_in(client, world.key_a)
    for data, headers in (
        ({}, {}),
        ({"csrf": "x" * 43}, {}),
        ({"csrf": csrf}, {"Origin": "https://evil.example"}),
        ({"csrf": csrf}, {"Sec-Fetch-Site": "cross-site"}),
    ):
        refused = client.post(
            "/inbox/alerts/A-mid/ack", data=data, headers=headers, follow_redirects=False
        )
        assert refused.status_code == 403, refused.text
        assert world.alert_state("A-mid") == "new"
        assert client.post("/inbox/logout", data=data, headers=headers).status_code == 403
    assert listed(client)  # still signed in

    # the sign-in form has its own token, in its own cookie
    client.cookies.clear()
    forged = client.post("/inbox/login", data={"key": world.key_a}, follow_redirects=False)
    assert forged.status_code == 403
    assert not any(c.startswith("jg_inbox=") for c in forged.headers.get_list("set-cookie"))

    csrf = signed_in(client, world.key_a)
    token = client.cookies["jg_inbox"]
    same = {"Origin": str(client.base_url).rstrip("/"), "Sec-Fetch-Site": "same-origin"}
    out = client.post("/inbox/logout", data={"csrf": csrf}, headers=same, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/inbox/login"
    assert client.get("/inbox", follow_redirects=False).status_code == 303
    client.cookies.set("jg_inbox", token, path="/inbox")  # the old cookie, sent again
    assert client.get("/inbox", follow_redirects=False).status_code == 303
    with world.connect() as conn:
        hashes = [bytes(r[0]) for r in conn.execute("SELECT token_hash FROM dealer_sessions")]
    assert hashlib.sha256(token.encode()).digest() not in hashes


def test_the_list_is_by_priority_with_filters_kept_across_an_acknowledgement(
    client: TestClient, world: World
) -> None:
    csrf = signed_in(client, world.key_a)
    assert listed(client) == ["A-high", "A-ack", "A-xss", "A-mid", "A-low"]
    assert listed(client, state="expired") == ["A-expired"]
    assert listed(client, type="warranty_ending") == ["A-high"]
    assert listed(client, vehicle=vin(1).lower()) == ["A-ack", "A-mid", "A-low"]
    assert listed(client, vehicle=vin(3)) == []
    page = client.get("/inbox").text
    assert "book it" in page and "days to service: 12 days" in page
    assert page.count(">Acknowledge</button>") == 4  # not the acknowledged one

    filters = {"state": "new", "vehicle": vin(1)}
    done = client.post(
        "/inbox/alerts/A-mid/ack", data={"csrf": csrf, **filters}, follow_redirects=False
    )
    assert done.status_code == 303, done.text
    assert done.headers["location"] == f"/inbox?state=new&vehicle={vin(1)}"
    assert world.alert_state("A-mid") == "acknowledged"
    assert listed(client, state="new", vehicle=vin(1)) == ["A-low"]
    again = client.post("/inbox/alerts/A-mid/ack", data={"csrf": csrf}, follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"] == "/inbox"
    expired = client.post("/inbox/alerts/A-expired/ack", data={"csrf": csrf})
    assert expired.status_code == 404 and world.alert_state("A-expired") == "expired"


def test_withdrawn_consent_hides_alerts_from_the_inbox_at_once(
    client: TestClient, world: World
) -> None:
    csrf = signed_in(client, world.key_a)
    assert "A-xss" in listed(client)
    with world.connect() as conn:
        consent(conn, vin(2), "service_reminders", False, 1)
    everything = [("state", s) for s in ("new", "acknowledged", "expired")]
    page = client.get("/inbox", params=everything)
    assert ALERT_IDS.findall(page.text) == ["A-ack", "A-mid", "A-expired", "A-low"]
    assert client.post("/inbox/alerts/A-xss/ack", data={"csrf": csrf}).status_code == 404
    assert world.alert_state("A-xss") == "new"


def test_another_dealers_vehicles_and_alerts_are_the_same_404_and_change_nothing(
    client: TestClient, world: World
) -> None:
    csrf = signed_in(client, world.key_b)
    missing = [client.get(f"/inbox/vehicles/{v}") for v in (vin(1), vin(2), vin(999), "X")]
    assert {r.status_code for r in missing} == {404}
    assert len({r.text for r in missing}) == 1
    assert "No vehicle with this VIN is available to this dealer." in missing[0].text
    acks = [
        client.post(f"/inbox/alerts/{a}/ack", data={"csrf": csrf})
        for a in ("A-mid", "A-hidden", "no-such-alert")
    ]
    assert {r.status_code for r in acks} == {404} and len({r.text for r in acks}) == 1
    assert world.alert_state("A-mid") == "new"
    assert client.get(f"/inbox/vehicles/{vin(3)}").status_code == 200


def test_reasons_and_other_texts_are_escaped(client: TestClient, world: World) -> None:
    signed_in(client, world.key_a)
    page = client.get("/inbox").text
    assert "<script" not in page
    assert "&lt;script&gt;alert(&#39;owned&#39;)&lt;/script&gt; &amp; &#34;quotes&#34;" in page
    with world.connect() as conn:
        conn.execute("UPDATE vehicles SET model = %s WHERE vin = %s", ("</script><b>x</b>", vin(1)))
    vehicle = client.get(f"/inbox/vehicles/{vin(1)}").text
    assert "</script><b>" not in vehicle and "&lt;/script&gt;&lt;b&gt;x&lt;/b&gt;" in vehicle


def chart_of(html: str) -> dict[str, list[Any]]:
    found = re.search(
        r'<script type="application/json" id="odometer-data">(.*?)</script>', html, re.S
    )
    assert found is not None
    data: dict[str, list[Any]] = json.loads(found.group(1))
    return data


def test_the_vehicle_page_has_the_chart_data_warranty_and_bill_and_no_location(
    client: TestClient, world: World
) -> None:
    signed_in(client, world.key_a)
    response = client.get(f"/inbox/vehicles/{vin(1)}")
    assert response.status_code == 200, response.text
    page = response.text
    chart = chart_of(page)
    assert set(chart) == {"x", "odometer_km", "p10_km", "p50_km", "p90_km"}
    assert len(chart["x"]) == len(set(chart["x"])) == 60 + 121
    assert chart["x"] == sorted(chart["x"])
    history = [(x, km) for x, km in zip(chart["x"], chart["odometer_km"], strict=True) if km]
    assert len(history) == 60
    # each day's last reading, at 00:00 UTC of its day
    first_day = datetime.fromtimestamp(history[0][0], UTC)
    assert first_day == datetime(2026, 1, 1, tzinfo=UTC) and history[0][1] == 40_010.0
    assert history[-1][1] == 40_000 + 59 * 40 + 10
    forecast = [
        (p10, p50, p90)
        for p10, p50, p90 in zip(chart["p10_km"], chart["p50_km"], chart["p90_km"], strict=True)
        if p50 is not None
    ]
    assert forecast[0] == (42_370.0, 42_370.0, 42_370.0)
    assert forecast[-1][0] < forecast[-1][1] < forecast[-1][2]
    assert forecast[-1][1] == pytest.approx(42_370 + 40 * 120, abs=0.2)
    # the scripts are files of the site, the chart's data a JSON block
    scripts = re.findall(r"<script([^>]*)>", page)
    assert scripts == [
        ' type="application/json" id="odometer-data"',
        ' src="/inbox/static/vendor/uplot/uPlot.iife.min.js"',
        ' src="/inbox/static/inbox.js"',
    ]
    # the warranty timeline: basic binds by time, its distance date forecast from usage
    assert "2023-04-01" in page and "2026-04-01" in page and "60,000 km" in page
    expected_day = (T0 - timedelta(hours=6) + timedelta(days=15000 / 40)).date()
    assert abs((expected_day - date(2027, 3, 10)).days) <= 1
    assert expected_day.isoformat() in page
    assert "2027-07-01" in page and "2027-05-01 \u2013 2027-09-01" in page
    # the bill, line by line, with its currency
    for text in ("Front brake pads", "brake_pads_front", "250.00", "310.00", "420.50", "USD"):
        assert text in page
    assert "equity" not in page.lower() and "4,200" not in page
    for word in ("latitude", "longitude", "location"):
        assert word not in page.lower()
    for path in ("/inbox/static/inbox.js", "/inbox/static/vendor/uplot/uPlot.iife.min.js",
                 "/inbox/static/vendor/uplot/uPlot.min.css", "/inbox/static/inbox.css",
                 "/inbox/static/vendor/uplot/LICENSE"):  # fmt: skip
        static = client.get(path)
        assert static.status_code == 200, path
        assert "content-security-policy" in static.headers

    bare = client.get(f"/inbox/vehicles/{vin(2)}")
    assert bare.status_code == 200
    with world.connect() as conn:
        conn.execute("DELETE FROM vehicle_state")
        conn.execute("DELETE FROM telemetry")
    empty = client.get(f"/inbox/vehicles/{vin(2)}")
    assert empty.status_code == 200
    assert "No odometer reading yet." in empty.text and "odometer-data" not in empty.text
    assert "<script" not in empty.text


def test_the_inbox_is_not_in_the_api_schema(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert paths and all(p.startswith("/v1/") for p in paths)

"""``GET /v1/alerts/stream`` over real HTTP (uvicorn) against a real PostgreSQL: a dealer gets
only its own visible alerts, in stored order, each once; a reconnection with the last event id
gets exactly the alerts stored since; an alert committed late (stored earlier than one already
sent) still arrives, once; bad ids and missing keys are problems."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import psycopg
import pytest
import uvicorn
from psycopg.types.json import Jsonb

from dealers.api import create_app
from dealers.cursor import encode_cursor
from dealers.store import add_dealer
from dealers.stream import StreamOptions
from journeygate.embedded.procs import free_port
from kernel.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

T0 = datetime(2026, 3, 1, tzinfo=UTC)
OPTIONS = StreamOptions(poll_s=0.05, keepalive_s=0.2, overlap_s=5.0)
PATH = "/v1/alerts/stream"


def vin(n: int) -> str:
    return f"1HGCM82633A{n:06d}"


@dataclass
class Api:
    base: str
    settings: Settings
    key_a: str
    key_b: str

    def db(self) -> psycopg.Connection[tuple[Any, ...]]:
        return psycopg.connect(self.settings.database_url, autocommit=True)

    def alert(
        self,
        alert_id: str,
        *,
        dealer: str = "DLR-A",
        n: int = 1,
        state: str = "new",
        stored_at: datetime | None = None,
    ) -> None:
        """Insert an alert in its own transaction (stored_at: now(), unless given)."""
        with self.db() as conn:
            conn.execute(
                "INSERT INTO alerts (alert_id, episode_id, vin, dealer_id, alert_type, stage,"
                " purpose, severity, priority, created_ts, expires_ts, reason, action, figures,"
                " state, stored_at) VALUES (%s, %s, %s, %s, 'service_due', 'early', 'service',"
                " 'medium', 50, %s, %s, 'due soon', 'book it', %s, %s, COALESCE(%s, now()))",
                (alert_id, f"{alert_id}:ep", vin(n), dealer, T0, T0 + timedelta(days=30),
                 Jsonb([{"name": "days", "value": 12, "unit": "days"}]), state, stored_at),
            )  # fmt: skip


@pytest.fixture
def api(settings: Settings) -> Iterator[Api]:
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        key_a = add_dealer(conn, "DLR-A", None).key
        key_b = add_dealer(conn, "DLR-B", None).key
        for n, dealer in ((1, "DLR-A"), (2, "DLR-A"), (3, "DLR-B")):
            conn.execute(
                "INSERT INTO vehicles (vin, brand, model, model_year, powertrain, delivery_date,"
                " dealer_id, market, currency) VALUES (%s, 'Honda', 'Accord', 2023, 'ice',"
                " '2023-04-01', %s, 'US', 'USD')",
                (vin(n), dealer),
            )
            conn.execute(
                "INSERT INTO consent_changes (vin, purpose, granted, changed_at, source)"
                " VALUES (%s, 'service_reminders', true, %s, 'test')",
                (vin(n), T0 - timedelta(days=100)),
            )
    port = free_port()
    config = uvicorn.Config(
        create_app(settings, stream=OPTIONS),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the API did not start"
        time.sleep(0.02)
    try:
        yield Api(f"http://127.0.0.1:{port}", settings, key_a, key_b)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@dataclass
class Event:
    event: str
    id: str | None
    data: dict[str, Any]


@dataclass
class Stream:
    """A connected stream; :meth:`take` reads events (comments are counted, not returned)."""

    response: httpx.Response
    lines: Iterator[str]
    comments: list[str] = field(default_factory=list)

    def next_event(self, timeout: float) -> Event | None:
        """The next event, or None when ``timeout`` passes first (keep-alives wake us up)."""
        deadline = time.monotonic() + timeout
        fields: dict[str, str] = {}
        for line in self.lines:
            if line.startswith(":"):
                self.comments.append(line)
            elif line == "":
                if "data" in fields:
                    return Event(fields.get("event", "message"), fields.get("id"),
                                 orjson.loads(fields["data"]))  # fmt: skip
                fields = {}
            else:
                name, _, value = line.partition(":")
                fields[name] = value.removeprefix(" ")
            if not fields and time.monotonic() > deadline:
                return None
        raise AssertionError("the stream ended")

    def take(self, count: int, timeout: float = 5.0) -> list[Event]:
        got: list[Event] = []
        deadline = time.monotonic() + timeout
        while len(got) < count:
            event = self.next_event(max(0.0, deadline - time.monotonic()))
            assert event is not None, f"only {[e.data['alert_id'] for e in got]} arrived"
            got.append(event)
        return got

    def quiet(self, seconds: float = 0.6) -> None:
        """Nothing but keep-alives for ``seconds``."""
        event = self.next_event(seconds)
        assert event is None, f"unexpected {event}"


def ids(events: list[Event]) -> list[str]:
    return [e.data["alert_id"] for e in events]


@pytest.fixture
def http(api: Api) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api.base, timeout=httpx.Timeout(5.0)) as client:
        yield client


class open_stream:
    """``with open_stream(http, key, ...) as s``: connected once the stream's start is taken."""

    def __init__(self, http: httpx.Client, key: str, **kwargs: Any) -> None:
        headers = {"Authorization": f"Bearer {key}", **kwargs.pop("headers", {})}
        self._cm = http.stream("GET", PATH, headers=headers, **kwargs)

    def __enter__(self) -> Stream:
        response = self._cm.__enter__()
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["x-accel-buffering"] == "no"
        stream = Stream(response, response.iter_lines())
        assert next(stream.lines).startswith("retry: ")
        assert next(stream.lines) == ": stream open"
        return stream

    def __exit__(self, *exc: object) -> None:
        self._cm.__exit__(*exc)


def test_only_the_callers_visible_new_alerts_arrive_in_order_and_resume_exactly(
    api: Api, http: httpx.Client
) -> None:
    api.alert("A-before")  # stored before the stream: not sent
    with open_stream(http, api.key_a) as s:
        api.alert("A-1")
        api.alert("B-1", dealer="DLR-B", n=3)
        api.alert("A-hidden", n=2, state="hidden")
        api.alert("A-2", n=2)
        first = s.take(2)
        assert ids(first) == ["A-1", "A-2"]
        assert all(e.event == "alert" and e.id for e in first)
        assert first[0].id != first[1].id
        assert first[0].data["created_ts"] == "2026-03-01T00:00:00Z"
        assert set(first[0].data) == {
            "alert_id", "vin", "alert_type", "subject", "stage", "purpose", "severity",
            "priority", "created_ts", "expires_ts", "reason", "action", "figures", "state",
            "acknowledged_at",
        }  # fmt: skip
        s.quiet()
        assert ": keep-alive" in s.comments
        last = first[-1].id
    assert last is not None
    # while disconnected
    api.alert("A-3")
    api.alert("A-hidden-2", state="hidden")
    api.alert("B-2", dealer="DLR-B", n=3)
    api.alert("A-4", n=2)
    with open_stream(http, api.key_a, headers={"Last-Event-ID": last}) as s:
        again = s.take(2)
        assert ids(again) == ["A-3", "A-4"]
        s.quiet()
        api.alert("A-5")
        assert ids(s.take(1)) == ["A-5"]
    # the query parameter does the same; the header wins over it
    with open_stream(http, api.key_a, params={"last_event_id": last}) as s:
        assert ids(s.take(3)) == ["A-3", "A-4", "A-5"]
        s.quiet()
    with open_stream(http, api.key_a, params={"last_event_id": last},
                     headers={"Last-Event-ID": again[-1].id or ""}) as s:  # fmt: skip
        assert ids(s.take(1)) == ["A-5"]
    with open_stream(http, api.key_b) as s:
        api.alert("B-3", dealer="DLR-B", n=3)
        api.alert("A-6")
        assert ids(s.take(1)) == ["B-3"]
        s.quiet()


def test_since_starts_with_the_alerts_stored_from_then(api: Api, http: httpx.Client) -> None:
    now = datetime.now(UTC)
    api.alert("A-old", stored_at=now - timedelta(hours=1))
    api.alert("A-1", stored_at=now - timedelta(minutes=2))
    api.alert("A-withdrawn", n=2, stored_at=now - timedelta(minutes=1))
    api.alert("A-2")
    with api.db() as conn:  # the registry shows the consent withdrawn, not yet hidden
        conn.execute(
            "INSERT INTO consent_changes (vin, purpose, granted, changed_at, source)"
            " VALUES (%s, 'service_reminders', false, %s, 'test')",
            (vin(2), T0),
        )
    since = (now - timedelta(minutes=30)).isoformat()
    with open_stream(http, api.key_a, params={"since": since}) as s:
        assert ids(s.take(2)) == ["A-1", "A-2"]
        s.quiet()


def test_a_late_commit_within_the_overlap_is_sent_once(api: Api, http: httpx.Client) -> None:
    with open_stream(http, api.key_a) as s:
        api.alert("A-1")
        [sent] = s.take(1)
        # a transaction that started 2 s ago commits only now: its position is below A-1's
        api.alert("A-late", stored_at=datetime.now(UTC) - timedelta(seconds=2))
        [late] = s.take(1)
        assert late.data["alert_id"] == "A-late"
        s.quiet(1.0)
        api.alert("A-2")
        assert ids(s.take(1)) == ["A-2"]
        s.quiet()
    # the late alert's id stands for the greatest position sent (A-1's): resuming from it
    # repeats nothing
    assert late.id == sent.id
    with open_stream(http, api.key_a, headers={"Last-Event-ID": late.id or ""}) as s:
        assert ids(s.take(1)) == ["A-2"]
        s.quiet()


def test_alerts_committed_just_before_the_stream_are_not_sent(api: Api, http: httpx.Client) -> None:
    api.alert("A-recent")  # within the overlap window, but committed before the connection
    with open_stream(http, api.key_a) as s:
        api.alert("A-1")
        assert ids(s.take(1)) == ["A-1"]
        s.quiet()


def test_bad_event_ids_and_missing_keys_are_problems(api: Api, http: httpx.Client) -> None:
    a = {"Authorization": f"Bearer {api.key_a}"}
    cursor = encode_cursor(T0, "A-1")  # a page cursor is not an event id
    for headers, params in (({"Last-Event-ID": "garbage"}, {}), ({"Last-Event-ID": cursor}, {}),
                            ({}, {"last_event_id": "%%%"}), ({}, {"since": "2026-03-01"}),
                            ({}, {"since": "yesterday"})):  # fmt: skip
        response = http.get(PATH, headers={**a, **headers}, params=params)
        assert response.status_code == 400, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        body = response.json()
        assert body["status"] == 400 and api.key_a not in body["detail"]
    assert "Last-Event-ID" in http.get(PATH, headers={**a, "Last-Event-ID": "x"}).json()["detail"]
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic eDp5"}):
        response = http.get(PATH, headers=headers)
        assert response.status_code == 401, response.text
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert response.headers["content-type"].startswith("application/problem+json")


def test_the_stream_lets_go_of_its_connection_when_the_client_leaves(
    api: Api, http: httpx.Client
) -> None:
    def backends() -> int:
        with api.db() as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).fetchone()
        assert row is not None
        return int(row[0])

    # the requests' pool holds its connections; the stream opens one of its own
    warm = http.get("/v1/alerts", headers={"Authorization": f"Bearer {api.key_a}"})
    assert warm.status_code == 200
    idle = backends()
    with open_stream(http, api.key_a) as s:
        s.quiet(0.3)
        assert backends() == idle + 1
    deadline = time.monotonic() + 5
    while backends() != idle:
        assert time.monotonic() < deadline, "the stream kept its connection"
        time.sleep(0.05)

"""The predictions' and the dealer alerts' accuracy, proven through the real pipeline on one
seeded fleet.

500 vehicles publish 60 days of telemetry (with every device and network fault of the built-in
scenario) through MQTT, the bridge, the normalizer, the store writer, the signals processor and
the journey processor; the simulator keeps a 180-day hidden future (the predictions look up to
180 days ahead, the gates' windows at most 60). The fleet runs once (a module fixture) and two
sets of assertions read it:

- ``journeygate score`` compares what the store predicts at the end of the period with that
  future, beside the naive and oracle forecasters (docs/signals.md, "Accuracy");
- ``journeygate score-alerts`` compares the alerts with the truth (docs/journey.md, "Measured
  against the truth");
- five dealers, given API keys and a webhook before the run, get exactly their alerts through
  the HTTP API and, signed, through the webhook sender (docs/api.md).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
import pytest
import uvicorn
from fastapi.testclient import TestClient
from pipeline_kit import stage_env, start_pipeline
from psycopg import sql

from dealers.api import create_app
from dealers.store import add_dealer
from dealers.webhooks import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    SenderOptions,
    run_sender,
    set_webhook,
    verify_signature,
)
from journeygate.demo_alerts import journey_caught_up
from journeygate.embedded.procs import free_port
from journeygate.embedded.stack import StackEndpoints
from kernel.kafka import ensure_topics
from kernel.settings import Settings, load_settings
from processors.signals.fleetshift import MIN_VEHICLES, PartitionShift
from processors.signals.partition import PartitionState
from processors.signals.runner import GROUP as SIGNALS_GROUP

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1500)]

NOW = "2026-06-15T12:00:00Z"
FLEET = ("--vehicles", "500", "--days", "60", "--horizon-days", "180", "--seed", "2027")


def journeygate(settings: Settings, *args: str, timeout_s: float = 600) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "journeygate", *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
        env={**os.environ, **stage_env(settings)},
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def signals_caught_up(settings: Settings, visits: int) -> bool:
    """The signals processor has committed as far into telemetry.frames as the store writer,
    and has stored every published service visit."""
    with psycopg.connect(settings.database_url) as conn:
        stored_visits = conn.execute("SELECT count(*) FROM service_visits").fetchone()
        rows = conn.execute(
            "SELECT consumer_group, kafka_partition, next_offset FROM consumer_offsets"
            " WHERE topic = %s",
            (f"{settings.topic_prefix}telemetry.frames",),
        ).fetchall()
    store = {p: o for g, p, o in rows if g == settings.topic("journeygate-store")}
    signals = {p: o for g, p, o in rows if g == settings.topic("journeygate-signals")}
    caught_up = bool(store) and all(signals.get(p, -1) >= o for p, o in store.items())
    return caught_up and stored_visits is not None and stored_visits[0] >= visits


DEALERS = tuple(f"DLR-{n:03d}" for n in range(1, 6))
"""Dealers with an API key and a webhook set before the fleet runs."""


class WebhookInbox:
    """A local webhook receiver: every request's delivery id, signature and body."""

    def __init__(self) -> None:
        self.received: list[tuple[str, str, bytes]] = []
        inbox = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                inbox.received.append(
                    (self.headers[DELIVERY_HEADER], self.headers[SIGNATURE_HEADER], body)
                )
                self.send_response(204)
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@dataclass(frozen=True, slots=True)
class FleetRun:
    verdict: dict[str, Any]
    predictions: dict[str, Any]
    """``journeygate score --json``."""
    alerts: dict[str, Any]
    """``journeygate score-alerts --json``."""
    funnel: dict[str, Any]
    seconds: float
    settings: Settings
    keys: dict[str, str]
    """API key per dealer of :data:`DEALERS`."""
    secret: str
    inbox: WebhookInbox
    signals_metrics: dict[str, float]
    """The signals processor's Prometheus samples once it caught up."""


def _db_url(url: str, dbname: str) -> str:
    p = urlsplit(url)
    return urlunsplit((p.scheme, p.netloc, f"/{dbname}", p.query, p.fragment))


@pytest.fixture(scope="module")
def fleet_settings(servers: StackEndpoints, template_db: str) -> Iterator[Settings]:
    """Isolated settings for the module's one fleet (the conftest's are per test)."""
    tag = uuid.uuid4().hex[:8]
    dbname = f"jg_fleet_{tag}"
    admin = _db_url(servers.database_url, "postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(dbname), sql.Identifier(template_db)
            )
        )
    try:
        settings = load_settings(
            mqtt_url=servers.mqtt_url,
            kafka_bootstrap=servers.kafka_bootstrap,
            database_url=_db_url(servers.database_url, dbname),
            kafka_idempotence=False,
            kafka_partitions=4,
            topic_prefix=f"f{tag}.",
            mqtt_topic_root=f"f{tag}/vehicles",
            bridge_id=f"bridge-f{tag}",
            kafka_session_timeout_ms=3000,
            kafka_heartbeat_interval_ms=500,
        )
        asyncio.run(ensure_topics(settings))
        yield settings
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname))
            )


@pytest.fixture(scope="module")
def fleet(fleet_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FleetRun]:
    """The fleet through the whole pipeline, every stage caught up, and the three scores."""
    settings = fleet_settings
    root = tmp_path_factory.mktemp("fleet")
    started = time.monotonic()
    pipeline = start_pipeline(settings, root / "logs")
    inbox, secret, keys = WebhookInbox(), "whsec_fleet-test-secret", {}
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        for dealer in DEALERS:
            keys[dealer] = add_dealer(conn, dealer, None).key
            set_webhook(conn, dealer, inbox.url, secret)
    try:
        truth = root / "truth.jsonl"
        journeygate(settings, "simulate", *FLEET, "--now", NOW, "--truth", str(truth))
        verdict = json.loads(
            journeygate(settings, "verify", "--truth", str(truth), "--json", "--wait-s", "240")
        )
        lines = truth.read_bytes().splitlines()
        visits = sum(b'"type":"service_published"' in line for line in lines)
        deadline = time.monotonic() + 600
        while not signals_caught_up(settings, visits):
            pipeline.check_alive()
            assert time.monotonic() < deadline, "the signals processor did not catch up"
            time.sleep(1)
        while not journey_caught_up(settings):
            pipeline.check_alive()
            assert time.monotonic() < deadline, "the journey processor did not catch up"
            time.sleep(1)
        signals_metrics = pipeline.scrape("signals")
        predictions = json.loads(journeygate(settings, "score", "--truth", str(truth), "--json"))
        alerts = json.loads(journeygate(settings, "score-alerts", "--truth", str(truth), "--json"))
        funnel = json.loads(journeygate(settings, "funnel", "--json"))
        deliver_every_webhook(settings.database_url)
        yield FleetRun(
            verdict, predictions, alerts, funnel, time.monotonic() - started, settings, keys,
            secret, inbox, signals_metrics,
        )  # fmt: skip
    finally:
        pipeline.stop_all()
        inbox.server.shutdown()


def deliver_every_webhook(database_url: str) -> None:
    """Run the sender until the outbox has nothing left to deliver (a request that timed out on
    a loaded machine is retried after a short backoff) or a minute has passed."""
    options = SenderOptions(timeout_s=30.0, base_s=0.2, cap_s=1.0)
    deadline = time.monotonic() + 60
    while True:
        asyncio.run(run_sender(database_url, options, asyncio.Event(), once=True))
        with psycopg.connect(database_url) as conn:
            left = conn.execute(
                "SELECT delivery_id, state, attempts, last_error FROM webhook_outbox"
                " WHERE state = 'new'"
            ).fetchall()
        if not left or time.monotonic() > deadline:
            assert not left, left
            return
        time.sleep(0.5)


def test_predictions_beat_the_naive_forecaster_with_calibrated_intervals(
    fleet: FleetRun,
) -> None:
    verdict = fleet.verdict
    assert verdict["passed"], verdict
    doc = fleet.predictions
    print(f"fleet run: {fleet.seconds:.0f} s")
    print(json.dumps(doc, indent=2))  # the figures, kept in the test log

    # What this fleet measures with enough vehicles to mean something. The issue's targets for
    # warranty expiry 31-90 days ahead against the oracle (11 vehicles here), the bill (15 %)
    # and the equity sign (95 %) are not met: docs/signals.md, "Accuracy", gives the figures;
    # the ideal reader (every parameter of the world but each car's own pace) misses the first
    # as well, and the oracle the last.
    assert doc["predicted"] >= 0.95 * doc["vehicles"]
    far = doc["warranty_expiry"]["91-180"]
    assert far["journeygate"]["n"] >= 20, far
    assert far["journeygate"]["median_abs_days"] <= 0.75 * far["naive"]["median_abs_days"], far
    # 31-90 days ahead on every vehicle (the distance each truly drives in 40-85 days)
    distance = doc["distance_31_90"]
    assert distance["journeygate"]["n"] >= 1000, distance
    assert (
        distance["journeygate"]["median_abs_days"] <= 0.75 * distance["naive"]["median_abs_days"]
    ), distance
    # and close to the best the published days allow
    assert (
        distance["journeygate"]["median_abs_days"] <= 1.3 * distance["ideal"]["median_abs_days"]
    ), distance
    due = doc["service_due"]
    assert due["journeygate"]["n"] >= 100, due
    assert due["journeygate"]["median_abs_days"] <= due["naive"]["median_abs_days"], due
    assert due["journeygate"]["p90_abs_days"] <= due["naive"]["p90_abs_days"], due
    # The calibration band on the intervals with a spread; a date known to the day (a time limit,
    # a limit the odometer passed within the usage ring) is inside by right and raises the share
    # of all the dates above what the spread's calibration gives.
    for name in ("warranty", "service"):
        every, spread = (doc["interval_coverage"][k] for k in (name, f"{name}_uncertain"))
        assert spread["n"] >= 20 and every["n"] >= spread["n"], doc["interval_coverage"]
        assert 0.70 <= spread["share"] <= 0.90, doc["interval_coverage"]
        assert every["share"] >= 0.70, doc["interval_coverage"]
    bill = doc["bill_mape_pct"]
    assert bill["journeygate"]["n"] >= 100, bill
    assert bill["journeygate"]["value"] <= 0.5 * bill["naive"]["value"], bill
    # against what could be known at the end of the period (no unrelated repairs, no codes
    # raised later), the forecaster's own error: the items it chose and their prices
    foreseeable = doc["bill_foreseeable_mape_pct"]
    assert foreseeable["journeygate"]["n"] >= 100, foreseeable
    assert foreseeable["journeygate"]["value"] <= 15.0, foreseeable
    equity = doc["equity_sign"]
    assert equity["journeygate"]["n"] >= 100, equity
    assert equity["journeygate"]["share"] >= equity["oracle"]["share"] - 0.05, equity


def test_alerts_match_the_truth_within_budget_and_consent(fleet: FleetRun) -> None:
    doc = fleet.alerts
    funnel = fleet.funnel
    print(json.dumps(doc, indent=2))  # the figures, kept in the test log
    print(json.dumps([g for g in funnel["gates"] if g["dealer_id"] == "*"], indent=2))

    # docs/journey.md, "Measured against the truth", gives the definitions and the last runs.
    for kind in ("warranty_ending", "service_due", "equity_positive"):
        s = doc["scored"][kind]
        assert s["alerts"] >= 10 and s["entered"] >= 20, (kind, s)
        assert s["precision"] >= 0.9, (kind, s)
        assert s["recall"] >= 0.9, (kind, s)
    assert doc["consent_violations"]["count"] == 0, doc["consent_violations"]
    assert doc["contacts"]["max_in_any_window"] <= doc["contacts"]["budget"], doc["contacts"]
    assert doc["contacts"]["owners_over_budget"] == 0, doc["contacts"]
    assert doc["repeated_chases"]["count"] == 0, doc["repeated_chases"]
    assert any(g["entered"] > 0 and g["alerted"] > 0 for g in funnel["gates"])


def test_dealers_get_their_alerts_through_the_api_and_signed_webhooks(fleet: FleetRun) -> None:
    """From simulated telemetry to what a dealer's systems receive: each dealer's API key lists
    exactly its own alerts in force, another dealer's key gets 404 for them, and the webhook
    received each alert raised for the dealer and not hidden since, once, signed."""
    client = TestClient(create_app(fleet.settings))
    with psycopg.connect(fleet.settings.database_url) as conn:
        rows = conn.execute(
            "SELECT alert_id, dealer_id, state FROM alerts WHERE dealer_id = ANY(%s)",
            (list(DEALERS),),
        ).fetchall()
    listed: dict[str, set[str]] = {}
    for dealer in DEALERS:
        auth = {"Authorization": f"Bearer {fleet.keys[dealer]}"}
        ids: list[str] = []
        cursor: str | None = None
        while True:
            params = {"limit": "200", **({"cursor": cursor} if cursor else {})}
            page = client.get("/v1/alerts", params=params, headers=auth)
            assert page.status_code == 200, page.text
            body = page.json()
            ids += [a["alert_id"] for a in body["items"]]
            cursor = body["next_cursor"]
            if not cursor:
                break
        listed[dealer] = set(ids)
        assert len(ids) == len(listed[dealer])
        in_force = {a for a, d, st in rows if d == dealer and st in ("new", "acknowledged")}
        assert listed[dealer] == in_force, dealer
    assert sum(len(v) for v in listed.values()) >= 10, listed
    mine, other = next((d for d in DEALERS if listed[d]), DEALERS[0]), DEALERS[-1]
    alert_id = sorted(listed[mine])[0]
    auth = {"Authorization": f"Bearer {fleet.keys[other if other != mine else DEALERS[0]]}"}
    assert client.post(f"/v1/alerts/{alert_id}/ack", headers=auth).status_code == 404

    delivered = [d for d, _, _ in fleet.inbox.received]
    assert len(delivered) == len(set(delivered))
    assert set(delivered) == {a for a, _, st in rows if st != "hidden"}
    assert all(verify_signature(fleet.secret, b, sig) for _, sig, b in fleet.inbox.received)


def test_a_dealers_stream_from_the_start_sends_exactly_its_visible_alerts_once(
    fleet: FleetRun,
) -> None:
    """The live stream (GET /v1/alerts/stream, served by uvicorn as `journeygate api` serves it),
    started at the epoch, sends each alert the dealer may see (what GET /v1/alerts lists in any
    listed state) once, and nothing else."""
    client = TestClient(create_app(fleet.settings))
    listed: dict[str, set[str]] = {}
    for dealer in DEALERS:
        auth = {"Authorization": f"Bearer {fleet.keys[dealer]}"}
        params = {"limit": "200", "state": ["new", "acknowledged", "expired"]}
        ids: set[str] = set()
        cursor: str | None = None
        while True:
            page = client.get("/v1/alerts", params={**params, "cursor": cursor or []}, headers=auth)
            assert page.status_code == 200, page.text
            ids |= {a["alert_id"] for a in page.json()["items"]}
            cursor = page.json()["next_cursor"]
            if not cursor:
                break
        listed[dealer] = ids
    dealer = max(DEALERS, key=lambda d: len(listed[d]))
    assert listed[dealer], listed

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(fleet.settings), host="127.0.0.1", port=port, log_level="warning",
            timeout_graceful_shutdown=1,
        )
    )  # fmt: skip
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the API did not start"
        time.sleep(0.05)
    got: list[str] = []
    try:
        with (
            httpx.Client(
                base_url=f"http://127.0.0.1:{port}", timeout=httpx.Timeout(5.0, read=3.0)
            ) as http,
            http.stream(
                "GET",
                "/v1/alerts/stream",
                params={"since": "1970-01-01T00:00:00Z"},
                headers={"Authorization": f"Bearer {fleet.keys[dealer]}"},
            ) as response,
        ):
            assert response.status_code == 200
            try:
                for line in response.iter_lines():
                    if line.startswith("data: "):
                        got.append(json.loads(line.removeprefix("data: "))["alert_id"])
                    assert time.monotonic() < deadline + 60, f"{len(got)} still coming"
            except httpx.ReadTimeout:
                pass  # 3 s without a line: it polls every second, keeps alive every 15 s
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    assert len(got) == len(set(got))
    assert set(got) == listed[dealer]


def test_the_fleet_s_usage_shift_is_observed_and_near_its_habit(fleet: FleetRun) -> None:
    """The signals processor's histogram of each evaluation's recent rate over its lifetime rate
    (vehicles with a year behind them): this world has no season the whole fleet shares, so its
    median stays inside the band the JourneygateFleetUsageShift alert watches (0.87-1.15)."""
    name = "journeygate_signals_usage_recent_to_lifetime"
    m = fleet.signals_metrics
    count = m[f"{name}_count"]
    assert count >= 100, count
    bounds = sorted(
        (float(key.split("le=")[1].rstrip("}")), value)
        for key, value in m.items()
        if key.startswith(f"{name}_bucket{{") and "+Inf" not in key
    )
    below = {le: n / count for le, n in bounds}
    assert below[0.87] < 0.5 <= below[1.15], below
    # and no partition takes a shift off its forecasts, though each counts enough vehicles to
    # (the fleet's median within half a bin, 2.5 %, of its habits in every partition)
    with psycopg.connect(fleet.settings.database_url) as conn:
        rows = conn.execute(
            "SELECT kafka_partition, state FROM usage_shift WHERE consumer_group = %s",
            (fleet.settings.topic(SIGNALS_GROUP),),
        ).fetchall()
    assert len(rows) == fleet.settings.kafka_partitions
    for partition, state in rows:
        held = PartitionShift.from_json(state)
        assert held.shift == 0 and held.vehicles >= MIN_VEHICLES, (partition, state)
        # and each pools its vehicles' dealer invoices: most of the fleet's 20 dealers, each
        # from several invoices (docs/signals.md, "A dealer's prices")
        pools = PartitionState.from_json(state).prices.levels()
        assert len(pools) >= 10, (partition, sorted(pools))
        assert sorted(p.lines for p in pools.values())[len(pools) // 2] >= 10, (partition, pools)
        gauges = {
            key.split("{")[0]: value
            for key, value in m.items()
            if key.startswith("journeygate_signals_dealer_price_")
            and key.endswith(f"{{partition={partition}}}")
        }
        assert gauges == {
            "journeygate_signals_dealer_price_lines": sum(p.lines for p in pools.values()),
            "journeygate_signals_dealer_price_dealers": len(pools),
        }, (partition, gauges)

"""The simulator's dealer visits on Kafka and its registry rows, against real servers."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime
from datetime import time as clock
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from aiokafka import TopicPartition

from journeygate.embedded.procs import free_port
from kernel.errors import InfrastructureError
from kernel.kafka import VEHICLE_CONSENT, VEHICLE_SERVICES, make_consumer, start_client
from kernel.settings import Settings
from schemas.consent import ConsentCodec
from schemas.services import ServiceVisitCodec, ServiceVisitRecord
from simulator.runner import plan_for, run_simulation
from simulator.scenario.files import Scenario
from simulator.scenario.params import SimulationParams
from simulator.world.invoices import add_years

pytestmark = pytest.mark.integration

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
# Heavy users (a service every ~2 months), a third of the owners at an independent garage from
# the start, many codes: a small fleet over 20 days has dealer and independent visits.
BUSY = Scenario.model_validate(
    {
        "scenario": {"horizon_days": 60},
        "profiles": {"average": {"annual_km": 100000, "sample_interval_s": 0}},
        "owners": {
            "service": {"on_time": 0.7, "late": 0, "lapsed": 0.3},
            "lapse_after_services": [0, 0],
        },
        "diagnostics": {"rate_factor": 5.0},
        "faults": {"malformed": {"min_each": 0}},
    }
)


def params(truth: Path, **changes: Any) -> SimulationParams:
    values: dict[str, Any] = {
        "scenario": BUSY,
        "vehicles": 10,
        "days": 20,
        "seed": 4,
        "now": NOW,
        "malformed_rate": 0.0,
        "truth_path": truth,
        "acks": "ignore",  # no pipeline acknowledges
    }
    values.update(changes)
    return SimulationParams(**values)


def read_truth(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def read_visits(
    settings: Settings, expected: int, timeout_s: float = 20.0, topic: str | None = None
) -> list[Any]:
    """Every record on vehicle.services (or ``topic``), once at least ``expected`` arrived."""

    async def read() -> list[Any]:
        name = topic or settings.topic(VEHICLE_SERVICES)
        consumer = make_consumer(settings, group_id=f"test-services-{uuid.uuid4().hex[:8]}")
        await start_client(consumer, settings)
        try:
            await consumer.topics()
            tps = [TopicPartition(name, p) for p in consumer.partitions_for_topic(name) or ()]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            records: list[Any] = []
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                batch = await consumer.getmany(*tps, timeout_ms=300)
                for part in batch.values():
                    records.extend(part)
                if len(records) >= expected and not batch:
                    return records
            return records
        finally:
            await consumer.stop()

    return asyncio.run(read())


def service_events(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [x for x in lines if x["type"] == "event" and x["event"] == "service"]


def history_window_ms(header: dict[str, Any]) -> tuple[int, int]:
    """``[since, start)``: the service history the run publishes before its telemetry."""
    start = datetime.fromisoformat(header["start"])
    years = header["scenario"]["publish"]["service_history_years"]
    since = datetime.combine(add_years(start.date(), -years), clock(), UTC)
    return round(since.timestamp() * 1000), round(start.timestamp() * 1000)


def test_dealer_visits_reach_vehicle_services_and_match_the_truth(
    settings: Settings, tmp_path: Path
) -> None:
    truth = tmp_path / "truth.jsonl"
    result = run_simulation(settings, params(truth))
    lines = read_truth(truth)
    assert lines[0]["version"] == 5
    since_ms, start_ms = history_window_ms(lines[0])
    now_ms = round(NOW.timestamp() * 1000)
    services = service_events(lines)
    in_period = [x for x in services if start_ms <= x["ts_ms"] <= now_ms]
    dealer = {x["visit_id"]: x for x in in_period if x["where"] == "dealer"}
    assert len(dealer) >= 2 and any(x["where"] == "independent" for x in in_period)
    before = [x for x in services if x["ts_ms"] < start_ms]
    history = {
        x["visit_id"]: x for x in before if x["where"] == "dealer" and x["ts_ms"] >= since_ms
    }
    # Independent garages and dealer visits older than the window are never published.
    assert len(history) >= 10 and any(x["where"] == "independent" for x in before)
    assert any(x["where"] == "dealer" and x["ts_ms"] < since_ms for x in before)
    published = {x["visit_id"]: x for x in lines if x["type"] == "service_published"}
    assert {k for k, x in published.items() if not x["history"]} == set(dealer)
    assert {k for k, x in published.items() if x["history"]} == set(history)
    assert (result.services_published, result.history_published) == (len(dealer), len(history))
    assert lines[-1]["type"] == "end" and lines[-1]["services_published"] == len(dealer)
    assert lines[-1]["history_published"] == len(history)

    expected = dealer | history
    records = read_visits(settings, len(expected))
    codec = ServiceVisitCodec()
    visits: dict[str, ServiceVisitRecord] = {}
    for rec in records:
        visit = codec.decode(rec.value)
        assert rec.key == visit.vin.encode()
        visits[visit.visit_id] = visit
    assert len(records) == len(expected) and set(visits) == set(expected)
    for visit_id, visit in visits.items():
        event, line = expected[visit_id], published[visit_id]
        assert visit.vin == event["vin"] and visit.dealer_id == event["dealer_id"]
        assert round(visit.visit_ts.timestamp() * 1000) == event["ts_ms"] == line["ts_ms"]
        assert visit.odometer_m == event["odometer_m"] and visit.currency == "USD"
        assert [(i.kind, i.code, i.amount) for i in visit.items] == [
            (i["kind"], i.get("code"), i["cost_usd"]) for i in event["items"]
        ]
        assert visit.invoiced_amount == pytest.approx(event["bill_usd"], abs=0.01)
        assert line["invoiced_amount"] == visit.invoiced_amount
    kinds = {i.kind for v in visits.values() for i in v.items}
    assert {"scheduled", "wear"} <= kinds
    # The future is truth only: nothing of it was published.
    future = [x for x in lines if x["type"] == "future_event" and x["event"] == "service"]
    assert future and not set(x["visit_id"] for x in future) & set(visits)


def test_the_service_history_comes_first_and_each_vehicle_in_time_order(
    settings: Settings, tmp_path: Path
) -> None:
    truth = tmp_path / "truth.jsonl"
    run_simulation(settings, params(truth, seed=9, horizon_days=0))
    lines = read_truth(truth)
    messages = [i for i, x in enumerate(lines) if x["type"] == "message"]
    first_message, last_message = messages[0], messages[-1]
    published = [(i, x) for i, x in enumerate(lines) if x["type"] == "service_published"]
    history = [x for i, x in published if x["history"]]
    period = [x for i, x in published if not x["history"]]
    assert history and period
    # Truth in publish order: the history before the telemetry, the period's visits after it.
    assert all(i < first_message for i, x in published if x["history"])
    assert all(i > last_message for i, x in published if not x["history"])
    _, start_ms = history_window_ms(lines[0])
    assert all(x["ts_ms"] < start_ms for x in history)
    assert all(x["ts_ms"] >= start_ms for x in period)

    records = read_visits(settings, len(published))
    assert len(records) == len(published)
    codec = ServiceVisitCodec()
    where = {x["visit_id"]: x for _, x in published}
    by_vin: dict[str, list[tuple[int, int, bool]]] = {}
    last_history_offset: dict[int, int] = {}
    first_period_offset: dict[int, int] = {}
    for rec in sorted(records, key=lambda r: (r.partition, r.offset)):
        visit = codec.decode(rec.value)
        line = where[visit.visit_id]
        assert (line["partition"], line["offset"]) == (rec.partition, rec.offset)
        ts_ms = round(visit.visit_ts.timestamp() * 1000)
        by_vin.setdefault(visit.vin, []).append((rec.partition, ts_ms, line["history"]))
        if line["history"]:
            last_history_offset[rec.partition] = rec.offset
        else:
            first_period_offset.setdefault(rec.partition, rec.offset)
    # On each partition the whole history precedes the period's visits.
    for partition, offset in first_period_offset.items():
        assert last_history_offset.get(partition, -1) < offset
    # A vehicle's visits sit on one partition in time order, its history first.
    for vin_visits in by_vin.values():
        assert len({p for p, _, _ in vin_visits}) == 1
        times = [ts for _, ts, _ in vin_visits]
        assert times == sorted(set(times))
        flags = [h for _, _, h in vin_visits]
        assert flags == sorted(flags, reverse=True)
    assert sum(1 for v in by_vin.values() if v[0][2] and not v[-1][2]) >= 1


def test_the_registry_carries_finance_and_consent(settings: Settings, tmp_path: Path) -> None:
    truth = tmp_path / "truth.jsonl"
    run_simulation(settings, params(truth, services=False))
    vehicles = {x["vin"]: x for x in read_truth(truth) if x["type"] == "vehicle"}
    with psycopg.connect(settings.database_url) as conn:
        rows = conn.execute(
            "SELECT vin, delivery_odometer_m, dealer_id, market, currency, finance_kind,"
            " finance_amount, finance_apr_pct, finance_term_months, finance_start,"
            " finance_balloon FROM vehicles ORDER BY vin"
        ).fetchall()
        consent = conn.execute(
            "SELECT vin, purpose, granted, changed_at, source FROM consent_changes"
        ).fetchall()
    assert [r[0] for r in rows] == sorted(vehicles)
    for vin, odometer, dealer_id, market, currency, kind, amount, apr, term, start, balloon in rows:
        truth_vehicle = vehicles[vin]
        finance = truth_vehicle["finance"]
        assert odometer == truth_vehicle["delivery_odometer_m"]
        assert dealer_id == truth_vehicle["dealer_id"]
        assert (market, currency, kind) == ("US", "USD", finance["kind"])
        if kind == "cash":
            assert amount is None and term is None
            continue
        assert amount == Decimal(f"{finance['principal_usd']:.2f}")
        assert apr == Decimal(f"{finance['apr_pct']:.3f}") and term == finance["term_months"]
        assert start.isoformat() == finance["start_date"]
        assert balloon == Decimal(f"{finance['balloon_usd']:.2f}")
    assert {r[5] for r in rows} >= {"cash", "loan"}
    granted = {(vin, purpose): (g, at, source) for vin, purpose, g, at, source in consent}
    for vin, truth_vehicle in vehicles.items():
        delivered = datetime.combine(
            datetime.fromisoformat(truth_vehicle["delivery_date"]).date(), clock(), UTC
        )
        for purpose, value in truth_vehicle["consent"].items():
            assert granted[(vin, purpose)] == (value, delivered, "simulator")


def test_services_need_kafka_unless_switched_off(settings: Settings, tmp_path: Path) -> None:
    down = settings.model_copy(update={"kafka_bootstrap": f"127.0.0.1:{free_port()}"})
    with pytest.raises(InfrastructureError, match=r"cannot reach Kafka.*--no-services"):
        run_simulation(down, params(tmp_path / "a.jsonl", vehicles=2, days=1))
    with psycopg.connect(settings.database_url) as conn:
        assert conn.execute("SELECT count(*) FROM vehicles").fetchone() == (0,)
    off = run_simulation(down, params(tmp_path / "b.jsonl", vehicles=2, days=1, services=False))
    assert off.services_published is None and off.messages_published > 0
    assert off.history_published is None
    lines = read_truth(tmp_path / "b.jsonl")
    assert not any(x["type"] == "service_published" for x in lines)
    assert lines[-1]["services_published"] is None and lines[-1]["history_published"] is None
    assert plan_for(settings, params(tmp_path / "c.jsonl")).params.horizon_days == 60


def test_consent_changes_of_the_period_reach_vehicle_consent(
    settings: Settings, tmp_path: Path
) -> None:
    truth = tmp_path / "truth.jsonl"
    fickle = BUSY.model_copy(
        update={"consent": BUSY.consent.model_copy(update={"changes_per_year": 40.0})}
    )
    result = run_simulation(settings, params(truth, scenario=fickle))
    lines = read_truth(truth)
    start_ms = round(datetime.fromisoformat(lines[0]["start"]).timestamp() * 1000)
    now_ms = round(NOW.timestamp() * 1000)
    changes = [
        (x["vin"], x["purpose"], x["granted"], x["ts_ms"])
        for x in lines
        if x["type"] == "event"
        and x["event"] == "consent_change"
        and start_ms < x["ts_ms"] <= now_ms
    ]
    assert len(changes) >= 5, changes
    assert result.consent_published == len(changes) == lines[-1]["consent_published"]
    records = read_visits(settings, len(changes), topic=settings.topic(VEHICLE_CONSENT))
    codec = ConsentCodec()
    got = []
    for rec in records:
        change = codec.decode(rec.value)
        assert rec.key == change.vin.encode() and change.source == "owner-app"
        got.append(
            (
                change.vin,
                change.purpose,
                change.granted,
                round(change.changed_at.timestamp() * 1000),
            )
        )
    assert sorted(got) == sorted(changes)

"""A vehicle's records folded into its memory: visits, codes, quality events, determinism."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import fields, replace
from datetime import UTC, date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from signals_kit import FACTS, VIN

from database.vehicle_facts import VehicleFacts
from processors.signals.calibration import PriceLevel
from processors.signals.dates import datetime_to_ms
from processors.signals.logic import Decoded, VehicleRow, process_batch
from processors.signals.memory import PredictedBill, VehicleMemory
from processors.signals.upkeep import ServicePoint
from processors.signals.vehicle import VehicleRun
from reference.catalog import default_catalog
from schemas.codec import readings_of
from schemas.records import Sample, TelemetryFrame
from schemas.services import ServiceItem, ServiceVisitRecord

CATALOG = default_catalog()
START = datetime(2025, 3, 1, tzinfo=UTC)


def frames(
    days: int,
    *,
    vin: str = VIN,
    km_per_day: float = 40.0,
    codes: dict[int, tuple[str, ...]] | None = None,
    start_km: float = 15_000.0,
    first_day: int = 0,
) -> list[TelemetryFrame]:
    """Two trips a day (08:00 and 17:00), each a frame of two samples, from ``first_day``
    after :data:`START` at ``start_km``; ``codes`` by day."""
    out = []
    odo = start_km * 1000.0
    for day in range(first_day, first_day + days):
        for n, hour in enumerate((8, 17)):
            at = START + timedelta(days=day, hours=hour)
            dtcs = (codes or {}).get(day, ())
            samples = []
            for i in range(2):
                if i:
                    odo += km_per_day / 2 * 1000.0
                samples.append(
                    Sample(i, at + timedelta(minutes=30 * i), odometer_m=round(odo), dtcs=dtcs)
                )
            out.append(TelemetryFrame(vin, "boot", day * 2 + n, at, "bridge", tuple(samples)))
    return out


def visit(
    day: int, odometer_km: float, items: Sequence[ServiceItem], visit_id: str = "inv-1"
) -> ServiceVisitRecord:
    at = START + timedelta(days=day, hours=12)
    return ServiceVisitRecord(
        visit_id, VIN, at, round(odometer_km * 1000), "dealer-7", "USD", tuple(items)
    )


SERVICE_VISIT = [
    ServiceItem("scheduled", None, "scheduled service", 260.0),
    ServiceItem("wear", "cabin_air_filter", "cabin filter", 60.0),
    ServiceItem("repair", "P0420", "catalytic converter", 0.0),
]


def run(
    records_frames: Sequence[TelemetryFrame],
    visits: Sequence[ServiceVisitRecord] = (),
    memory: VehicleMemory | None = None,
    facts: VehicleFacts | None = FACTS,
) -> VehicleRun:
    vehicle = VehicleRun(VIN, memory, facts, CATALOG)
    vehicle.run(visits, [readings_of(f) for f in records_frames])
    return vehicle


def kinds(vehicle: VehicleRun) -> list[str]:
    return [s.kind for s in vehicle.signals]


def test_codes_raised_and_cleared_by_telemetry_are_published() -> None:
    vehicle = run(frames(6, codes={2: ("P0420",), 3: ("P0420",)}))
    faults = [
        (s.signal_id, s.payload.as_json()["event"]) for s in vehicle.signals if s.kind == "fault"
    ]
    raised_at = datetime_to_ms(START + timedelta(days=2, hours=8))
    cleared_at = datetime_to_ms(START + timedelta(days=4, hours=8))
    assert faults == [
        (f"{VIN}:fault:P0420:{raised_at}", "raised"),
        (f"{VIN}:fault:P0420:{cleared_at}", "cleared"),
    ]
    assert vehicle.memory.faults == ()


def test_a_visit_resets_the_schedule_the_wear_items_and_the_codes_it_covered() -> None:
    before = run(frames(20, codes={d: ("P0420",) for d in range(5, 20)}))
    assert before.memory.active_codes == ("P0420",)
    prediction = before.prediction
    assert prediction is not None
    codes = {line.code for line in prediction.service.bill.lines}
    assert {"P0420", "cabin_air_filter"} <= codes
    predicted = before.memory.bill
    assert predicted is not None

    service = visit(20, 15_800.0, SERVICE_VISIT)
    # read ahead of the telemetry: held until a frame reaches its time
    held = run([], [service], memory=before.memory)
    assert held.memory.held == (service,) and held.signals == [] and held.prediction is None
    assert VehicleMemory.from_bytes(held.memory.to_bytes()) == held.memory
    after = run(frames(1, first_day=21, start_km=15_840.0), memory=held.memory)
    m = after.memory
    assert m.held == ()
    at = datetime_to_ms(service.visit_ts)
    assert m.last_service == ServicePoint(at, 15_800_000, "inv-1")
    assert dict((item, (t, o)) for item, t, o in m.wear) == {"cabin_air_filter": (at, 15_800_000)}
    assert m.active_codes == ()
    assert f"{VIN}:fault:P0420:{at}" in [s.signal_id for s in after.signals]
    now = after.prediction  # evaluated at the frame that applied the visit
    assert now is not None
    lines = {line.code: line for line in now.service.bill.lines}
    assert "P0420" not in lines
    assert now.service.due_date == date(2026, 3, 21)  # the visit + 12 months
    # Replaced at 15,800 km: its life now runs from the visit (it is still on the next bill, as
    # it would not last until the service after that). Replaced though it had a little life
    # left by the following service, this car's filters are taken to last less than the usual.
    reason = lines["cabin_air_filter"].reason
    factor = m.upkeep().wear_factors["cabin_air_filter"]
    assert factor < 1.0 and f"last {factor:.0%} of the usual" in reason
    due = date.fromisoformat(reason.split("due by ")[1][:10])
    assert due == service.visit_ts.date() + timedelta(days=round(24 * factor * 365.25 / 12))
    # The invoice is scored against the bill predicted before the visit.
    (error,) = after.bill_errors
    assert (error.visit_id, error.predicted_expected, error.invoiced) == (
        "inv-1",
        predicted.expected,
        320.0,
    )
    assert error.abs_pct_error == round(abs(predicted.expected - 320.0) / 320.0 * 100, 4)


def test_a_newer_sample_still_reporting_a_repaired_code_keeps_it() -> None:
    before = run(frames(20, codes={d: ("P0420",) for d in range(5, 20)}))
    after_visit = run([], [visit(10, 15_400.0, SERVICE_VISIT)], memory=before.memory)
    assert after_visit.memory.active_codes == ("P0420",)  # reported on days 11 to 19


def test_a_sample_older_than_the_visit_cannot_bring_back_what_it_repaired() -> None:
    at = START + timedelta(days=4, hours=8)  # an odometer reading past the visit, no codes
    odometer = TelemetryFrame(VIN, "boot", 0, at, "bridge", (Sample(0, at, 15_160_000),))
    seen = run([odometer])
    cleared = run([], [visit(3, 15_100.0, SERVICE_VISIT)], memory=seen.memory)
    assert cleared.memory.last_service is not None
    late = run(frames(3, codes={2: ("P0420", "P0171")}), memory=cleared.memory)  # buffered
    assert late.memory.active_codes == ("P0171",)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 40), st.integers(0, 40))
def test_a_visit_read_early_gives_what_it_gives_read_on_time(at: int, k: int) -> None:
    """Read ahead of frames older than it (a lagging or replaying processor, the history
    before any telemetry), a visit is held until the telemetry reaches its time: the same
    memory and the same signals as when read just in time."""
    telemetry = frames(20, codes={d: ("P0420",) for d in range(3, 20)})
    service = visit(at // 2, 15_000.0 + 20.0 * at, SERVICE_VISIT)
    in_order = [f for f in telemetry if f.samples[-1].event_ts < service.visit_ts]
    k %= len(in_order) + 1
    before = run(telemetry[:k])
    after = run(telemetry[k:], [service], memory=before.memory)
    first = run(in_order)
    second = run(telemetry[len(in_order) :], [service], memory=first.memory)
    assert after.memory == second.memory
    ids = {s.signal_id for s in before.signals + after.signals}
    assert ids == {s.signal_id for s in first.signals + second.signals}


def test_a_repeated_visit_is_ignored() -> None:
    once = run(frames(3), [visit(3, 15_200.0, SERVICE_VISIT)])
    again = run([], [visit(3, 15_200.0, SERVICE_VISIT)], memory=once.memory)
    assert again.repeated_visits == 1 and again.signals == [] and again.bill_errors == []
    assert again.memory == once.memory


def test_an_unknown_vehicle_gets_one_quality_event_and_no_predictions() -> None:
    first = run(frames(2), facts=None)
    assert kinds(first) == ["quality"]
    assert first.signals[0].signal_id.startswith(f"{VIN}:quality:unknown_vehicle:")
    assert first.prediction is None and first.evaluations == 0
    second = run(frames(2, first_day=2, start_km=15_080.0), memory=first.memory, facts=None)
    assert second.signals == []


def test_an_unknown_model_gets_one_quality_event_and_no_equity() -> None:
    odd = replace(FACTS, model="Prototype")
    vehicle = run(frames(3), facts=odd)
    quality = [s.payload.as_json()["reason"] for s in vehicle.signals if s.kind == "quality"]
    assert quality == ["unknown_model"]
    assert "equity" not in kinds(vehicle) and {"usage", "warranty", "service"} <= set(
        kinds(vehicle)
    )
    again = run(frames(3, first_day=3, start_km=15_120.0), memory=vehicle.memory, facts=odd)
    assert "quality" not in kinds(again)


def test_odometer_anomalies_are_published_once_per_reason_and_day() -> None:
    series = frames(3)
    bad = [
        replace(f, samples=tuple(replace(s, odometer_m=1_000) for s in f.samples))
        for f in series[2:4]  # day 1: both frames read a rollback
    ]
    vehicle = run([*series[:2], *bad])
    quality = [s for s in vehicle.signals if s.kind == "quality"]
    # Three consistent readings over 15 minutes or more become the new baseline.
    assert [q.payload.as_json()["reason"] for q in quality] == ["rollback", "rebaseline"]
    assert vehicle.quality.count("rollback") == 3


def test_memory_round_trips_and_stays_small() -> None:
    vehicle = run(frames(30, codes={29: tuple(f"P0{n:03d}" for n in range(100, 132))}))
    m = vehicle.memory
    data = m.to_bytes()
    assert VehicleMemory.from_bytes(data) == m
    assert len(m.faults) == 32 and len(data) <= 2048
    assert len(VehicleMemory().to_bytes()) < 16


def test_a_frames_memory_is_the_one_replace_would_build() -> None:
    # a memory with every field set: codes, visits (one held back), a bill, published signals
    held = visit(40, 20_000.0, SERVICE_VISIT, visit_id="inv-2")
    vehicle = run(frames(30, codes={12: ("P0420",)}), [visit(6, 15_300.0, SERVICE_VISIT), held])
    m = replace(
        vehicle.memory,
        faults=(("P0171", 7),),
        reported=("unknown_market",),
        quality_days=(("rollback", 3),),
        usage_bin=-2,
        usage_epoch=730,
        usage_shift=3,
        dealer_prices=PriceLevel(40, 2.5),
    )
    assert m.unpooled  # the visit's priced lines, not handed to a partition by a run without one
    empty = VehicleMemory()
    unset = [f.name for f in fields(m) if f.init and getattr(m, f.name) == getattr(empty, f.name)]
    assert unset == [], unset
    m.to_bytes()  # encodes the fields a frame leaves alone once, for every later frame
    usage = m.usage
    assert usage is not None
    later = replace(usage, last_ts_ms=usage.last_ts_ms + 60_000)
    changed = {
        "usage": later,
        "as_of_ms": m.as_of_ms + 1,
        "frames_ms": m.frames_ms + 2,
        "faults": (("P0300", 5),),
        "dtcs_ts_ms": m.dtcs_ts_ms + 3,
    }
    built = m.after_frame(later, m.as_of_ms + 1, m.frames_ms + 2, (("P0300", 5),), m.dtcs_ts_ms + 3)
    assert built == replace(m, **changed)  # type: ignore[arg-type]
    assert built.to_bytes() == replace(m, **changed).to_bytes()  # type: ignore[arg-type]
    assert VehicleMemory.from_bytes(built.to_bytes()) == built
    # an evaluation's memory too, the fields it leaves alone encoded afresh
    bill = PredictedBill(m.as_of_ms, "USD", 1.0, 2.0, 3.0)
    published = replace(m.published, warranty=())
    pool = PriceLevel(41, 2.6)
    evaluated = built.after_evaluation(published, bill, (m.as_of_ms, 42), 4, 731, -1, pool)
    wanted = replace(
        built,
        published=published,
        bill=bill,
        evaluated=(m.as_of_ms, 42),
        usage_bin=4,
        usage_epoch=731,
        usage_shift=-1,
        dealer_prices=pool,
    )
    assert evaluated == wanted
    assert evaluated.to_bytes() == wanted.to_bytes() != built.to_bytes()


def test_a_memory_changed_otherwise_is_encoded_afresh() -> None:
    vehicle = run(frames(30, codes={12: ("P0420",)}), [visit(6, 15_300.0, SERVICE_VISIT)])
    m = vehicle.memory
    before = m.to_bytes()
    for changed in (
        replace(m, last_repairs=("P0300",)),
        replace(m, reported=("unknown_market",)),
        replace(m, evaluated=(m.as_of_ms, 1)),
        replace(m, usage_bin=0),
        replace(m, usage_bin=1, usage_epoch=m.usage_epoch + 1),
        replace(m, dealer_prices=PriceLevel(9, 0.4)),
        replace(m, unpooled=()),
        replace(m, usage_shift=-2),
    ):
        assert changed.to_bytes() != before
        assert VehicleMemory.from_bytes(changed.to_bytes()) == changed


VINS = [VIN, "1M8GDM9AXKP042788", "WVWZZZ1KZ8W000001"]
STREAM = [
    f
    for day_frames in zip(
        frames(12, vin=VINS[0], codes={4: ("P0420",)}),
        frames(12, vin=VINS[1], km_per_day=90.0),
        frames(12, vin=VINS[2], km_per_day=5.0),
        strict=True,
    )
    for f in day_frames
]
VISITS = {6: replace(visit(6, 15_300.0, SERVICE_VISIT), vin=VINS[1])}
FLEET = {vin: replace(FACTS, vin=vin) for vin in VINS[:2]}


def replay(cuts: list[int]) -> tuple[dict[str, bytes], dict[str, list[str]], dict[str, VehicleRow]]:
    """Process :data:`STREAM` in batches cut at ``cuts``; memories, ids per VIN, last rows."""
    memories: dict[str, VehicleMemory | None] = {}
    ids: dict[str, list[str]] = {}
    rows: dict[str, VehicleRow] = {}
    bounds = [0, *sorted(set(cuts)), len(STREAM)]
    for a, b in itertools.pairwise(bounds):
        visits = tuple(v for at, v in VISITS.items() if a <= at < b)
        outcome = process_batch(
            Decoded(tuple(readings_of(f) for f in STREAM[a:b]), visits, (), {}),
            memories,
            FLEET,
            CATALOG,
        )
        memories.update(outcome.memories)
        for s in outcome.signals:
            ids.setdefault(s.vin, []).append(s.signal_id)
        rows.update({r.vin: r.merged_into(rows.get(r.vin)) for r in outcome.vehicle_rows})
    return {v: m.to_bytes() for v, m in memories.items() if m is not None}, ids, rows


WHOLE = replay([])


@settings(max_examples=15, deadline=None)
@given(st.lists(st.integers(1, len(STREAM) - 1), max_size=8))
def test_the_outcome_does_not_depend_on_how_batches_are_cut(cuts: list[int]) -> None:
    # The visit is folded with the batch it falls in: keep it at the start of one.
    cuts = [*cuts, 6]
    memories, ids, rows = replay(cuts)
    reference = replay([6])
    assert memories == reference[0]
    assert ids == reference[1]
    assert rows == reference[2]


def test_every_vehicle_publishes_and_has_a_row() -> None:
    memories, ids, rows = WHOLE
    assert set(memories) == set(rows) == set(VINS)
    assert rows[VINS[0]].forecasts is not None and rows[VINS[2]].forecasts is None
    civic = rows[VINS[0]]
    assert civic.forecasts is not None and civic.forecasts.as_of_ms <= civic.as_of_ms
    assert civic.odometer_m == ((15_000 + 12 * 40) * 1000)  # the newest reading
    assert ids[VINS[2]][0].startswith(f"{VINS[2]}:quality:unknown_vehicle:")
    assert {i.split(":")[1] for i in ids[VINS[0]]} >= {
        "usage",
        "warranty",
        "service",
        "equity",
        "fault",
    }

"""Pure core of the signals processor: a polled batch in, memories, signals and rows out.

The runner polls records of ``telemetry.frames`` and ``vehicle.services``, decodes them with
:func:`decode_batch`, loads the memories and registry facts of the batch's vehicles, and calls
:func:`process_batch`, which folds each vehicle's records into its memory
(:class:`~processors.signals.vehicle.VehicleRun`) and returns everything to publish and store.
Nothing here talks to Kafka or PostgreSQL.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from database.vehicle_facts import VehicleFacts
from kernel.errors import DataError
from kernel.kafka import SourceRecord
from kernel.offsets import Partition
from processors.signals.calibration import PriceLevel
from processors.signals.dates import ms_to_datetime
from processors.signals.memory import VehicleMemory
from processors.signals.predict import usage_now
from processors.signals.pricing import fault_view, pricing_for
from processors.signals.records import Signal
from processors.signals.vehicle import DEFAULT_LOGIC, BillError, LogicParams, VehicleRun
from processors.signals.views import Json, UsageView
from reference.catalog import Catalog
from schemas.codec import FrameReadings
from schemas.services import ServiceVisitRecord


@dataclass(frozen=True, slots=True)
class Rejected:
    """A record that cannot be decoded: it goes to the dead-letter topic with ``reason``."""

    record: SourceRecord
    reason: str
    detail: str


@dataclass(frozen=True, slots=True)
class Decoded:
    frames: tuple[FrameReadings, ...]
    visits: tuple[ServiceVisitRecord, ...]
    rejected: tuple[Rejected, ...]
    next_offsets: Mapping[Partition, int]
    frame_at: tuple[int, ...] = ()
    """Each frame's index among the polled records (what :mod:`.segments` cuts by)."""
    visit_at: tuple[int, ...] = ()
    rejected_at: tuple[int, ...] = ()
    vins: tuple[str, ...] = field(init=False)
    """Every vehicle of the batch, sorted (computed once: the runner and the fold both read it)."""

    def __post_init__(self) -> None:
        vins = sorted({f.vin for f in self.frames} | {v.vin for v in self.visits})
        object.__setattr__(self, "vins", tuple(vins))


def next_offsets(records: Iterable[SourceRecord]) -> dict[Partition, int]:
    """Per partition, the highest offset seen plus one."""
    result: dict[Partition, int] = {}
    for rec in records:
        key = (rec.topic, rec.partition)
        result[key] = max(result.get(key, 0), rec.offset + 1)
    return result


def decode_batch(
    records: Sequence[SourceRecord],
    frames_topic: str,
    decode_frame: Callable[[bytes], FrameReadings],
    decode_visit: Callable[[bytes], ServiceVisitRecord],
) -> Decoded:
    """Frames from ``frames_topic``, visits from the other topic; a :class:`DataError` (or no
    value) makes a record a reject. Any other exception is a bug and propagates."""
    frames: list[FrameReadings] = []
    visits: list[ServiceVisitRecord] = []
    rejected: list[Rejected] = []
    frame_at: list[int] = []
    visit_at: list[int] = []
    rejected_at: list[int] = []
    for i, rec in enumerate(records):
        if rec.value is None:
            rejected.append(Rejected(rec, "undecodable", "record has no value"))
            rejected_at.append(i)
            continue
        try:
            if rec.topic == frames_topic:
                frames.append(decode_frame(rec.value))
                frame_at.append(i)
            else:
                visits.append(decode_visit(rec.value))
                visit_at.append(i)
        except DataError as exc:
            rejected.append(Rejected(rec, exc.reason, exc.detail))
            rejected_at.append(i)
    return Decoded(
        tuple(frames),
        tuple(visits),
        tuple(rejected),
        next_offsets(records),
        tuple(frame_at),
        tuple(visit_at),
        tuple(rejected_at),
    )


@dataclass(slots=True)
class Forecasts:
    """The forecast columns of ``vehicle_state``: those of the vehicle's last evaluation."""

    as_of_ms: int
    warranty: list[Json]
    service: Json
    equity: Json | None


@dataclass(slots=True, init=False)
class VehicleRow:
    """One row of ``vehicle_state`` (JSON columns as dicts; ``__init__`` written out to be
    compiled, see :class:`~processors.signals.memory.VehicleMemory`).

    The odometer, active codes and last service are always the final memory's; the usage
    estimate and the forecasts are rewritten only when the vehicle was evaluated in the batch
    (``usage`` and ``forecasts`` are None otherwise and the stored ones stay): evaluations come
    at least once per UTC day of event time and every 100 km, and at once after a visit or a
    change of codes. (Estimating the usage again at every batch cost half of a frame's CPU.)
    """

    vin: str
    dealer_id: str | None
    as_of_ms: int
    odometer_m: int | None
    usage: Json | None
    active_faults: list[Json]
    last_service: Json | None
    forecasts: Forecasts | None

    def __init__(
        self,
        vin: str,
        dealer_id: str | None,
        as_of_ms: int,
        odometer_m: int | None,
        usage: Json | None,
        active_faults: list[Json],
        last_service: Json | None,
        forecasts: Forecasts | None,
    ) -> None:
        self.vin = vin
        self.dealer_id = dealer_id
        self.as_of_ms = as_of_ms
        self.odometer_m = odometer_m
        self.usage = usage
        self.active_faults = active_faults
        self.last_service = last_service
        self.forecasts = forecasts

    def merged_into(self, stored: VehicleRow | None) -> VehicleRow:
        """The row once written over ``stored`` (what the upsert does)."""
        if stored is None:
            return self
        if self.forecasts is None:
            return replace(self, usage=self.usage or stored.usage, forecasts=stored.forecasts)
        return replace(self, usage=self.usage or stored.usage)


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    memories: Mapping[str, VehicleMemory]
    signals: tuple[Signal, ...]
    vehicle_rows: tuple[VehicleRow, ...]
    visits: tuple[ServiceVisitRecord, ...]
    """Every visit of the batch, for ``service_visits`` (repeats are absorbed there)."""
    bill_errors: tuple[BillError, ...]
    quality: Counter[str]
    evaluations: int
    usage_ratios: tuple[float, ...]
    """Each evaluation's recent rate over its lifetime rate, where it has one (a metric:
    :func:`processors.signals.estimate.recent_to_lifetime`)."""
    repeated_visits: int
    priced_lines: tuple[tuple[str, tuple[int, str, int, float]], ...] = ()
    """(VIN, (UTC day, dealer id, lines, log_sum)) of the dealer visits' priced lines the
    batch's runs with frames hand to their partitions' pools (:mod:`.dealerprices`)."""


def vehicle_row(run: VehicleRun, catalog: Catalog) -> VehicleRow:
    """The vehicle's row after the batch (see :class:`VehicleRow`)."""
    m = run.memory
    facts: VehicleFacts | None = run.facts  # (mypyc needs the type spelt out)
    last = m.last_service
    last_json = (
        None
        if last is None
        else {
            "visit_id": last.visit_id,
            "visit_ts": ms_to_datetime(last.ts_ms).isoformat(),
            "odometer_m": last.odometer_m,
        }
    )
    faults: list[Json] = []
    pricing = None if facts is None or not m.faults else pricing_for(facts, catalog, m.price_factor)
    for code, ts in m.faults:
        detail = {} if pricing is None else fault_view(code, catalog, pricing).as_json()
        faults.append({**detail, "code": code, "since": ms_to_datetime(ts).isoformat()})
    p = run.prediction
    usage: UsageView | None = None  # not evaluated in the batch: the stored estimate stays
    if p is not None:
        usage = p.usage  # the estimate of the last evaluation
    elif facts is None:  # never evaluated: the estimate of now
        usage = usage_now(facts, m.usage, m.upkeep(), run.params.predict)
    if facts is not None:
        odometer: int | None = round(run.odometer_m())
    else:
        odometer = None if usage is None else usage.odometer_m
    forecasts = None
    if p is not None:
        equity = None if p.equity is None else p.equity.as_json()
        forecasts = Forecasts(
            p.as_of_ms, [w.as_json() for w in p.warranty], p.service.as_json(), equity
        )
    return VehicleRow(
        vin=run.vin,
        dealer_id=run.dealer_id,
        as_of_ms=m.as_of_ms,
        odometer_m=odometer,
        usage=None if usage is None else usage.as_json(),
        active_faults=faults,
        last_service=last_json,
        forecasts=forecasts,
    )


def process_batch(
    decoded: Decoded,
    memories: Mapping[str, VehicleMemory | None],
    facts: Mapping[str, VehicleFacts],
    catalog: Catalog,
    params: LogicParams = DEFAULT_LOGIC,
    shifts: Mapping[str, int] | None = None,
    dealer_prices: Mapping[str, PriceLevel | None] | None = None,
) -> BatchOutcome:
    """Fold every vehicle's records of the batch into its memory (see :mod:`.vehicle`);
    ``shifts`` holds the fleet's usage shift in force for each vehicle with frames in the batch
    (:mod:`.fleetshift`; the others evaluate with the shift they last used), ``dealer_prices``
    its dealer's pooled price level there (:mod:`.dealerprices`; None: none yet)."""
    frames: dict[str, list[FrameReadings]] = {}
    visits: dict[str, list[ServiceVisitRecord]] = {}
    for frame in decoded.frames:
        frames.setdefault(frame.vin, []).append(frame)
    for visit in decoded.visits:
        visits.setdefault(visit.vin, []).append(visit)
    new: dict[str, VehicleMemory] = {}
    signals: list[Signal] = []
    rows: list[VehicleRow] = []
    errors: list[BillError] = []
    quality: Counter[str] = Counter()
    evaluations = repeated = 0
    ratios: list[float] = []
    priced: list[tuple[str, tuple[int, str, int, float]]] = []
    for vin in decoded.vins:
        shift = None if shifts is None else shifts.get(vin)
        pool = None if dealer_prices is None else dealer_prices.get(vin)
        run = VehicleRun(vin, memories.get(vin), facts.get(vin), catalog, params, shift, pool)
        new[vin] = run.run(visits.get(vin, ()), frames.get(vin, ()))
        signals += run.signals
        errors += run.bill_errors
        if run.quality:  # (Counter.update is interpreted: most runs have none)
            quality.update(run.quality)
        evaluations += run.evaluations
        if run.usage_ratios:
            ratios += run.usage_ratios
        repeated += run.repeated_visits
        if run.pooled:
            priced += [(vin, lines) for lines in run.pooled]
        rows.append(vehicle_row(run, catalog))
    return BatchOutcome(
        memories=new,
        signals=tuple(signals),
        vehicle_rows=tuple(rows),
        visits=decoded.visits,
        bill_errors=tuple(errors),
        quality=quality,
        evaluations=evaluations,
        usage_ratios=tuple(ratios),
        repeated_visits=repeated,
        priced_lines=tuple(priced),
    )


def signal_counts(signals: Iterable[Signal]) -> Counter[str]:
    return Counter(s.kind for s in signals)


def json_ready(value: Any) -> Any:
    """``value`` with non-finite floats replaced by None (JSON has no infinity)."""
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else None
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_ready(v) for v in value]
    return value

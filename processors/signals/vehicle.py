"""One vehicle's inputs of a batch, folded into its memory one record at a time (pure).

Records are applied in a fixed order: the vehicle's service visits of the batch (in log order),
then its frames (in log order). Each frame's samples update the usage state
(:func:`~processors.signals.usage.update_usage`, vectorised over the frame's samples) and the
active codes; each visit resets what it covered. Folding record by record, never a whole batch
at once, makes a vehicle's memory after a frame the same however the frames were cut into
batches, so a batch read again after a crash publishes exactly the same signals. (A visit is
applied before the frames of the batch it arrives in; where it falls among the frames can change
what is published around it, not the memory it leaves.)

After a record the vehicle is evaluated (:func:`~processors.signals.predict.predict`, then the
materiality rules) when it has never been, after a visit or a change of codes, when its as-of
time entered a new UTC day since the last evaluation, or when the odometer advanced
``eval_step_km`` (100 km) since then. Between evaluations nothing is published, and the
forecasts of ``vehicle_state`` stay those of the last evaluation (see
:class:`~processors.signals.logic.VehicleRow`).
An evaluation takes the fleet's usage shift in force in the partition of the vehicle's frames off
its recent rate, and keeps the bin of its own recent-to-lifetime ratio for that partition's
histogram (:mod:`.fleetshift`); a run with no frames (a visit alone) uses the shift the
vehicle's last evaluation did and leaves its bin.

Codes: the newest sample that reports a DTC list sets the active codes (a sample without a list
says nothing); a visit removes the codes it repaired unless a newer sample still reports them,
and a sample older than the latest visit cannot bring back a code that visit repaired.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from database.vehicle_facts import VehicleFacts
from processors.signals import explain
from processors.signals.bill import learn_from_visit
from processors.signals.calibration import PriceLevel, observe
from processors.signals.dates import MS_PER_DAY, datetime_to_ms, ms_to_datetime
from processors.signals.fleetshift import epoch_of, ratio_bin, shift_log
from processors.signals.lateness import observed_lateness
from processors.signals.materiality import DEFAULT_THRESHOLDS, Thresholds, material_changes
from processors.signals.memory import RECENT_VISITS, PredictedBill, VehicleMemory
from processors.signals.predict import (
    DEFAULT_PARAMS,
    PredictParams,
    odometer_anchor,
    predict,
    vehicle_issues,
)
from processors.signals.pricing import fault_view, pricing_for
from processors.signals.quality import UsageParams
from processors.signals.records import FaultEvent, Payload, QualityNote, Signal, make_signal
from processors.signals.upkeep import ServicePoint
from processors.signals.usage import update_usage
from processors.signals.views import Prediction
from reference.catalog import Catalog
from schemas.codec import FrameReadings
from schemas.services import ServiceVisitRecord

UNKNOWN_VEHICLE = "unknown_vehicle"


@dataclass(frozen=True, slots=True)
class LogicParams:
    predict: PredictParams = DEFAULT_PARAMS
    thresholds: Thresholds = DEFAULT_THRESHOLDS
    usage: UsageParams = field(default_factory=UsageParams)
    eval_step_km: float = 100.0


DEFAULT_LOGIC = LogicParams()


@dataclass(frozen=True, slots=True)
class BillError:
    """A visit's invoice against the bill predicted before it (``bill_errors``)."""

    visit_id: str
    vin: str
    dealer_id: str
    currency: str
    predicted_low: float
    predicted_expected: float
    predicted_high: float
    invoiced: float
    abs_pct_error: float | None
    """``|expected - invoiced| / invoiced`` in percent; None when nothing was invoiced."""
    predicted_as_of_ms: int


def _ms(visit: ServiceVisitRecord) -> int:
    return datetime_to_ms(visit.visit_ts)


class VehicleRun:
    """Applies one vehicle's records to its memory; collects what they publish."""

    def __init__(
        self,
        vin: str,
        memory: VehicleMemory | None,
        facts: VehicleFacts | None,
        catalog: Catalog,
        params: LogicParams = DEFAULT_LOGIC,
        usage_shift: int | None = None,
        dealer_prices: PriceLevel | None = None,
    ) -> None:
        self.vin, self.facts, self.catalog, self.params = vin, facts, catalog, params
        self.usage_shift = usage_shift
        """The fleet's usage shift in force in the partition of the vehicle's frames, in bins
        (:mod:`.fleetshift`); None for a run without frames, whose evaluations use the shift
        the vehicle's last one did and leave its bin as it was."""
        self.dealer_prices = dealer_prices
        """Its dealer's pooled price level in force in that partition (:mod:`.dealerprices`;
        None: none pooled yet, or a run without frames, whose evaluations use the level the
        vehicle's last one did)."""
        self.pooled: tuple[tuple[int, str, int, float], ...] = ()
        """The dealer visits' priced lines a run with frames hands to the partition's pool."""
        self.memory = memory if memory is not None else VehicleMemory()
        self.signals: list[Signal] = []
        self.bill_errors: list[BillError] = []
        self.quality: list[str] = []
        self.evaluations = 0
        self.usage_ratios: list[float] = []
        """Each evaluation's recent rate over its lifetime rate, where it has one (a metric)."""
        self.repeated_visits = 0
        self.prediction: Prediction | None = None
        """The prediction of the run's last evaluation, if any."""
        self._issues: tuple[tuple[str, str], ...] | None = None

    @property
    def dealer_id(self) -> str | None:
        return None if self.facts is None else self.facts.dealer_id

    def run(
        self, visits: Sequence[ServiceVisitRecord], frames: Sequence[FrameReadings]
    ) -> VehicleMemory:
        for visit in visits:
            self.apply_visit(visit)
        for frame in frames:
            self.apply_frame(frame)
        if self.usage_shift is not None and self.memory.unpooled:
            self.pooled = self.memory.unpooled
            self.memory = replace(self.memory, unpooled=())
        return self.memory

    # --- records -------------------------------------------------------------------------

    def apply_visit(self, visit: ServiceVisitRecord) -> None:
        """Apply a visit, or hold it while it is newer than the vehicle's telemetry: a visit is
        read ahead of the frames it follows in life when the processor lags or replays, and
        the service history arrives before any telemetry. Applied early, it would move the
        vehicle's clock past frames still to come and its predictions would skip them; held,
        it is applied when a frame reaches its time, so the same inputs give the same signals
        however they interleave. (A vehicle that never sends telemetry gets no signals.)"""
        m = self.memory
        if visit.visit_id in m.visit_ids or any(h.visit_id == visit.visit_id for h in m.held):
            self.repeated_visits += 1
            return
        if _ms(visit) > m.frames_ms:
            held = sorted((*m.held, visit), key=lambda v: (_ms(v), v.visit_id))
            self.memory = replace(m, held=tuple(held))
            return
        self.fold_visit(visit)
        self.settle(force=True)

    def release_held(self, until_ms: int) -> bool:
        """Apply the held visits up to ``until_ms`` (a frame's newest sample); whether any."""
        held = self.memory.held
        due = [v for v in held if _ms(v) <= until_ms]
        if not due:
            return False
        self.memory = replace(self.memory, held=held[len(due) :])
        for visit in due:
            self.fold_visit(visit)
        return True

    def fold_visit(self, visit: ServiceVisitRecord) -> None:
        """Fold a visit into the memory (no evaluation)."""
        m = self.memory
        self.score_bill(visit)
        m = self.observe_wear(self.observe_prices(m, visit), visit)
        ts = _ms(visit)
        point = ServicePoint(ts, visit.odometer_m, visit.visit_id)
        scheduled = any(i.kind == "scheduled" for i in visit.items)
        if scheduled and (m.last_service is None or ts > m.last_service.ts_ms):
            m = replace(m, last_service=point)
        repaired = tuple(sorted(set(visit.covers("repair"))))
        if m.last_visit is None or ts > m.last_visit.ts_ms:
            m = replace(m, last_visit=point, last_repairs=repaired)
        wear = {item: (t, odo) for item, t, odo in m.wear}
        for item in visit.covers("wear"):
            if item not in wear or ts > wear[item][0]:
                wear[item] = (ts, visit.odometer_m)
        m = replace(
            m,
            wear=tuple(sorted((item, t, odo) for item, (t, odo) in wear.items())),
            visit_ids=(*m.visit_ids, visit.visit_id)[-RECENT_VISITS:],
            as_of_ms=max(m.as_of_ms, ts),
        )
        self.memory = m
        # The repairs do not move the time of the newest report: a visit and a sample then give
        # the same codes in either order.
        before = dict(m.faults)
        if ts >= m.dtcs_ts_ms and not before.keys().isdisjoint(repaired):
            kept = set(before) - set(repaired)
            after = self.changed_codes(before, kept, ts)
            self.memory = replace(m, faults=tuple(sorted(after.items())))

    def apply_frame(self, frame: FrameReadings) -> None:
        _vin, ts, odometers, codes_of = frame
        if not ts:
            return
        released = self.release_held(ts[-1])
        usage = self.memory.usage
        readings = [(t, o) for t, o in zip(ts, odometers, strict=True) if o is not None]
        if readings:
            update = update_usage(
                usage, [t for t, _ in readings], [o for _, o in readings], self.params.usage
            )
            usage = update.state
            if update.events:
                self.memory = replace(self.memory, usage=usage)
                for event in update.events:
                    self.odometer_quality(event.reason.value, event.detail, event.ts_ms)
        m = self.memory
        faults, newest, changed = m.faults, m.dtcs_ts_ms, False
        active: dict[str, int] | None = None
        visited = m.last_visit.ts_ms if m.last_visit is not None else None
        for t, dtcs in zip(ts, codes_of, strict=True):
            if dtcs is None or t <= newest:
                continue
            codes = set(dtcs)
            if visited is not None and t < visited:
                codes -= set(m.last_repairs)
            newest = t
            if active is None:
                active = dict(faults)
            if codes != active.keys():
                active = self.changed_codes(active, codes, t)
                changed = True
        if changed:
            assert active is not None
            faults = tuple(sorted(active.items()))
        self.memory = m.after_frame(
            usage, max(m.as_of_ms, ts[-1]), max(m.frames_ms, ts[-1]), faults, newest
        )
        self.settle(force=changed or released)

    # --- codes, quality, evaluation --------------------------------------------------------

    def changed_codes(self, before: dict[str, int], codes: set[str], ts_ms: int) -> dict[str, int]:
        """The active codes (with the time each was raised) once ``codes`` are the active set
        as of ``ts_ms``; publishes what was raised or cleared."""
        after = {code: before.get(code, ts_ms) for code in codes}
        if self.facts is not None:
            pricing = pricing_for(self.facts, self.catalog, self.memory.price_factor)
            raised, cleared = sorted(set(after) - set(before)), sorted(set(before) - set(after))
            for event, group in (("raised", raised), ("cleared", cleared)):
                for code in group:
                    view = fault_view(code, self.catalog, pricing)
                    text = explain.fault(event, view)
                    self.publish("fault", code, ts_ms, text, FaultEvent(event, view))
        return after

    def odometer_quality(self, reason: str, detail: str, ts_ms: int) -> None:
        """An odometer reading flagged: published at most once per reason and UTC day."""
        self.quality.append(reason)
        day = ts_ms // MS_PER_DAY
        days = dict(self.memory.quality_days)
        if days.get(reason) == day:
            return
        days[reason] = day
        self.memory = replace(self.memory, quality_days=tuple(sorted(days.items())))
        self.publish(
            "quality", reason, ts_ms, explain.quality(reason, detail), QualityNote(reason, detail)
        )

    def once(self, reason: str, detail: str) -> None:
        """A vehicle-level quality event, published once per vehicle."""
        if reason in self.memory.reported:
            return
        self.quality.append(reason)
        self.memory = replace(self.memory, reported=(*self.memory.reported, reason))
        at = self.memory.as_of_ms
        self.publish(
            "quality", reason, at, explain.quality(reason, detail), QualityNote(reason, detail)
        )

    def settle(self, *, force: bool) -> None:
        """After a record: report vehicle-level problems, evaluate if due."""
        if self.facts is None:
            self.once(UNKNOWN_VEHICLE, f"VIN {self.vin} is not in the vehicles registry")
            return
        if self._issues is None:
            self._issues = vehicle_issues(self.facts, self.catalog)
        reported = self.memory.reported
        for reason, detail in self._issues:
            if reason not in reported:
                self.once(reason, detail)
        if force or self.due():
            self.evaluate()

    def due(self) -> bool:
        m = self.memory
        if m.evaluated is None:
            return True
        at_ms, odo_m = m.evaluated
        if m.as_of_ms // MS_PER_DAY != at_ms // MS_PER_DAY:
            return True
        return self.odometer_m() - odo_m >= self.params.eval_step_km * 1000.0

    def odometer_m(self) -> float:
        assert self.facts is not None
        return odometer_anchor(self.facts, self.memory.usage, self.memory.last_visit)[1]

    def evaluate(self) -> None:
        assert self.facts is not None
        m = self.memory
        shift = m.usage_shift if self.usage_shift is None else self.usage_shift
        pool = m.dealer_prices if self.usage_shift is None else self.dealer_prices
        pred = predict(
            self.facts,
            self.catalog,
            m.usage,
            m.priced_upkeep(pool),
            m.as_of_ms,
            self.params.predict,
            shift_log(shift),
        )
        self.evaluations += 1
        ratio = pred.recent_to_lifetime
        if ratio is not None:
            self.usage_ratios.append(ratio)
        usage_bin, usage_epoch = m.usage_bin, m.usage_epoch
        if self.usage_shift is not None:
            usage_bin = None if ratio is None or ratio <= 0.0 else ratio_bin(ratio)
            usage_epoch = 0 if usage_bin is None else epoch_of(m.as_of_ms // MS_PER_DAY)
        changes = material_changes(pred, m.published, self.params.thresholds)
        at = pred.as_of_ms
        if changes.usage is not None:
            self.publish("usage", None, at, explain.usage(changes.usage), changes.usage)
        for w in changes.warranty:
            self.publish("warranty", w.coverage, at, explain.warranty(w), w)
        if changes.service is not None:
            self.publish("service", None, at, explain.service(changes.service), changes.service)
        if changes.equity is not None:
            self.publish("equity", None, at, explain.equity(changes.equity), changes.equity)
        bill = pred.service.bill
        self.memory = m.after_evaluation(
            changes.published,
            PredictedBill(at, bill.currency, bill.low, bill.expected, bill.high),
            (m.as_of_ms, round(self.odometer_m())),
            usage_bin,
            usage_epoch,
            shift,
            pool,
        )
        self.prediction = pred

    def observe_wear(self, m: VehicleMemory, visit: ServiceVisitRecord) -> VehicleMemory:
        """``m`` with what a full service at the dealer says of each part's life and of the
        owner's lateness (in order only: a visit older than the last service is history
        already accounted for)."""
        facts = self.facts
        if facts is None or not any(i.kind == "scheduled" for i in visit.items):
            return m
        ts = _ms(visit)
        if m.last_service is not None and ts <= m.last_service.ts_ms:
            return m
        upkeep, day, km = m.upkeep(), ms_to_datetime(ts).date(), visit.odometer_m / 1000.0
        brackets = learn_from_visit(
            dict(m.wear_life), facts, self.catalog, upkeep, day, km, set(visit.covers("wear"))
        )
        late = observed_lateness(m.lateness, facts, self.catalog, upkeep, day, km)
        return replace(m, wear_life=tuple(sorted(brackets.items())), lateness=late)

    def observe_prices(self, m: VehicleMemory, visit: ServiceVisitRecord) -> VehicleMemory:
        """``m`` with the visit's invoice lines in its dealer price level (own dealer only)."""
        facts = self.facts
        if facts is None or visit.dealer_id != facts.dealer_id:
            return m
        pricing = pricing_for(facts, self.catalog)
        if pricing.currency != visit.currency:
            return m
        level = observe(m.prices, visit, self.catalog, facts.powertrain, pricing.parts_factor)
        lines = level.lines - m.prices.lines
        if not lines:
            return m
        day = _ms(visit) // MS_PER_DAY
        said = (day, visit.dealer_id, lines, round(level.log_sum - m.prices.log_sum, 6))
        return replace(m, prices=level, unpooled=(*m.unpooled, said))

    def score_bill(self, visit: ServiceVisitRecord) -> None:
        bill = self.memory.bill
        if bill is None:
            return
        if bill.currency != visit.currency:
            self.quality.append("visit_currency")
            return
        invoiced = visit.invoiced_amount
        error = abs(bill.expected - invoiced) / invoiced * 100.0 if invoiced > 0 else None
        self.bill_errors.append(
            BillError(
                visit_id=visit.visit_id,
                vin=self.vin,
                dealer_id=visit.dealer_id,
                currency=visit.currency,
                predicted_low=bill.low,
                predicted_expected=bill.expected,
                predicted_high=bill.high,
                invoiced=invoiced,
                abs_pct_error=None if error is None else round(error, 4),
                predicted_as_of_ms=bill.as_of_ms,
            )
        )

    def publish(
        self, kind: str, subject: str | None, at_ms: int, text: str, payload: Payload
    ) -> None:
        self.signals.append(
            make_signal(self.vin, self.dealer_id, kind, subject, at_ms, text, payload)
        )

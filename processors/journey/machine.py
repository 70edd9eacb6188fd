"""The per-vehicle journey state machine (pure): one input in, timeline events and alerts out.

:func:`step` folds one input (a signal, a dealer visit, a consent change) into a
:class:`~processors.journey.state.VehicleJourney` and returns what happened:

1. the input updates the facts, the consent or the dealer; a visit closes the service gates and
   ends a lapse; a withdrawal hides the open alerts of its purpose at once; a sale, or the
   withdrawal of every alerting purpose, makes the owner leave the journey;
2. alerts past their expiry, or whose gate closed, expire;
3. every gate is evaluated with hysteresis (:mod:`.gates`); each opening or closing is a
   timeline event with the figures that caused it;
4. at most one alert is raised (once every input of the same instant is folded): of the stages
   reached and not yet alerted, the one of highest priority whose purpose the owner consented
   to, if the contact budget and the minimum gap allow (the owner's, across the owner's
   vehicles: :mod:`.budget`). A lapsed owner gets the lapse alert and
   nothing else until a dealer visit; an owner who left gets nothing. An upgrade window covers
   the pending stages of its parts.

Everything is in event time, so a replay gives the same ids and the same alerts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from processors.journey.alerts import content
from processors.journey.budget import CONTACT_BUDGET, MIN_GAP, contact_block
from processors.journey.gates import MS_PER_DAY, GateView, evaluate
from processors.journey.rules import SERVICE_GATES, Rules
from processors.journey.state import (
    ENTRY,
    STAGE_NAMES,
    Consent,
    EquityFact,
    FaultFact,
    OpenAlert,
    ServiceFact,
    VehicleJourney,
    WarrantyFact,
)
from schemas.alerts import CONSENT_OF_PURPOSE, Figure
from schemas.consent import KIND_CONSENT, KIND_SOLD, ConsentChange
from schemas.signals import (
    EquityRecord,
    FaultRecord,
    ServiceRecord,
    SignalRecord,
    UsageRecord,
    WarrantyRecord,
)

STAGED = ("warranty_ending", "service_due")
ALERTING_CONSENTS = frozenset(CONSENT_OF_PURPOSE.values())
LEFT_SOLD = "sold"
LEFT_CONSENT = "consent_withdrawn"


@dataclass(frozen=True, slots=True)
class VisitInput:
    """A completed dealer visit (from ``vehicle.services``)."""

    visit_id: str
    vin: str
    at_ms: int
    dealer_id: str


@dataclass(frozen=True, slots=True)
class Tick:
    """Time passing: evaluate the vehicle at ``at_ms`` without a new input (see
    :mod:`processors.journey.clock`)."""

    vin: str
    at_ms: int


Input = SignalRecord | VisitInput | ConsentChange | Tick


@dataclass(slots=True)
class JourneyEvent:
    """One row of the vehicle's timeline (``journey_events``). Not frozen: a frozen dataclass
    sets each of its fields through ``object.__setattr__``, and a batch makes one or two
    events per vehicle; nothing changes one once made."""

    event_id: str
    vin: str
    dealer_id: str | None
    at_ms: int
    event: str
    """entered, exited, alerted, suppressed, hidden, expired, visit, consent, left, rejoined."""
    gate: str | None
    subject: str | None
    episode_id: str | None
    stage: str | None
    alert_id: str | None
    detail: str
    values: dict[str, Any]
    cause_id: str


@dataclass(frozen=True, slots=True)
class Alert:
    alert_id: str
    episode_id: str
    vin: str
    dealer_id: str
    alert_type: str
    subject: str | None
    stage: str
    purpose: str
    severity: str
    priority: int
    at_ms: int
    expires_ms: int
    reason: str
    action: str
    figures: tuple[Figure, ...]
    cause_id: str | None


@dataclass(frozen=True, slots=True)
class AlertChange:
    """An open alert hidden (consent withdrawn, owner left) or expired."""

    alert: OpenAlert
    action: str
    at_ms: int


@dataclass(slots=True)
class StepOutput:
    events: list[JourneyEvent] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    changes: list[AlertChange] = field(default_factory=list)


def input_ms(item: Input) -> int:
    if isinstance(item, SignalRecord):
        return item.as_of_ms
    if isinstance(item, VisitInput | Tick):
        return item.at_ms
    return int(item.changed_at.timestamp() * 1000)


def input_rank(item: Input) -> int:
    """Order of inputs of the same instant: a visit first (the signals evaluated at it follow),
    then consent changes, grants before withdrawals and sales (an owner whose consents are read
    together, e.g. from the registry, is judged on all of them: withdrawing marketing while
    granting service reminders at once is not leaving the journey and coming back), then the
    signals (evaluated with the consent of their instant: a withdrawal stops an alert at once),
    a tick last."""
    if isinstance(item, SignalRecord):
        return 3
    if isinstance(item, VisitInput):
        return 0
    if isinstance(item, Tick):
        return 4
    return 1 if item.granted and item.kind == KIND_CONSENT else 2


def input_id(item: Input) -> str:
    if isinstance(item, SignalRecord):
        return item.signal_id
    if isinstance(item, VisitInput):
        return f"visit:{item.visit_id}"
    if isinstance(item, Tick):
        return f"tick:{item.vin}:{item.at_ms}"
    return f"consent:{item.change_id}"


def episode_id(vin: str, key: str, since_ms: int) -> str:
    return f"{vin}:{key}:{since_ms}"


class _Step:
    def __init__(
        self,
        j: VehicleJourney,
        cause: str,
        rules: Rules,
        others: Sequence[int] = (),
        out: StepOutput | None = None,
    ) -> None:
        self.j, self.cause, self.rules, self.others = j, cause, rules, others
        self.out = StepOutput() if out is None else out
        self.first = len(self.out.events)  # the step's events are numbered from 0

    def event(self, event: str, key: str | None = None, **kw: Any) -> None:
        gate, subject = (None, None) if key is None else _split(key)
        g = None if key is None else self.j.gates.get(key)
        self.out.events.append(
            JourneyEvent(
                event_id=f"{self.cause}:{len(self.out.events) - self.first}",
                vin=self.j.vin,
                dealer_id=self.j.dealer_id,
                at_ms=kw.get("at_ms", self.j.as_of_ms),
                event=event,
                gate=gate,
                subject=subject,
                episode_id=None if g is None else episode_id(self.j.vin, key or "", g.since_ms),
                stage=kw.get("stage"),
                alert_id=kw.get("alert_id"),
                detail=kw.get("detail", ""),
                values=kw.get("values", {}),
                cause_id=self.cause,
            )
        )

    def drop_alerts(self, action: str, keep: Any) -> None:
        """Hide or expire every open alert for which ``keep`` is false."""
        kept = []
        for a in self.j.open_alerts:
            if keep(a):
                kept.append(a)
                continue
            self.out.changes.append(AlertChange(a, action, self.j.as_of_ms))
            self.event(action, None, alert_id=a.alert_id, detail=a.alert_type, stage=a.stage)
        self.j.open_alerts = kept


def _split(key: str) -> tuple[str, str | None]:
    gate, _, subject = key.partition(":")
    return gate, subject or None


def step(
    j: VehicleJourney,
    item: Input,
    rules: Rules,
    *,
    decide: bool = True,
    others: Sequence[int] = (),
    out: StepOutput | None = None,
) -> StepOutput:
    """Fold ``item`` into ``j`` (mutated) and return the events and alerts it caused.

    ``decide`` False defers the choice of an alert to the next input: the signals of one
    evaluation (warranty, service, equity at the same instant) are folded together, and the
    alerts that fire together compete by priority. ``others``: the contacts (epoch ms) made to
    the owner's other vehicles, which count against the same contact budget
    (:mod:`.budget`); empty for a vehicle that is its own owner. ``out``: where to add them
    (a batch's), else a new :class:`StepOutput`; returned either way.
    """
    s = _Step(j, input_id(item), rules, others, out)
    if not isinstance(item, ConsentChange):
        # A consent change is heard when it is made, often before the signals of the hours
        # before it are read: it takes effect at once (a withdrawal) or from its time (a grant,
        # VehicleJourney.granted), but does not move the vehicle's clock past them.
        j.as_of_ms = max(j.as_of_ms, input_ms(item))
    if isinstance(item, SignalRecord):
        _apply_signal(j, item)
        _note_live(j, input_ms(item))
    elif isinstance(item, Tick):
        pass
    elif isinstance(item, VisitInput):
        # A visit older than the service forecast in hand (e.g. the service history, read after
        # the vehicle's first signals) is already behind that forecast: it closes nothing.
        service = j.facts.service
        if service is None or item.at_ms >= service.as_of_ms:
            j.facts.service = None
        j.dealer_id = j.dealer_id or item.dealer_id
        j.newest_visit_ms = max(j.newest_visit_ms, item.at_ms)
        s.event("visit", None, detail=f"dealer visit {item.visit_id} at {item.dealer_id}")
    else:
        _apply_consent(s, item)
    now = j.as_of_ms
    if any(a.expires_ms <= now for a in j.open_alerts):
        s.drop_alerts("expired", lambda a: a.expires_ms > now)
    if j.left is not None:
        _close_all(s, f"left the journey ({j.left})")
        return s.out
    views = evaluate(j, rules)
    _transitions(s, views)
    if decide and is_live(j):
        _raise_one(s, views)
    return s.out


def absorb(j: VehicleJourney, sig: SignalRecord) -> None:
    """Fold a signal's values into ``j`` without evaluating its gates: the signals of one
    evaluation come at one instant, and the gates are evaluated once, by :func:`step` on the
    last of them, on all their values (an intermediate mix of new and old values would open
    and close gates that neither evaluation holds). A :func:`step` of the same instant must
    follow."""
    j.as_of_ms = max(j.as_of_ms, sig.as_of_ms)
    _apply_signal(j, sig)
    _note_live(j, sig.as_of_ms)


def _note_live(j: VehicleJourney, ms: int) -> None:
    """The signals processor evaluates a vehicle at its telemetry and at each dealer visit it
    folds; a signal newer than every visit folded comes from telemetry: the vehicle is live from
    then on. Signals before that, at the instants of the service history read back (3 years of
    it before any telemetry), update the facts and the timeline but never alert: they are the
    past, and an alert about the past would spend the contact budget and the episode's one alert
    on it."""
    if j.live_ms is None and ms > j.newest_visit_ms:
        j.live_ms = ms


def is_live(j: VehicleJourney) -> bool:
    """Whether an alert may be raised at the state's instant (see :func:`_note_live`)."""
    return j.live_ms is not None and j.as_of_ms >= j.live_ms


def _apply_signal(j: VehicleJourney, sig: SignalRecord) -> None:
    j.dealer_id = sig.dealer_id or j.dealer_id
    p, f, ms = sig.payload, j.facts, sig.as_of_ms
    if isinstance(p, WarrantyRecord):
        f.warranty[p.coverage] = WarrantyFact(
            p.coverage, _date_ms(p.expiry_p50), p.binds, p.km_remaining, p.expired,
            sig.explanation, sig.signal_id,
        )  # fmt: skip
    elif isinstance(p, ServiceRecord):
        f.service = ServiceFact(
            _date_ms(p.due_p50), p.km_remaining, p.overdue, p.currency, p.bill_expected,
            p.bill_low, p.bill_high, sig.explanation, sig.signal_id, ms,
        )  # fmt: skip
    elif isinstance(p, EquityRecord):
        f.equity = EquityFact(
            p.currency, p.value_expected, p.equity_expected, sig.explanation, sig.signal_id,
            p.equity_low,
        )  # fmt: skip
    elif isinstance(p, FaultRecord):
        if p.event == "cleared":
            f.faults.pop(p.code, None)
        else:
            f.faults[p.code] = FaultFact(
                p.code, p.severity, p.description, sig.explanation, sig.signal_id
            )
    elif isinstance(p, UsageRecord):
        f.odometer_m = p.odometer_m


def _date_ms(day: Any) -> int:
    return int(day.toordinal() - 719163) * MS_PER_DAY


def _apply_consent(s: _Step, change: ConsentChange) -> None:
    j, ms = s.j, int(change.changed_at.timestamp() * 1000)
    if change.kind == KIND_SOLD:
        if j.sold_ms is None or ms > j.sold_ms:
            j.sold_ms = ms
            _leave(s, LEFT_SOLD, ms)
        return
    purpose = change.purpose or ""
    stored = j.consent.get(purpose)
    if stored is not None and stored.changed_ms > ms:
        return  # an older change than the one in force
    if stored is not None and stored.granted == change.granted:
        return  # a repeat, or a confirmation of the consent in force since its first change
    j.consent[purpose] = Consent(change.granted, ms)
    verb = "granted" if change.granted else "withdrawn"
    s.event("consent", None, detail=f"{purpose} {verb}", at_ms=ms)  # at the change's own time
    if not change.granted:
        s.drop_alerts("hidden", lambda a: CONSENT_OF_PURPOSE[a.purpose] != purpose)
        # Left when an alerting purpose is withdrawn and none is consented to, now or from a
        # later time already heard of (withdrawing location alone leaves nothing).
        ever = (j.consent.get(p) for p in ALERTING_CONSENTS)
        if purpose in ALERTING_CONSENTS and not any(c is not None and c.granted for c in ever):
            _leave(s, LEFT_CONSENT, ms)
    elif j.left is not None and (j.sold_ms is None or ms > j.sold_ms):
        j.left = None
        s.event("rejoined", None, detail=f"{purpose} granted", at_ms=ms)


def _leave(s: _Step, why: str, at_ms: int) -> None:
    if s.j.left == why:
        return
    s.j.left = why
    s.drop_alerts("hidden", lambda a: False)
    s.event("left", None, detail=why, at_ms=at_ms)


def _close_all(s: _Step, why: str) -> None:
    for key, g in sorted(s.j.gates.items()):
        if g.open:
            s.event("exited", key, detail=why)
            g.open = False


def _values(j: VehicleJourney, key: str, rules: Rules) -> dict[str, Any]:
    gate = key.split(":")[0]
    text, figures, cause = content(j, key, rules) if _has_facts(j, gate, key) else ("", (), None)
    return {
        "reason": text,
        "signal_id": cause,
        **{f.name: f.value if f.value is not None else f.text for f in figures},
    }


def _has_facts(j: VehicleJourney, gate: str, key: str) -> bool:
    f = j.facts
    if gate in ("warranty_ending", "out_of_warranty"):
        return key.split(":")[1] in f.warranty
    if gate in SERVICE_GATES:
        return f.service is not None
    if gate == "equity_positive":
        return f.equity is not None
    return True


def _transitions(s: _Step, views: list[GateView]) -> None:
    j = s.j
    for v in views:
        g = j.gates.get(v.key)
        if g is None:
            if not v.open:
                continue  # never opened: nothing to remember
            g = j.gate(v.key)
        if v.open and not g.open:
            g.open, g.since_ms, g.blocked = True, j.as_of_ms, -1
            cooldown_ms = s.rules.contact.reentry_cooldown_days * MS_PER_DAY
            cooled = g.last_alert_ms is None or j.as_of_ms - g.last_alert_ms >= cooldown_ms
            g.stage_sent = -1 if cooled else g.last_alert_stage
            s.event("entered", v.key, values=_values(j, v.key, s.rules))
        elif g.open and not v.open:
            s.event("exited", v.key, values=_values(j, v.key, s.rules))
            g.open = False
            ep = episode_id(j.vin, v.key, g.since_ms)
            s.drop_alerts("expired", lambda a, ep=ep: not a.alert_id.startswith(ep + ":"))


def _stage_name(gate: str, stage: int) -> str:
    return STAGE_NAMES[stage] if gate in STAGED else ENTRY


def _raise_one(s: _Step, views: list[GateView]) -> None:
    j, rules = s.j, s.rules
    lapsed = j.is_open("lapsed")
    pending = [
        v
        for v in views
        if v.open and v.stage >= 0 and v.stage > j.gate(v.key).stage_sent
        and (not lapsed or v.gate == "lapsed")
    ]  # fmt: skip
    pending.sort(key=lambda v: (-rules.alerts[v.gate].priority, v.key))
    for v in pending:
        kind = rules.alerts[v.gate]
        g = j.gate(v.key)
        block = _blocked(j, kind.purpose, rules, s.others)
        if block is not None:
            if g.blocked < v.stage:
                g.blocked = v.stage
                s.event("suppressed", v.key, stage=_stage_name(v.gate, v.stage), detail=block)
            if block in (CONTACT_BUDGET, MIN_GAP):
                return  # no contact possible now, whatever the purpose
            continue
        _raise(s, v)
        return


def _blocked(j: VehicleJourney, purpose: str, rules: Rules, others: Sequence[int]) -> str | None:
    if not j.granted(CONSENT_OF_PURPOSE[purpose]):
        return "no_consent"
    if j.dealer_id is None:
        return "no_dealer"
    c = rules.contact
    window_start = j.as_of_ms - c.budget_window_days * MS_PER_DAY
    j.contacts_ms = [t for t in j.contacts_ms if t > window_start]
    return contact_block(j.as_of_ms, [*j.contacts_ms, *others], c)


def _raise(s: _Step, v: GateView) -> None:
    j, rules = s.j, s.rules
    kind = rules.alerts[v.gate]
    g = j.gate(v.key)
    ep = episode_id(j.vin, v.key, g.since_ms)
    stage = _stage_name(v.gate, v.stage)
    alert_id = f"{ep}:{stage}"
    reason, figures, cause = content(j, v.key, rules)
    dealer = j.dealer_id or ""
    expires = j.as_of_ms + kind.expires_days * MS_PER_DAY
    alert = Alert(
        alert_id, ep, j.vin, dealer, v.gate, v.subject, stage, kind.purpose, kind.severity,
        kind.priority, j.as_of_ms, expires, reason, kind.action, figures, cause,
    )  # fmt: skip
    s.out.alerts.append(alert)
    g.stage_sent = v.stage
    g.last_alert_ms, g.last_alert_stage = j.as_of_ms, v.stage
    j.contacts_ms.append(j.as_of_ms)
    j.open_alerts.append(
        OpenAlert(alert_id, v.gate, stage, kind.purpose, kind.severity, kind.priority, dealer,
                  expires)
    )  # fmt: skip
    s.event("alerted", v.key, stage=stage, alert_id=alert_id, detail=reason)
    if v.gate == "upgrade_window":
        views = {x.key: x for x in evaluate(j, rules)}
        for key, part in views.items():
            if part.open and part.gate in rules.upgrade_any_of + rules.upgrade_requires:
                pg = j.gate(key)
                pg.stage_sent = max(pg.stage_sent, part.stage)

"""A vehicle's journey state: what the journey processor remembers between inputs (pure data).

Stored as JSON in ``journey_state`` (one row per vehicle, a few hundred bytes): the latest
signal values the gates read (:class:`Facts`), each gate's episode (:class:`GateState`), the
consent in force, the contacts made (for the budget) and the alerts still open (to hide or
expire them). Times are epoch milliseconds UTC of event time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
import orjson

STAGE_NAMES = ("early", "near", "deadline")
WAKE_UNKNOWN = -1
""":attr:`VehicleJourney.wake_ms` not known (an instant is never negative)."""
ENTRY = "entry"


@dataclass(slots=True)
class WarrantyFact:
    coverage: str
    expiry_ms: int
    binds: str
    km_remaining: float
    expired: bool
    explanation: str
    signal_id: str


@dataclass(slots=True)
class ServiceFact:
    due_ms: int
    km_remaining: float
    overdue: bool
    currency: str
    bill_expected: float
    bill_low: float
    bill_high: float
    explanation: str
    signal_id: str
    as_of_ms: int = 0
    """Event time of the forecast (0 in states stored before it was kept)."""


@dataclass(slots=True)
class EquityFact:
    currency: str
    value_expected: float
    equity_expected: float
    explanation: str
    signal_id: str
    equity_low: float | None = None
    """The low end of the equity range (None in states stored before it was kept)."""


@dataclass(slots=True)
class FaultFact:
    code: str
    severity: str
    description: str
    explanation: str
    signal_id: str


@dataclass(slots=True)
class Facts:
    warranty: dict[str, WarrantyFact] = field(default_factory=dict)
    service: ServiceFact | None = None
    equity: EquityFact | None = None
    faults: dict[str, FaultFact] = field(default_factory=dict)
    odometer_m: int | None = None


@dataclass(slots=True)
class GateState:
    """One gate (``key`` is the gate, or ``gate:subject`` for a warranty coverage)."""

    key: str
    open: bool = False
    since_ms: int = 0
    """Start of the current (or last) episode."""
    stage_sent: int = -1
    """Highest stage alerted (or covered) in the episode; -1 none."""
    blocked: int = -1
    """Highest stage whose suppression is already in the timeline (noted once)."""
    last_alert_ms: int | None = None
    last_alert_stage: int = -1


@dataclass(slots=True)
class OpenAlert:
    alert_id: str
    alert_type: str
    stage: str
    purpose: str
    severity: str
    priority: int
    dealer_id: str
    expires_ms: int


@dataclass(slots=True)
class Consent:
    granted: bool
    changed_ms: int


@dataclass(slots=True)
class HeldVisit:
    """A dealer visit read ahead of the vehicle's signals, applied when they reach its time."""

    visit_id: str
    at_ms: int
    dealer_id: str


@dataclass(slots=True)
class VehicleJourney:
    vin: str
    dealer_id: str | None = None
    as_of_ms: int = 0
    facts: Facts = field(default_factory=Facts)
    gates: dict[str, GateState] = field(default_factory=dict)
    consent: dict[str, Consent] = field(default_factory=dict)
    sold_ms: int | None = None
    left: str | None = None
    """``sold`` or ``consent_withdrawn`` once the owner left the journey, else None."""
    contacts_ms: list[int] = field(default_factory=list)
    """Event times of the alerts raised within the budget window."""
    open_alerts: list[OpenAlert] = field(default_factory=list)
    live_ms: int | None = None
    """Event time of the vehicle's first signal newer than every dealer visit folded (one made
    from telemetry); None while only the service history was read back. No alert is raised for
    an instant before it."""
    newest_visit_ms: int = 0
    """Event time of the newest dealer visit folded (0: none)."""
    held_visits: list[HeldVisit] = field(default_factory=list)
    """Visits newer than the vehicle's signals can vouch for, in time order
    (:func:`processors.journey.logic.process_batch`)."""
    wake_ms: int | None = WAKE_UNKNOWN
    """When the batch that left this state said to take the vehicle up again without an input
    (:func:`processors.journey.clock.next_wake_ms`; None: nothing timed); :data:`WAKE_UNKNOWN`
    when not kept (a new state, an owner of several vehicles, whose next instant moves with
    the other vehicles' contacts). Saves working it out again at the vehicle's next input."""

    def gate(self, key: str) -> GateState:
        found = self.gates.get(key)
        if found is None:
            found = self.gates[key] = GateState(key)
        return found

    def is_open(self, key: str) -> bool:
        g = self.gates.get(key)
        return g is not None and g.open

    def granted(self, purpose: str) -> bool:
        """Consent to ``purpose`` in force at the state's instant: a grant counts from its
        time (it may be read before signals older than it); a withdrawal stops at once."""
        c = self.consent.get(purpose)
        return c is not None and c.granted and c.changed_ms <= self.as_of_ms

    def to_bytes(self) -> bytes:
        """The state as JSON (what ``journey_state.state`` holds): msgspec writes dataclasses
        natively, the JSON ``dataclasses.asdict`` and orjson gave, several times cheaper."""
        return to_json(self)

    @classmethod
    def from_bytes(cls, data: bytes | str) -> VehicleJourney:
        raw: dict[str, Any] = orjson.loads(data)
        f = raw["facts"]
        facts = Facts(
            warranty={k: WarrantyFact(**v) for k, v in f["warranty"].items()},
            service=None if f["service"] is None else ServiceFact(**f["service"]),
            equity=None if f["equity"] is None else EquityFact(**f["equity"]),
            faults={k: FaultFact(**v) for k, v in f["faults"].items()},
            odometer_m=f["odometer_m"],
        )
        return cls(
            vin=raw["vin"],
            dealer_id=raw["dealer_id"],
            as_of_ms=raw["as_of_ms"],
            facts=facts,
            gates={k: GateState(**v) for k, v in raw["gates"].items()},
            consent={k: Consent(**v) for k, v in raw["consent"].items()},
            sold_ms=raw["sold_ms"],
            left=raw["left"],
            contacts_ms=list(raw["contacts_ms"]),
            open_alerts=[OpenAlert(**a) for a in raw["open_alerts"]],
            live_ms=raw.get("live_ms"),
            newest_visit_ms=int(raw.get("newest_visit_ms", 0)),
            held_visits=[HeldVisit(**h) for h in raw.get("held_visits", [])],
            wake_ms=raw.get("wake_ms", WAKE_UNKNOWN),
        )


to_json: Callable[[Any], bytes] = msgspec.json.Encoder().encode
"""A value as JSON, dataclasses as objects of their fields (``journey_state.state``, the
timeline's rows)."""

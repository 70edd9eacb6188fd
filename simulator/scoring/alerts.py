"""Dealer alerts against the simulator's truth (``journeygate score-alerts``): recall and
precision of the warranty-ending, service-due and equity-positive alerts, contacts per owner,
consent violations and repeated chases of lapsed owners.

Read-only use of a truth file (``journeygate simulate --truth FILE``; a horizon makes the dates
after ``now`` known) and of the store's ``alerts`` table (the same records as ``dealer.alerts``).
The definitions are in docs/journey.md ("Measured against the truth"); the gate windows below
are the shipped defaults of ``processors/journey/alert_rules.toml``, restated here because the
scorer judges the world, not the processor's configuration.

A gate *truly holds* on a day when the world's own figures meet the gate's exit condition (the
looser one: an alert raised inside the hysteresis band is not wrong); a vehicle *truly entered*
it when they meet its entry condition. Precision: alerts of a type whose gate truly held on the
day they were raised. Recall: vehicles (and coverages) whose gate truly opened on a day of the
scored window, with the alert's consent from that day on and still with their owner, that got an
alert of that type (an upgrade window counts for equity: it covers its parts).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from rich.table import Table

from database.db import connect_migrated
from kernel.errors import ConfigError
from reference.catalog import Catalog
from schemas.alerts import CONSENT_OF_PURPOSE
from simulator.truth.read import damaged_line

WARRANTY_EARLY_DAYS, WARRANTY_EARLY_KM = 30, 1_500.0
"""The first warned stage: a warranty-ending alert is due from here on, not at the gate's entry
(45 days or 2,500 km: the gate opens early so that a wobbling forecast does not flap)."""
WARRANTY_EXIT_DAYS, WARRANTY_EXIT_KM = 60, 3_500.0
SERVICE_ENTER_DAYS, SERVICE_EXIT_DAYS = 30, 45
SERVICE_OVERDUE_GRACE_DAYS = 7
"""A service-due alert raised up to a week after the true due date still counts (the owner's
dealer learns of a visit only when it is invoiced)."""
DEPOSIT_SHARE = 0.10
EQUITY_ENTER, EQUITY_EXIT = 1.0, 0.8
BUDGET, BUDGET_WINDOW_DAYS = 2, 30
LAPSE_AFTER_DAYS_OVERDUE = 60
WARMUP_DAYS = 7
"""Recall counts gates that truly opened from the period's start + this (the pipeline needs a
few days of odometer to forecast) to ``now`` - :data:`GRACE_DAYS`."""
GRACE_DAYS = 2
SCORED = ("warranty_ending", "service_due", "equity_positive")


@dataclass(slots=True)
class _Vehicle:
    vin: str
    delivery: date
    body: str = ""
    powertrain: str = ""
    msrp_usd: float = 0.0
    consent0: dict[str, bool] = field(default_factory=dict)
    consent_changes: list[tuple[int, str, bool]] = field(default_factory=list)
    first_day: date | None = None
    odometer_m: list[int] = field(default_factory=list)
    warranty: dict[str, dict[str, Any]] = field(default_factory=dict)
    services: list[tuple[int, date, str]] = field(default_factory=list)
    """(ts_ms, due_date, where) of every service, period and hidden future."""
    due_at_now: date | None = None
    finance: dict[str, Any] = field(default_factory=dict)
    value_factor: float = 1.0
    trade_in_ms: int | None = None
    last_service_where_before: dict[int, str] = field(default_factory=dict)
    owner_id: str = ""
    """Who owns it (truth ``owner.owner_id``; the VIN in truth files without one)."""

    def odometer_on(self, day: date) -> float | None:
        if self.first_day is None or not self.odometer_m:
            return None
        i = (day - self.first_day).days
        return float(self.odometer_m[min(max(i, 0), len(self.odometer_m) - 1)])

    def consent_on(self, purpose: str, ms: int) -> bool:
        granted = self.consent0.get(purpose, False)
        for at_ms, p, g in self.consent_changes:
            if p == purpose and at_ms <= ms:
                granted = g
        return granted

    def due_after(self, ms: int) -> date | None:
        for ts, due, _ in self.services:
            if ts > ms:
                return due
        return self.due_at_now

    def last_where_before(self, ms: int) -> str | None:
        where = None
        for ts, _, w in self.services:
            if ts <= ms:
                where = w
        return where


@dataclass(frozen=True, slots=True)
class AlertTruth:
    start: datetime
    now: datetime
    currency_per_usd: float
    vehicles: dict[str, _Vehicle]


@dataclass(frozen=True, slots=True)
class StoredAlert:
    alert_id: str
    vin: str
    alert_type: str
    subject: str | None
    purpose: str
    created: datetime


def _ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)


def _day(ms: int) -> date:
    return datetime.fromtimestamp(ms / 1000, UTC).date()


def read_alert_truth(path: Path) -> AlertTruth:
    """The lines the alert scorer reads; :class:`ConfigError` (one line) if not a truth file."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read truth file {path}: {exc.strerror or exc}") from None
    header: dict[str, Any] | None = None
    start = now = datetime.min.replace(tzinfo=UTC)
    vehicles: dict[str, _Vehicle] = {}
    futures: dict[str, tuple[int, dict[str, Any]]] = {}
    for number, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            doc = orjson.loads(line)
        except orjson.JSONDecodeError:
            raise ConfigError(f"truth file {path}: line {number} is not JSON") from None
        try:
            kind = doc.get("type") if isinstance(doc, dict) else None
            if kind == "header":
                header = doc
                start, now = (
                    datetime.fromisoformat(doc["start"]),
                    datetime.fromisoformat(doc["now"]),
                )
            elif kind == "vehicle":
                v = vehicles.setdefault(doc["vin"], _Vehicle(doc["vin"], date.min))
                v.delivery = date.fromisoformat(doc["delivery_date"])
                v.body, v.powertrain, v.msrp_usd = doc["body"], doc["powertrain"], doc["msrp_usd"]
                v.consent0 = {str(k): bool(x) for k, x in doc["consent"].items()}
                v.warranty = {w["coverage"]: w for w in doc["warranty"]}
                v.finance = doc["finance"]
                v.owner_id = str(doc.get("owner", {}).get("owner_id") or doc["vin"])
            elif kind == "trajectory":
                v = vehicles[doc["vin"]]
                v.first_day, v.odometer_m = date.fromisoformat(doc["first_day"]), doc["odometer_m"]
            elif kind in ("event", "future_event"):
                v = vehicles[doc["vin"]]
                if doc["event"] == "service":
                    v.services.append((int(doc["ts_ms"]), date.fromisoformat(doc["due_date"]),
                                       str(doc["where"])))  # fmt: skip
                elif doc["event"] == "consent_change":
                    v.consent_changes.append((int(doc["ts_ms"]), doc["purpose"], doc["granted"]))
                elif doc["event"] == "trade_in" and v.trade_in_ms is None:
                    v.trade_in_ms = int(doc["ts_ms"])
            elif kind == "vehicle_now":
                v = vehicles[doc["vin"]]
                # The car's list price as built (options), its condition and the market.
                v.value_factor = (
                    float(doc.get("options_factor", 1.0))
                    * float(doc["vehicle_factor"])
                    * float(doc["market_factor"])
                )
                service = doc.get("service") or {}
                if service.get("due_date"):
                    v.due_at_now = date.fromisoformat(service["due_date"])
            elif kind == "future":
                futures[doc["vin"]] = (number, doc)
        except (KeyError, TypeError, ValueError) as exc:
            raise damaged_line(path, number, doc, exc) from None
    if header is None or header.get("format") != "journeygate-simulator-truth":
        raise ConfigError(f"{path} is not a journeygate simulator truth file (no header line)")
    for vin, (number, doc) in futures.items():
        try:
            v = vehicles[vin]
            for w in doc["warranty"]:
                v.warranty[w["coverage"]] = w
            if v.first_day is not None:
                gap = (date.fromisoformat(doc["first_day"]) - v.first_day).days
                v.odometer_m = v.odometer_m[:gap] + list(doc["odometer_m"])
        except (KeyError, TypeError, ValueError) as exc:
            raise damaged_line(path, number, doc, exc) from None
    for v in vehicles.values():
        v.services.sort()
        v.consent_changes.sort()
    return AlertTruth(
        start,
        now,
        float(header.get("currency_per_usd") or 1.0),
        vehicles,
    )


_ALERTS = """
SELECT alert_id, vin, alert_type, subject, purpose, created_ts FROM alerts ORDER BY created_ts
"""


def read_stored_alerts(database_url: str) -> list[StoredAlert]:
    with connect_migrated(database_url) as conn:
        rows = conn.execute(_ALERTS).fetchall()
    out = []
    for aid, vin, kind, subject, purpose, created in rows:
        assert isinstance(created, datetime)
        out.append(StoredAlert(str(aid), str(vin), str(kind), None if subject is None
                               else str(subject), str(purpose), created))  # fmt: skip
    return out


# --- when does a gate truly hold ----------------------------------------------------------


def _warranty_state(v: _Vehicle, cov: str, day: date) -> tuple[bool, bool]:
    """(alert due: the early stage, exit-band condition) of ``warranty_ending:cov`` on ``day``."""
    w = v.warranty.get(cov)
    if w is None:
        return False, False
    ends = w.get("expires_on")
    if ends is not None and date.fromisoformat(ends) <= day:
        return False, False
    days = (date.fromisoformat(ends) - day).days if ends else 10**6
    odo = v.odometer_on(day)
    km = float(w["limit_km"]) - odo / 1000.0 if odo is not None else math.inf
    due = days <= WARRANTY_EARLY_DAYS or km <= WARRANTY_EARLY_KM
    return due, due or days <= WARRANTY_EXIT_DAYS or km <= WARRANTY_EXIT_KM


def _service_state(v: _Vehicle, day: date) -> tuple[bool, bool]:
    ms = _ms(datetime.combine(day, datetime.min.time(), UTC))
    due = v.due_after(ms)
    if due is None:
        return False, False
    days = (due - day).days
    enter = 0 <= days <= SERVICE_ENTER_DAYS
    return enter, -SERVICE_OVERDUE_GRACE_DAYS <= days <= SERVICE_EXIT_DAYS


def _equity_state(v: _Vehicle, catalog: Catalog, day: date) -> tuple[bool, bool]:
    from simulator.world.owners import FinanceContract

    odo = v.odometer_on(day)
    if odo is None or not v.finance:
        return False, False
    f = v.finance
    contract = FinanceContract(
        f["kind"], date.fromisoformat(f["start_date"]), f["price_usd"], f["deposit_usd"],
        f["principal_usd"], f["apr_pct"], f["term_months"], f["balloon_usd"],
        f["monthly_payment_usd"],
    )  # fmt: skip
    age = max(0.0, (day - v.delivery).days / 365.25)
    share = float(catalog.depreciation.value_share(v.body, v.powertrain, age, odo / 1000.0))
    value = v.msrp_usd * share * v.value_factor
    equity = value - contract.balance_usd(day)
    deposit = DEPOSIT_SHARE * value
    return equity >= EQUITY_ENTER * deposit, equity >= EQUITY_EXIT * deposit


def _state(
    kind: str, v: _Vehicle, subject: str | None, day: date, catalog: Catalog
) -> tuple[bool, bool]:
    if kind == "warranty_ending":
        return _warranty_state(v, subject or "", day)
    if kind == "service_due":
        return _service_state(v, day)
    return _equity_state(v, catalog, day)


def _truly_lapsed(v: _Vehicle, day: date) -> bool:
    """The owner's service is overdue by more than the lapse threshold on ``day``."""
    due = v.due_after(_ms(datetime.combine(day, datetime.min.time(), UTC)))
    return due is not None and (day - due).days > LAPSE_AFTER_DAYS_OVERDUE


# --- the score ----------------------------------------------------------------------------


@dataclass(slots=True)
class _Counts:
    alerts: int = 0
    true_alerts: int = 0
    entered: int = 0
    entered_alerted: int = 0
    owner_budget: int = 0
    """Missed, and left out: the owner's budget went to their other vehicles."""
    false_examples: list[str] = field(default_factory=list)
    missed_examples: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        def ratio(a: int, b: int) -> float | None:
            return round(a / b, 4) if b else None

        return {
            "alerts": self.alerts,
            "true_alerts": self.true_alerts,
            "precision": ratio(self.true_alerts, self.alerts),
            "entered": self.entered,
            "entered_alerted": self.entered_alerted,
            "recall": ratio(self.entered_alerted, self.entered),
            "left_out_owner_budget": self.owner_budget,
            "false_examples": self.false_examples[:5],
            "missed_examples": self.missed_examples[:5],
        }


def _purpose_of(kind: str) -> str:
    return "marketing" if kind in ("equity_positive", "upgrade_window") else "service"


def score_alerts(truth: AlertTruth, alerts: list[StoredAlert], catalog: Catalog) -> dict[str, Any]:
    """The alert score as a JSON-ready document (docs/journey.md)."""
    fleet = truth.vehicles
    mine = [a for a in alerts if a.vin in fleet]
    by_vin: dict[str, list[StoredAlert]] = defaultdict(list)
    for a in mine:
        by_vin[a.vin].append(a)
    counts = {k: _Counts() for k in SCORED}
    # Precision: the gate truly holds (exit band) on the day the alert was raised.
    for a in mine:
        if a.alert_type not in counts:
            continue
        c = counts[a.alert_type]
        c.alerts += 1
        if _state(a.alert_type, fleet[a.vin], a.subject, a.created.date(), catalog)[1]:
            c.true_alerts += 1
        else:
            c.false_examples.append(a.alert_id)
    # Recall: gates that truly opened within the scored window.
    first = truth.start.date() + timedelta(days=WARMUP_DAYS)
    last = truth.now.date() - timedelta(days=GRACE_DAYS)
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    now_ms = _ms(truth.now)
    others = _others_alerts(fleet, by_vin)
    for vin, v in sorted(fleet.items()):
        if v.trade_in_ms is not None and v.trade_in_ms <= now_ms:
            continue
        subjects: list[tuple[str, str | None]] = [
            ("warranty_ending", c) for c in sorted(v.warranty)
        ]
        subjects += [("service_due", None), ("equity_positive", None)]
        for kind, subject in subjects:
            opened = next((d for d in days if _state(kind, v, subject, d, catalog)[0]), None)
            if opened is None:
                continue
            consent = CONSENT_OF_PURPOSE[_purpose_of(kind)]
            opened_ms = _ms(datetime.combine(opened, datetime.min.time(), UTC))
            if not v.consent_on(consent, opened_ms) or any(
                p == consent and not g and ts <= now_ms for ts, p, g in v.consent_changes
            ):
                continue
            if v.last_where_before(opened_ms) == "independent" or _truly_lapsed(v, opened):
                continue  # left for an independent garage, or lapsed: silence by design
            c = counts[kind]
            got = any(_covers(a, kind, subject, v, catalog) for a in by_vin.get(vin, []))
            if not got and _budget_spent_elsewhere(others.get(vin, []), opened_ms):
                c.owner_budget += 1  # the owner heard of another of their vehicles: by design
                continue
            c.entered += 1
            if got:
                c.entered_alerted += 1
            else:
                c.missed_examples.append(f"{vin}:{kind}{':' + subject if subject else ''}")
    return {
        "vehicles": len(fleet),
        "period": {"start": truth.start.isoformat(), "now": truth.now.isoformat()},
        "alerts": len(mine),
        "by_type": dict(sorted(_by_type(mine).items())),
        "scored": {k: counts[k].as_json() for k in SCORED},
        "contacts": _contacts(fleet, by_vin, truth),
        "consent_violations": _consent_violations(fleet, mine),
        "repeated_chases": _repeated_chases(fleet, by_vin),
    }


def _others_alerts(
    fleet: dict[str, _Vehicle], by_vin: dict[str, list[StoredAlert]]
) -> dict[str, list[int]]:
    """Per vehicle of an owner of several, the times (epoch ms) of the alerts to the owner's
    other vehicles."""
    vehicles: dict[str, list[str]] = defaultdict(list)
    for vin, v in fleet.items():
        vehicles[v.owner_id or vin].append(vin)
    out: dict[str, list[int]] = {}
    for group in vehicles.values():
        if len(group) > 1:
            for vin in group:
                out[vin] = [_ms(a.created) for w in group if w != vin for a in by_vin.get(w, [])]
    return out


def _budget_spent_elsewhere(others_ms: list[int], opened_ms: int) -> bool:
    """The owner's other vehicles got the budget's alerts within a window of the gate's opening
    (30 days before to 30 days after): the journey held this vehicle's alert to the owner's
    budget (docs/journey.md, "The owner's budget")."""
    window = BUDGET_WINDOW_DAYS * 86_400_000
    return sum(1 for t in others_ms if opened_ms - window < t <= opened_ms + window) >= BUDGET


def _covers(a: StoredAlert, kind: str, subject: str | None, v: _Vehicle, catalog: Catalog) -> bool:
    """Whether alert ``a`` told the dealer of gate ``kind`` (``subject``): an alert of that type
    (and coverage), or an upgrade window, which covers the stages of its parts pending when it
    is raised (equity positive always is one; a warranty ending is when that coverage's gate
    truly held on the day)."""
    if a.alert_type == kind and (subject is None or a.subject == subject):
        return True
    if a.alert_type != "upgrade_window":
        return False
    if kind == "equity_positive":
        return True
    return kind == "warranty_ending" and _state(kind, v, subject, a.created.date(), catalog)[1]


def _by_type(alerts: list[StoredAlert]) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for a in alerts:
        out[a.alert_type] += 1
    return out


def _contacts(
    fleet: dict[str, _Vehicle], by_vin: dict[str, list[StoredAlert]], truth: AlertTruth
) -> dict[str, Any]:
    """Alerts per owner per 30 days, across all of an owner's vehicles (the budget is the
    owner's): the fleet's mean and the most any owner got in any window."""
    window = timedelta(days=BUDGET_WINDOW_DAYS)
    most = 0
    over: list[str] = []
    by_owner: dict[str, list[StoredAlert]] = defaultdict(list)
    for vin, alerts in by_vin.items():
        by_owner[fleet[vin].owner_id if vin in fleet else vin] += alerts
    for owner, alerts in by_owner.items():
        times = sorted(a.created for a in alerts)
        for i, t in enumerate(times):
            n = sum(1 for u in times[i:] if u - t < window)
            most = max(most, n)
            if n > BUDGET and owner not in over:
                over.append(owner)
    months = max((truth.now - truth.start).total_seconds() / 86400 / BUDGET_WINDOW_DAYS, 1e-9)
    total = sum(len(a) for a in by_vin.values())
    owners = len({v.owner_id or v.vin for v in fleet.values()})
    return {
        "budget": BUDGET,
        "window_days": BUDGET_WINDOW_DAYS,
        "mean_per_owner_per_month": round(total / owners / months, 4) if fleet else 0.0,
        "mean_per_alerted_owner_per_month": round(total / max(len(by_owner), 1) / months, 4),
        "max_in_any_window": most,
        "owners_over_budget": len(over),
    }


def _consent_violations(fleet: dict[str, _Vehicle], alerts: list[StoredAlert]) -> dict[str, Any]:
    bad = [
        a.alert_id
        for a in alerts
        if not fleet[a.vin].consent_on(CONSENT_OF_PURPOSE[a.purpose], _ms(a.created))
    ]
    return {"count": len(bad), "examples": bad[:5]}


def _repeated_chases(
    fleet: dict[str, _Vehicle], by_vin: dict[str, list[StoredAlert]]
) -> dict[str, Any]:
    """Alerts raised after a lapse alert and before the owner came back to the dealer (truth):
    a dealer visit after the lapsed service fell due, i.e. after the lapse alert's time minus
    the lapse threshold (a visit the dealer had not yet invoiced when the lapse alert went out
    means the owner never lapsed; what follows is not a chase)."""
    bad: list[str] = []
    lapses = 0
    back_ms = LAPSE_AFTER_DAYS_OVERDUE * 86_400_000
    for vin, alerts in by_vin.items():
        dealer_visits = [ts for ts, _, where in fleet[vin].services if where == "dealer"]
        lapse_ms: int | None = None
        for a in sorted(alerts, key=lambda x: x.created):
            ms = _ms(a.created)
            if lapse_ms is not None and any(lapse_ms - back_ms < ts <= ms for ts in dealer_visits):
                lapse_ms = None  # came back
            if lapse_ms is not None:
                bad.append(a.alert_id)
            elif a.alert_type == "lapsed":
                lapse_ms = ms
                lapses += 1
    return {"lapse_alerts": lapses, "count": len(bad), "examples": bad[:5]}


def alerts_score_table(doc: dict[str, Any]) -> Table:
    """The score as a table (``journeygate score-alerts`` without ``--json``)."""
    table = Table(title=f"Dealer alerts against the truth ({doc['vehicles']} vehicles)")
    for column in ("figure", "value"):
        table.add_column(column)
    for kind, s in doc["scored"].items():
        prec, rec = s["precision"], s["recall"]
        shown = "-" if prec is None else f"{prec:.3f} ({s['true_alerts']}/{s['alerts']})"
        table.add_row(f"{kind}: precision", shown)
        shown = "-" if rec is None else f"{rec:.3f} ({s['entered_alerted']}/{s['entered']})"
        table.add_row(f"{kind}: recall", shown)
    c = doc["contacts"]
    fleet, alerted = c["mean_per_owner_per_month"], c["mean_per_alerted_owner_per_month"]
    table.add_row("alerts per owner per month (fleet / alerted owners)", f"{fleet} / {alerted}")
    table.add_row(
        f"most alerts to one owner in {c['window_days']} days (budget {c['budget']})",
        str(c["max_in_any_window"]),
    )
    table.add_row("consent violations", str(doc["consent_violations"]["count"]))
    r = doc["repeated_chases"]
    table.add_row("repeated chases (lapse alerts)", f"{r['count']} ({r['lapse_alerts']})")
    return table

"""Alert rules: ``alert_rules.toml`` (the documented defaults) or an operator's file, loaded and
validated once at start.

A bad file stops the processor with one :class:`~kernel.errors.ConfigError` line naming the
file, the entry and the field (``alert_rules.toml: alerts.big_bill field priority: must be an
integer``), as the reference catalog does; an unknown field is an error, not a silent default.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import MappingProxyType

from kernel.errors import ConfigError
from reference.fields import ReferenceDataError, Table, check_version
from schemas.alerts import PURPOSES, SEVERITIES

DEFAULT_RULES_PATH = Path(__file__).with_name("alert_rules.toml")
RULES_VERSION = 1

GATES = (
    "warranty_ending",
    "out_of_warranty",
    "service_due",
    "service_overdue",
    "big_bill",
    "equity_positive",
    "fault_active",
    "upgrade_window",
    "lapsed",
)
"""Every gate; each has an alert type of the same name."""
UPGRADE_PARTS = ("warranty_ending", "out_of_warranty", "big_bill", "service_overdue")
_PARTS_ALLOWED = tuple(g for g in GATES if g not in ("upgrade_window", "lapsed"))


@dataclass(frozen=True, slots=True)
class Contact:
    budget: int
    budget_window_days: int
    min_days_between: int
    reentry_cooldown_days: int


@dataclass(frozen=True, slots=True)
class Stages:
    early_days: int
    early_km: float
    near_days: int
    near_km: float
    deadline_days: int


@dataclass(frozen=True, slots=True)
class Window:
    """A gate opened within ``enter_*`` and closed only beyond ``exit_*`` (hysteresis)."""

    enter_days: int
    enter_km: float
    exit_days: int
    exit_km: float


@dataclass(frozen=True, slots=True)
class BigBill:
    horizon_days: int
    exit_ratio: float
    amounts: Mapping[str, float]


@dataclass(frozen=True, slots=True)
class Equity:
    deposit_pct_of_value: float
    enter_ratio: float
    exit_ratio: float


@dataclass(frozen=True, slots=True)
class AlertType:
    purpose: str
    severity: str
    priority: int
    expires_days: int
    action: str


@dataclass(frozen=True, slots=True)
class Rules:
    contact: Contact
    stages: Stages
    warranty_ending: Window
    service_due: Window
    lapse_after_days_overdue: int
    big_bill: BigBill
    equity: Equity
    fault_severities: tuple[str, ...]
    upgrade_requires: tuple[str, ...]
    upgrade_any_of: tuple[str, ...]
    alerts: Mapping[str, AlertType]


def _int(t: Table, key: str, minimum: int = 0) -> int:
    return t.integer(key, minimum=minimum)


def _window(t: Table) -> Window:
    w = Window(
        enter_days=_int(t, "enter_days"),
        enter_km=t.number("enter_km", minimum=0),
        exit_days=_int(t, "exit_days"),
        exit_km=t.number("exit_km", minimum=0),
    )
    if w.exit_days < w.enter_days:
        t.fail("exit_days", f"must be >= enter_days ({w.enter_days}), got {w.exit_days}")
    if w.exit_km < w.enter_km:
        t.fail("exit_km", f"must be >= enter_km ({w.enter_km:g}), got {w.exit_km:g}")
    t.close()
    return w


def _contact(t: Table) -> Contact:
    c = Contact(
        budget=_int(t, "budget", 1),
        budget_window_days=_int(t, "budget_window_days", 1),
        min_days_between=_int(t, "min_days_between"),
        reentry_cooldown_days=_int(t, "reentry_cooldown_days"),
    )
    t.close()
    return c


def _stages(t: Table) -> Stages:
    s = Stages(
        early_days=_int(t, "early_days", 1),
        early_km=t.number("early_km", minimum=0),
        near_days=_int(t, "near_days"),
        near_km=t.number("near_km", minimum=0),
        deadline_days=_int(t, "deadline_days"),
    )
    if not s.early_days > s.near_days >= s.deadline_days:
        t.fail("near_days", "stages must come in order: early_days > near_days >= deadline_days")
    if s.near_km > s.early_km:
        t.fail("near_km", f"must be <= early_km ({s.early_km:g}), got {s.near_km:g}")
    t.close()
    return s


def _big_bill(t: Table) -> BigBill:
    amounts_t = t.table("amounts")
    amounts = {}
    for code in amounts_t.names():
        if len(code) != 3 or not code.isupper():
            amounts_t.fail(code, "must be an ISO 4217 currency code (three capitals)")
        amounts[code] = amounts_t.number(code, positive=True)
    amounts_t.close()
    b = BigBill(
        horizon_days=_int(t, "horizon_days", 1),
        exit_ratio=t.number("exit_ratio", minimum=0, maximum=1),
        amounts=MappingProxyType(amounts),
    )
    t.close()
    return b


def _equity(t: Table) -> Equity:
    e = Equity(
        deposit_pct_of_value=t.number("deposit_pct_of_value", positive=True, maximum=100),
        enter_ratio=t.number("enter_ratio", positive=True),
        exit_ratio=t.number("exit_ratio", minimum=0),
    )
    if e.exit_ratio > e.enter_ratio:
        t.fail("exit_ratio", f"must be <= enter_ratio ({e.enter_ratio:g})")
    t.close()
    return e


def _alert(t: Table) -> AlertType:
    a = AlertType(
        purpose=t.text("purpose", choices=PURPOSES),
        severity=t.text("severity", choices=SEVERITIES),
        priority=_int(t, "priority"),
        expires_days=_int(t, "expires_days", 1),
        action=t.text("action"),
    )
    t.close()
    return a


def parse_rules(data: object) -> Rules:
    """Rules from parsed TOML; :class:`ReferenceDataError` naming entry and field."""
    top = Table(data)
    check_version(top, RULES_VERSION)
    alerts_t = top.table("alerts")
    alerts = {}
    for name in alerts_t.names():
        if name not in GATES:
            alerts_t.fail(name, f"unknown alert type; use one of {', '.join(GATES)}")
        alerts[name] = _alert(alerts_t.table(name))
    missing = [g for g in GATES if g not in alerts]
    if missing:
        alerts_t.fail(missing[0], "missing")
    alerts_t.close()
    lapsed = top.table("lapsed")
    lapse_days = _int(lapsed, "after_days_overdue", 1)
    lapsed.close()
    fault = top.table("fault_active")
    severities = fault.texts("severities", choices=("info", "low", "medium", "high", "critical"))
    fault.close()
    upgrade = top.table("upgrade_window")
    requires = upgrade.texts("requires", choices=_PARTS_ALLOWED)
    any_of = upgrade.texts("any_of", choices=_PARTS_ALLOWED)
    upgrade.close()
    rules = Rules(
        contact=_contact(top.table("contact")),
        stages=_stages(top.table("stages")),
        warranty_ending=_window(top.table("warranty_ending")),
        service_due=_window(top.table("service_due")),
        lapse_after_days_overdue=lapse_days,
        big_bill=_big_bill(top.table("big_bill")),
        equity=_equity(top.table("equity_positive")),
        fault_severities=severities,
        upgrade_requires=requires,
        upgrade_any_of=any_of,
        alerts=MappingProxyType(alerts),
    )
    top.close()
    return rules


def load_rules(path: Path | None = None) -> Rules:
    """The rules of ``path`` (default: the shipped ``alert_rules.toml``).

    Raises ConfigError with one line ``FILE: ENTRY field FIELD: PROBLEM``.
    """
    where = path if path is not None else DEFAULT_RULES_PATH
    try:
        data = tomllib.loads(where.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{where}: not UTF-8 text (byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: not valid TOML: {exc}") from None
    try:
        return parse_rules(data)
    except ReferenceDataError as exc:
        raise ConfigError(f"{where}: {exc}") from None


@cache
def default_rules() -> Rules:
    return load_rules()


SERVICE_GATES = ("service_due", "service_overdue", "big_bill", "lapsed")
"""Gates a dealer visit closes (the next service signal opens them again if still true)."""
__all__ = ["GATES", "SERVICE_GATES", "UPGRADE_PARTS", "Rules", "default_rules", "load_rules"]

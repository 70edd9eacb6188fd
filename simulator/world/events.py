"""What really happened to a vehicle: typed events the truth file records (``event`` lines).

Each event knows its vehicle, when it happened (``ts_ms``, epoch ms UTC, true time) and how it
is written as JSON. Sizes and costs carry their unit in the field name.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, ClassVar


@dataclass(frozen=True, slots=True)
class BillItem:
    """One line of a service bill. ``kind`` is ``scheduled`` (the scheduled service), ``wear``
    (``code``: the wear item id of ``reference/data/wear.toml``), ``repair`` (``code``: the DTC
    repaired) or ``other`` (an unrelated small repair). ``price_usd`` is the line's price at
    that garage; ``cost_usd`` what the owner paid: 0 when the warranty ``covered_by`` paid."""

    item: str
    cost_usd: float
    code: str | None = None
    kind: str = "scheduled"
    price_usd: float | None = None
    covered_by: str | None = None

    @property
    def price(self) -> float:
        return self.cost_usd if self.price_usd is None else self.price_usd

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"item": self.item, "kind": self.kind}
        if self.code is not None:
            out["code"] = self.code
        out["price_usd"] = round(self.price, 2)
        out["cost_usd"] = round(self.cost_usd, 2)
        if self.covered_by is not None:
            out["covered_by"] = self.covered_by
        return out


@dataclass(frozen=True, slots=True)
class ServiceVisit:
    """A service: ``where`` is ``dealer`` or ``independent``; ``due_by`` names the limit
    (``distance`` or ``time``) that made it due on ``due_date``."""

    kind: ClassVar[str] = "service"
    vin: str
    ts_ms: int
    odometer_m: int
    where: str
    dealer_id: str | None
    due_date: date
    due_by: str
    behaviour: str
    items: tuple[BillItem, ...]
    responded: bool = False
    """The owner booked this visit at the dealer, on time, because the dealer reminded them
    (``[owners.response]``); False otherwise."""

    @property
    def bill_usd(self) -> float:
        """What the owner paid (warranty-covered lines count 0)."""
        return round(sum(i.cost_usd for i in self.items), 2)

    @property
    def visit_id(self) -> str:
        """A deterministic id: the same visit of the same run always has the same one."""
        return f"SIM-{self.vin}-{self.ts_ms}"

    def fields(self) -> dict[str, Any]:
        return {
            "visit_id": self.visit_id,
            "where": self.where,
            "dealer_id": self.dealer_id,
            "due_date": self.due_date.isoformat(),
            "due_by": self.due_by,
            "behaviour": self.behaviour,
            **({"responded": True} if self.responded else {}),
            "items": [i.as_json() for i in self.items],
            "price_usd": round(sum(i.price for i in self.items), 2),
            "bill_usd": self.bill_usd,
        }


@dataclass(frozen=True, slots=True)
class DtcRaised:
    """A diagnostic code became active; ``persistence`` is ``intermittent`` (clears itself)
    or ``until_service``."""

    kind: ClassVar[str] = "dtc_raised"
    vin: str
    ts_ms: int
    odometer_m: int
    code: str
    persistence: str
    repair: str
    repair_usd: float

    def fields(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "persistence": self.persistence,
            "repair": self.repair,
            "repair_usd": self.repair_usd,
        }


@dataclass(frozen=True, slots=True)
class DtcCleared:
    """A code stopped being active, by itself (``self``) or repaired at a service."""

    kind: ClassVar[str] = "dtc_cleared"
    vin: str
    ts_ms: int
    odometer_m: int
    code: str
    by: str

    def fields(self) -> dict[str, Any]:
        return {"code": self.code, "by": self.by}


@dataclass(frozen=True, slots=True)
class TradeIn:
    """The owner traded the vehicle in at ``dealer_id``; it stays parked on the lot afterwards."""

    kind: ClassVar[str] = "trade_in"
    vin: str
    ts_ms: int
    odometer_m: int
    dealer_id: str

    def fields(self) -> dict[str, Any]:
        return {"dealer_id": self.dealer_id}


@dataclass(frozen=True, slots=True)
class ConsentChange:
    """The owner granted or withdrew consent to one purpose."""

    kind: ClassVar[str] = "consent_change"
    vin: str
    ts_ms: int
    purpose: str
    granted: bool
    odometer_m: int | None = None

    def fields(self) -> dict[str, Any]:
        return {"purpose": self.purpose, "granted": self.granted}


@dataclass(frozen=True, slots=True)
class Reboot:
    """The telematics unit restarted: messages from ``ts_ms`` on carry ``boot_id``."""

    kind: ClassVar[str] = "reboot"
    vin: str
    ts_ms: int
    boot_id: str
    previous_boot_id: str
    previous_last_seq: int | None
    odometer_m: int | None = None

    def fields(self) -> dict[str, Any]:
        return {
            "boot_id": self.boot_id,
            "previous_boot_id": self.previous_boot_id,
            "previous_last_seq": self.previous_last_seq,
        }


@dataclass(frozen=True, slots=True)
class DeadZone:
    """No connectivity from ``ts_ms`` to ``end_ms``: what was due then went out at ``end_ms``."""

    kind: ClassVar[str] = "dead_zone"
    vin: str
    ts_ms: int
    end_ms: int
    held_messages: int
    held_samples: int
    odometer_m: int | None = None

    def fields(self) -> dict[str, Any]:
        return {
            "end_ms": self.end_ms,
            "held_messages": self.held_messages,
            "held_samples": self.held_samples,
        }


@dataclass(frozen=True, slots=True)
class ClockSkew:
    """The device clock was ``offset_ms`` off (device time = true time + offset) from ``ts_ms``
    to ``end_ms`` (true times). ``far_ahead``: set far into the future, messages rejected."""

    kind: ClassVar[str] = "clock_skew"
    vin: str
    ts_ms: int
    end_ms: int
    offset_ms: int
    far_ahead: bool
    odometer_m: int | None = None

    def fields(self) -> dict[str, Any]:
        return {"end_ms": self.end_ms, "offset_ms": self.offset_ms, "far_ahead": self.far_ahead}


Event = (
    ServiceVisit | DtcRaised | DtcCleared | TradeIn | ConsentChange | Reboot | DeadZone | ClockSkew
)

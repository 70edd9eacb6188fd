"""What the signals processor publishes: one :class:`Signal` per material change or event.

A signal's id is deterministic, ``{vin}:{kind}[:{subject}]:{as_of_ms}`` (the subject is the
warranty coverage, the fault code or the quality reason), so a batch processed again after a
crash publishes the same ids and consumers drop the repeats; ``signals`` stores each id once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from processors.signals.views import (
    EquityView,
    FaultView,
    Json,
    ServiceView,
    UsageView,
    WarrantyView,
)

KINDS = ("usage", "warranty", "service", "equity", "fault", "quality")


@dataclass(frozen=True, slots=True)
class FaultEvent:
    """A code that appeared (``raised``) or went away (``cleared``)."""

    event: str
    fault: FaultView

    def as_json(self) -> Json:
        return {"code": self.fault.code, "event": self.event, **_without_code(self.fault)}


@dataclass(frozen=True, slots=True)
class QualityNote:
    """A data-quality event: a rejected odometer reading, an unknown vehicle or model..."""

    reason: str
    detail: str

    def as_json(self) -> Json:
        return {"reason": self.reason, "detail": self.detail}


Payload = UsageView | WarrantyView | ServiceView | EquityView | FaultEvent | QualityNote


@dataclass(frozen=True, slots=True)
class Signal:
    signal_id: str
    vin: str
    dealer_id: str | None
    kind: str
    as_of_ms: int
    explanation: str
    payload: Payload

    def payload_json(self) -> Json:
        return self.payload.as_json()


def signal_id(vin: str, kind: str, subject: str | None, as_of_ms: int) -> str:
    """``{vin}:{kind}[:{subject}]:{as_of_ms}``."""
    middle = kind if subject is None else f"{kind}:{subject}"
    return f"{vin}:{middle}:{as_of_ms}"


def make_signal(
    vin: str,
    dealer_id: str | None,
    kind: str,
    subject: str | None,
    as_of_ms: int,
    explanation: str,
    payload: Payload,
) -> Signal:
    return Signal(
        signal_id(vin, kind, subject, as_of_ms),
        vin,
        dealer_id,
        kind,
        as_of_ms,
        explanation,
        payload,
    )


def _without_code(fault: FaultView) -> dict[str, Any]:
    data = fault.as_json()
    data.pop("code")
    return data

"""Dealer alerts on ``dealer.alerts`` (``schemas/dealer_alert.avsc``): typed records and codec.

A record either raises an alert (``action`` raised, with its :class:`AlertDetail`) or changes
the state of one raised before (``hidden`` when the owner withdrew consent for its purpose or
left the journey, ``expired``); a hidden or expired record carries no detail, so nothing of a
purpose without consent travels again. Keyed by dealer; a consumer keeps the latest record per
``alert_id``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from schemas.avro_write import compile_writer
from schemas.codec import CodecError, load_avro_schema, read_avro

ACTIONS = ("raised", "hidden", "expired")
PURPOSES = ("service", "marketing")
SEVERITIES = ("low", "medium", "high")
CONSENT_OF_PURPOSE = {"service": "service_reminders", "marketing": "marketing_offers"}
"""The owner's consent an alert of each purpose needs (purposes of ``vehicle.consent``)."""


@dataclass(frozen=True, slots=True)
class Figure:
    name: str
    value: float | None
    unit: str
    text: str

    def as_json(self) -> dict[str, Any]:
        """The figure as the alert's Avro record, the ``alerts`` table and webhooks carry it."""
        return {"name": self.name, "value": self.value, "unit": self.unit, "text": self.text}


@dataclass(frozen=True, slots=True)
class AlertDetail:
    reason: str
    action: str
    expires_at: datetime
    episode_id: str
    cause_signal_id: str | None
    figures: tuple[Figure, ...]


@dataclass(frozen=True, slots=True)
class AlertMessage:
    """One record of ``dealer.alerts``."""

    alert_id: str
    action: str
    vin: str
    dealer_id: str
    alert_type: str
    stage: str
    purpose: str
    severity: str
    priority: int
    at: datetime
    detail: AlertDetail | None


def _detail(d: AlertDetail | None) -> dict[str, Any] | None:
    if d is None:
        return None
    return {
        "reason": d.reason,
        "action": d.action,
        "expires_at": d.expires_at,
        "episode_id": d.episode_id,
        "cause_signal_id": d.cause_signal_id,
        "figures": [f.as_json() for f in d.figures],
    }


class AlertCodec:
    """Schemaless Avro of :class:`AlertMessage`; :class:`CodecError` for bad bytes or values."""

    def __init__(self) -> None:
        self._schema = load_avro_schema("dealer_alert")
        self._write = compile_writer(self._schema)  # fastavro's bytes (schemas.avro_write)

    def record(self, msg: AlertMessage) -> dict[str, Any]:
        """The Avro record of ``msg`` as a dictionary."""
        return {
            "alert_id": msg.alert_id,
            "action": msg.action,
            "vin": msg.vin,
            "dealer_id": msg.dealer_id,
            "alert_type": msg.alert_type,
            "stage": msg.stage,
            "purpose": msg.purpose,
            "severity": msg.severity,
            "priority": msg.priority,
            "at": msg.at,
            "detail": _detail(msg.detail),
        }

    def encode(self, msg: AlertMessage) -> bytes:
        record = self.record(msg)
        try:
            return self._write(record)
        except (ValueError, TypeError, AttributeError, OverflowError, struct.error) as exc:
            raise CodecError(f"cannot encode alert {msg.alert_id}: {exc}") from exc

    def decode(self, data: bytes) -> AlertMessage:
        rec: Any = read_avro(data, self._schema, "DealerAlert")
        d = rec["detail"]
        detail = (
            None
            if d is None
            else AlertDetail(
                reason=d["reason"],
                action=d["action"],
                expires_at=d["expires_at"],
                episode_id=d["episode_id"],
                cause_signal_id=d["cause_signal_id"],
                figures=tuple(
                    Figure(f["name"], f["value"], f["unit"], f["text"]) for f in d["figures"]
                ),
            )
        )
        return AlertMessage(
            alert_id=rec["alert_id"],
            action=rec["action"],
            vin=rec["vin"],
            dealer_id=rec["dealer_id"],
            alert_type=rec["alert_type"],
            stage=rec["stage"],
            purpose=rec["purpose"],
            severity=rec["severity"],
            priority=rec["priority"],
            at=rec["at"],
            detail=detail,
        )

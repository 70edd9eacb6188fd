"""Consent changes on ``vehicle.consent`` (``schemas/consent_change.avsc``): the typed record and
its Avro codec.

``journeygate registry import`` publishes one record for each consent change it stores (and for a
sale); the journey processor reads them to stop and hide alerts of a purpose at once. The id is
deterministic (``{vin}:{purpose or sold}:{changed_at_ms}``), so a repeat is recognised.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import fastavro

from schemas.codec import CodecError, load_avro_schema, read_avro

PURPOSES = ("service_reminders", "marketing_offers", "location")
KIND_CONSENT = "consent"
KIND_SOLD = "sold"


@dataclass(frozen=True, slots=True)
class ConsentChange:
    vin: str
    kind: str
    """``consent`` (a purpose granted or withdrawn) or ``sold``."""
    purpose: str | None
    granted: bool
    changed_at: datetime
    source: str

    @property
    def change_id(self) -> str:
        subject = self.purpose if self.kind == KIND_CONSENT else KIND_SOLD
        return f"{self.vin}:{subject}:{int(self.changed_at.timestamp() * 1000)}"


def consent_change(
    vin: str, purpose: str, granted: bool, changed_at: datetime, source: str
) -> ConsentChange:
    return ConsentChange(vin, KIND_CONSENT, purpose, granted, changed_at, source)


class ConsentCodec:
    """Schemaless Avro of :class:`ConsentChange`; :class:`CodecError` for bad bytes or values."""

    def __init__(self) -> None:
        self._schema = load_avro_schema("consent_change")

    def encode(self, change: ConsentChange) -> bytes:
        record = {
            "change_id": change.change_id,
            "vin": change.vin,
            "kind": change.kind,
            "purpose": change.purpose,
            "granted": change.granted,
            "changed_at": change.changed_at,
            "source": change.source,
        }
        out = io.BytesIO()
        try:
            fastavro.schemaless_writer(out, self._schema, record)
        except (ValueError, TypeError, AttributeError) as exc:
            raise CodecError(f"cannot encode consent change {change.change_id}: {exc}") from exc
        return out.getvalue()

    def decode(self, data: bytes) -> ConsentChange:
        rec: Any = read_avro(data, self._schema, "ConsentChange")
        if rec["kind"] == KIND_CONSENT and rec["purpose"] is None:
            raise CodecError(f"ConsentChange {rec['change_id']} of kind consent has no purpose")
        return ConsentChange(
            vin=rec["vin"],
            kind=rec["kind"],
            purpose=rec["purpose"],
            granted=rec["granted"],
            changed_at=rec["changed_at"],
            source=rec["source"],
        )

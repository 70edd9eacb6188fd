"""Completed service visits on ``vehicle.services``: the typed record and its Avro codec.

The contract is ``schemas/service_visit.avsc``. A visit is written by a dealer system (or by
``journeygate services import``, or the simulator for the visits its owners make at a dealer);
the signals processor reads it to reset the service schedule, the wear items and the faults the
visit covered, and to score the bill it had predicted. Visits are not on a hot path: fastavro
encodes and decodes them.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import fastavro

from schemas.codec import CodecError, load_avro_schema, read_avro

ITEM_KINDS = ("scheduled", "wear", "repair", "other")


@dataclass(frozen=True, slots=True)
class ServiceItem:
    """One invoiced line: ``code`` names the wear item or the repaired DTC."""

    kind: str
    code: str | None
    description: str
    amount: float


@dataclass(frozen=True, slots=True)
class ServiceVisitRecord:
    """One completed visit; every amount is in ``currency``."""

    visit_id: str
    vin: str
    visit_ts: datetime
    odometer_m: int
    dealer_id: str
    currency: str
    items: tuple[ServiceItem, ...]

    @property
    def invoiced_amount(self) -> float:
        return round(sum(i.amount for i in self.items), 2)

    def covers(self, kind: str) -> tuple[str, ...]:
        """The codes of the items of ``kind`` (wear item ids, or repaired DTCs)."""
        return tuple(i.code for i in self.items if i.kind == kind and i.code is not None)


class ServiceVisitCodec:
    """Schemaless Avro of :class:`ServiceVisitRecord`; :class:`CodecError` for bad bytes."""

    def __init__(self) -> None:
        self._schema = load_avro_schema("service_visit")

    def encode(self, visit: ServiceVisitRecord) -> bytes:
        record = {
            "visit_id": visit.visit_id,
            "vin": visit.vin,
            "visit_ts": visit.visit_ts,
            "odometer_m": visit.odometer_m,
            "dealer_id": visit.dealer_id,
            "currency": visit.currency,
            "items": [
                {"kind": i.kind, "code": i.code, "description": i.description, "amount": i.amount}
                for i in visit.items
            ],
            "invoiced_amount": visit.invoiced_amount,
        }
        out = io.BytesIO()
        try:
            fastavro.schemaless_writer(out, self._schema, record)
        except (ValueError, TypeError, AttributeError) as exc:
            raise CodecError(f"cannot encode service visit {visit.visit_id}: {exc}") from exc
        return out.getvalue()

    def decode(self, data: bytes) -> ServiceVisitRecord:
        rec: Any = read_avro(data, self._schema, "ServiceVisit")
        return ServiceVisitRecord(
            visit_id=rec["visit_id"],
            vin=rec["vin"],
            visit_ts=rec["visit_ts"],
            odometer_m=rec["odometer_m"],
            dealer_id=rec["dealer_id"],
            currency=rec["currency"],
            items=tuple(
                ServiceItem(i["kind"], i["code"], i["description"], i["amount"])
                for i in rec["items"]
            ),
        )

"""The registry file: one vehicle per CSV row or JSON line, parsed and checked (pure).

The format is documented in docs/registry.md. Both forms carry the same flat fields (see
:data:`FIELDS`); a JSON line may omit optional fields, a CSV file names its columns in its header.
Each rejected row names its line number and the first problem, so a file of thousands of rows
can be fixed in one pass.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from kernel.rowfile import RejectedRow, checked_rows
from kernel.vin import VIN_PATTERN

PURPOSES = ("service_reminders", "marketing_offers", "location")
POWERTRAINS = ("ice", "hybrid", "ev")
FINANCE_KINDS = ("cash", "loan", "lease", "pcp")
FIELDS = (
    "vin",
    "brand",
    "model",
    "model_year",
    "powertrain",
    "delivery_date",
    "delivery_odometer_km",
    "dealer_id",
    "market",
    "currency",
    "finance_kind",
    "finance_amount",
    "finance_apr_pct",
    "finance_term_months",
    "finance_start",
    "finance_balloon",
    *(f"consent_{p}" for p in PURPOSES),
    "consent_at",
    "list_price",
    "owner_id",
)
REQUIRED = ("vin", "brand", "model", "model_year", "powertrain", "delivery_date", "dealer_id")
_MARKET = re.compile(r"[A-Z]{2}")
_CURRENCY = re.compile(r"[A-Z]{3}")
OWNER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@-]{0,63}")
"""An owner id: 1-64 characters of letters, digits and ``. _ : @ -``, starting with a letter or
digit (the store's check on ``vehicles.owner_id``, migration 0015)."""
_TRUE, _FALSE = {"true", "yes", "1", "y"}, {"false", "no", "0", "n"}


@dataclass(frozen=True, slots=True)
class Finance:
    """How the vehicle was paid for; amounts in the vehicle's currency."""

    kind: str
    amount: Decimal | None = None
    apr_pct: Decimal | None = None
    term_months: int | None = None
    start: date | None = None
    balloon: Decimal | None = None


@dataclass(frozen=True, slots=True)
class VehicleRecord:
    """One accepted registry row."""

    vin: str
    brand: str
    model: str
    model_year: int
    powertrain: str
    delivery_date: date
    delivery_odometer_m: int
    dealer_id: str
    market: str
    currency: str
    finance: Finance
    consent: tuple[tuple[str, bool], ...]
    """The purposes the row sets, with the consent given (a purpose left blank is not changed)."""
    consent_at: datetime
    list_price: Decimal | None = None
    """The vehicle's list price as built (options included), in ``currency``; None if unknown."""
    owner_id: str | None = None
    """Who owns the vehicle, shared by all of an owner's vehicles (the contact budget is per
    owner); None: the vehicle is its own owner."""


class RowError(ValueError):
    """A row's first problem, in words."""


def parse_registry(text: str, *, json_lines: bool) -> Iterator[VehicleRecord | RejectedRow]:
    """Every row of a registry file, in order: a record, or the reason it was rejected."""
    rows = checked_rows(text, json_lines=json_lines, required=REQUIRED, check=parse_row)
    return (item for _, item in rows)


def parse_row(row: Mapping[str, Any]) -> VehicleRecord:
    """Check one row's fields; :class:`RowError` names the first field that is wrong."""
    unknown = sorted(set(row) - set(FIELDS))
    if unknown:
        raise RowError(f"unknown field {unknown[0]!r}")
    values = {k: _text(v) for k, v in row.items()}
    for name in REQUIRED:
        if not values.get(name):
            raise RowError(f"{name} is missing")
    vin = values["vin"]
    if VIN_PATTERN.fullmatch(vin) is None:
        raise RowError(f"vin {vin[:40]!r} is not 17 characters of [A-HJ-NPR-Z0-9]")
    powertrain = values["powertrain"]
    if powertrain not in POWERTRAINS:
        raise RowError(f"powertrain {powertrain!r} is not one of {', '.join(POWERTRAINS)}")
    model_year = _int(values, "model_year", 1980, 2100)
    delivery = _date(values, "delivery_date")
    odometer_km = _decimal(values, "delivery_odometer_km") or Decimal(0)
    market = values.get("market") or "US"
    currency = values.get("currency") or "USD"
    if _MARKET.fullmatch(market) is None:
        raise RowError(f"market {market!r} is not a two-letter country code")
    if _CURRENCY.fullmatch(currency) is None:
        raise RowError(f"currency {currency!r} is not a three-letter ISO 4217 code")
    consent = tuple(
        (p, _bool(values, f"consent_{p}")) for p in PURPOSES if values.get(f"consent_{p}")
    )
    consent_at = _datetime(values, "consent_at") or datetime.combine(delivery, time(), UTC)
    list_price = _decimal(values, "list_price")
    if list_price is not None and list_price <= 0:
        raise RowError(f"list_price {values['list_price']!r} is not a positive amount")
    owner_id = values.get("owner_id") or None
    if owner_id is not None and OWNER_ID.fullmatch(owner_id) is None:
        raise RowError(
            f"owner_id {owner_id[:40]!r} is not 1-64 characters of letters, digits and ._:@- "
            "(starting with a letter or digit)"
        )
    return VehicleRecord(
        vin=vin,
        brand=values["brand"],
        model=values["model"],
        model_year=model_year,
        powertrain=powertrain,
        delivery_date=delivery,
        delivery_odometer_m=int(odometer_km * 1000),
        dealer_id=values["dealer_id"],
        market=market,
        currency=currency,
        finance=_finance(values, delivery),
        consent=consent,
        consent_at=consent_at,
        list_price=list_price,
        owner_id=owner_id,
    )


def format_registry(records: list[VehicleRecord], *, json_lines: bool) -> str:
    """The file form of ``records``: what :func:`parse_registry` reads back unchanged."""
    rows = [record_row(r) for r in records]
    if json_lines:
        return "".join(
            orjson.dumps({k: v for k, v in row.items() if v != ""}).decode() + "\n" for row in rows
        )
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def record_row(r: VehicleRecord) -> dict[str, str]:
    """A record as the flat text fields of the file format."""
    f = r.finance
    consent = dict(r.consent)
    km = Decimal(r.delivery_odometer_m) / 1000
    return {
        "vin": r.vin,
        "brand": r.brand,
        "model": r.model,
        "model_year": str(r.model_year),
        "powertrain": r.powertrain,
        "delivery_date": r.delivery_date.isoformat(),
        "delivery_odometer_km": format(km.normalize(), "f") if km else "0",
        "dealer_id": r.dealer_id,
        "market": r.market,
        "currency": r.currency,
        "finance_kind": f.kind,
        "finance_amount": _opt(f.amount),
        "finance_apr_pct": _opt(f.apr_pct),
        "finance_term_months": _opt(f.term_months),
        "finance_start": f.start.isoformat() if f.start else "",
        "finance_balloon": _opt(f.balloon),
        **{
            f"consent_{p}": ("true" if consent[p] else "false") if p in consent else ""
            for p in PURPOSES
        },
        "consent_at": r.consent_at.isoformat() if r.consent else "",
        "list_price": _opt(r.list_price),
        "owner_id": r.owner_id or "",
    }


def _finance(values: Mapping[str, str], delivery: date) -> Finance:
    kind = values.get("finance_kind") or "cash"
    if kind not in FINANCE_KINDS:
        raise RowError(f"finance_kind {kind!r} is not one of {', '.join(FINANCE_KINDS)}")
    if kind == "cash":
        for name in ("finance_amount", "finance_apr_pct", "finance_term_months", "finance_balloon"):
            if values.get(name):
                raise RowError(f"{name} is set but finance_kind is cash")
        return Finance("cash")
    amount = _decimal(values, "finance_amount")
    apr = _decimal(values, "finance_apr_pct")
    if amount is None or amount <= 0:
        raise RowError(f"finance_amount must be a positive amount for a {kind} contract")
    if apr is None or apr > 100:
        raise RowError("finance_apr_pct must be between 0 and 100")
    term = _int(values, "finance_term_months", 1, 120)
    balloon = _decimal(values, "finance_balloon") or Decimal(0)
    if balloon >= amount:
        raise RowError("finance_balloon must be less than finance_amount")
    start = _date(values, "finance_start") if values.get("finance_start") else delivery
    return Finance(kind, amount, apr, term, start, balloon)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).strip()


def _opt(value: object) -> str:
    return "" if value is None else str(value)


def _int(values: Mapping[str, str], name: str, lo: int, hi: int) -> int:
    try:
        number = int(values.get(name, ""))
    except ValueError:
        raise RowError(f"{name} {values.get(name)!r} is not a whole number") from None
    if not lo <= number <= hi:
        raise RowError(f"{name} {number} is outside {lo}-{hi}")
    return number


def _decimal(values: Mapping[str, str], name: str) -> Decimal | None:
    raw = values.get(name)
    if not raw:
        return None
    try:
        number = Decimal(raw)
    except InvalidOperation:
        raise RowError(f"{name} {raw!r} is not a number") from None
    if not number.is_finite() or number < 0:
        raise RowError(f"{name} {raw!r} must be a finite number >= 0")
    return number


def _date(values: Mapping[str, str], name: str) -> date:
    raw = values.get(name, "")
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise RowError(f"{name} {raw!r} is not a date (YYYY-MM-DD)") from None


def _datetime(values: Mapping[str, str], name: str) -> datetime | None:
    raw = values.get(name)
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise RowError(f"{name} {raw!r} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise RowError(f"{name} {raw!r} has no time zone (use Z or +00:00)")
    return moment.astimezone(UTC)


def _bool(values: Mapping[str, str], name: str) -> bool:
    raw = values.get(name, "").lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise RowError(f"{name} {values.get(name)!r} is not true or false")

"""The service-visits file: one completed visit per CSV row or JSON line, parsed and checked (pure).

The format is documented in docs/services.md. Both forms carry the same fields (:data:`FIELDS`);
a CSV file names its columns in its header. ``items`` is a JSON array of objects
(``kind``, ``code``, ``description``, ``amount``) or the compact text
``kind:code:amount[:description];...`` (``code`` may be empty). Each rejected row names its line
number and its first problem, so a file of thousands of rows can be fixed in one pass; a
``visit_id`` seen on an earlier accepted row rejects the later one.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from kernel.rowfile import RejectedRow, checked_rows
from kernel.vin import VIN_PATTERN
from schemas.services import ITEM_KINDS, ServiceItem, ServiceVisitRecord

FIELDS = ("visit_id", "vin", "visit_ts", "odometer_km", "dealer_id", "currency", "items")
ITEM_FIELDS = ("kind", "code", "description", "amount")
MAX_ID_CHARS = 100
MAX_ODOMETER_KM = 2_000_000
MAX_AMOUNT = 1_000_000.0
MAX_ITEMS = 100
# A visit dated later than this after the import's clock is refused (clocks disagree a little).
FUTURE_TOLERANCE = timedelta(minutes=5)
_CURRENCY = re.compile(r"[A-Z]{3}")
_DTC = re.compile(r"[PCBU][0-3][0-9A-F]{3}")
_WEAR_ID = re.compile(r"[a-z0-9_]+")
_DEFAULT_DESCRIPTION = {"scheduled": "scheduled service", "other": "other"}


class VisitError(ValueError):
    """A row's first problem, in words."""


def parse_services(
    text: str, *, json_lines: bool, now: datetime | None = None
) -> Iterator[ServiceVisitRecord | RejectedRow]:
    """Every row of a services file, in order: a visit, or why it was rejected. With ``now``, a
    visit dated more than a few minutes after it is rejected."""
    seen: dict[str, int] = {}
    rows = checked_rows(
        text, json_lines=json_lines, required=FIELDS, check=lambda r: parse_visit(r, now=now)
    )
    for line, item in rows:
        if isinstance(item, RejectedRow):
            yield item
        elif item.visit_id in seen:
            yield RejectedRow(
                line, f"visit_id {item.visit_id!r} repeats line {seen[item.visit_id]}"
            )
        else:
            seen[item.visit_id] = line
            yield item


def parse_visit(row: Mapping[str, Any], *, now: datetime | None = None) -> ServiceVisitRecord:
    """Check one row; :class:`VisitError` names the first field that is wrong."""
    unknown = sorted(set(row) - set(FIELDS))
    if unknown:
        raise VisitError(f"unknown field {unknown[0]!r}")
    for name in FIELDS:
        if row.get(name) in (None, ""):
            raise VisitError(f"{name} is missing")
    visit_id = _text(row, "visit_id")
    if len(visit_id) > MAX_ID_CHARS:
        raise VisitError(f"visit_id is longer than {MAX_ID_CHARS} characters")
    vin = _text(row, "vin")
    if VIN_PATTERN.fullmatch(vin) is None:
        raise VisitError(f"vin {vin[:40]!r} is not 17 characters of [A-HJ-NPR-Z0-9]")
    visit_ts = _timestamp(row, now)
    odometer_km = _number(row, "odometer_km", MAX_ODOMETER_KM)
    dealer_id = _text(row, "dealer_id")
    if len(dealer_id) > MAX_ID_CHARS:
        raise VisitError(f"dealer_id is longer than {MAX_ID_CHARS} characters")
    currency = _text(row, "currency")
    if _CURRENCY.fullmatch(currency) is None:
        raise VisitError(f"currency {currency!r} is not a three-letter ISO 4217 code")
    return ServiceVisitRecord(
        visit_id=visit_id,
        vin=vin,
        visit_ts=visit_ts,
        odometer_m=round(odometer_km * 1000),
        dealer_id=dealer_id,
        currency=currency,
        items=_items(row["items"]),
    )


def _text(row: Mapping[str, Any], name: str) -> str:
    value = row[name]
    if not isinstance(value, str):
        raise VisitError(f"{name} must be text")
    return value.strip()


def _number(row: Mapping[str, Any], name: str, maximum: float) -> float:
    raw = row[name]
    if isinstance(raw, bool):
        raise VisitError(f"{name} {raw!r} is not a number")
    try:
        number = float(raw)
    except (TypeError, ValueError):
        raise VisitError(f"{name} {raw!r} is not a number") from None
    if not math.isfinite(number) or not 0 <= number <= maximum:
        raise VisitError(f"{name} {raw!r} must be between 0 and {maximum:,g}")
    return number


def _timestamp(row: Mapping[str, Any], now: datetime | None) -> datetime:
    raw = _text(row, "visit_ts")
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise VisitError(f"visit_ts {raw!r} is not an ISO 8601 time") from None
    if moment.utcoffset() is None:
        raise VisitError(f"visit_ts {raw!r} has no time zone (use Z or +00:00)")
    moment = moment.astimezone(UTC)
    moment = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
    if now is not None and moment > now + FUTURE_TOLERANCE:
        raise VisitError(f"visit_ts {raw!r} is in the future")
    return moment


def _items(raw: Any) -> tuple[ServiceItem, ...]:
    if isinstance(raw, str):
        text = raw.strip()
        entries: list[Any] = _json_items(text) if text.startswith("[") else _compact_items(text)
    elif isinstance(raw, list):
        entries = raw
    else:
        raise VisitError("items must be a JSON array or kind:code:amount;... text")
    if not entries:
        raise VisitError("items is empty: a visit invoices at least one item")
    if len(entries) > MAX_ITEMS:
        raise VisitError(f"items has more than {MAX_ITEMS} entries")
    return tuple(_item(n, entry) for n, entry in enumerate(entries, start=1))


def _json_items(text: str) -> list[Any]:
    try:
        entries = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise VisitError("items is not a JSON array") from None
    if not isinstance(entries, list):
        raise VisitError("items is not a JSON array")
    return entries


def _compact_items(text: str) -> list[dict[str, Any]]:
    out = []
    for n, part in enumerate((p.strip() for p in text.split(";")), start=1):
        if not part:
            continue
        pieces = part.split(":", 3)
        if len(pieces) < 3:
            raise VisitError(f"item {n} {part[:40]!r} is not kind:code:amount[:description]")
        entry: dict[str, Any] = {"kind": pieces[0], "code": pieces[1] or None, "amount": pieces[2]}
        if len(pieces) == 4:
            entry["description"] = pieces[3]
        out.append(entry)
    return out


def _item(n: int, entry: Any) -> ServiceItem:
    if not isinstance(entry, dict):
        raise VisitError(f"item {n} is not an object")
    unknown = sorted(set(entry) - set(ITEM_FIELDS))
    if unknown:
        raise VisitError(f"item {n}: unknown field {unknown[0]!r}")
    kind = entry.get("kind")
    if kind not in ITEM_KINDS:
        raise VisitError(f"item {n}: kind {kind!r} is not one of {', '.join(ITEM_KINDS)}")
    code = entry.get("code")
    if code is not None and not isinstance(code, str):
        raise VisitError(f"item {n}: code must be text")
    if code is not None:
        code = code.strip() or None
    if kind == "repair" and (code is None or _DTC.fullmatch(code) is None):
        raise VisitError(f"item {n}: a repair names its DTC ([PCBU][0-3]XXX), got {code!r}")
    if kind == "wear" and (code is None or _WEAR_ID.fullmatch(code) is None):
        raise VisitError(f"item {n}: a wear item names its id, e.g. brake_pads_front, got {code!r}")
    if "amount" not in entry or entry["amount"] in (None, ""):
        raise VisitError(f"item {n}: amount is missing")
    try:
        amount = _number(entry, "amount", MAX_AMOUNT)
    except VisitError as exc:
        raise VisitError(f"item {n}: {exc}") from None
    description = entry.get("description")
    if description is not None and not isinstance(description, str):
        raise VisitError(f"item {n}: description must be text")
    text = (description or "").strip() or _DEFAULT_DESCRIPTION.get(kind) or str(code)
    return ServiceItem(kind=kind, code=code, description=text, amount=round(amount, 2))

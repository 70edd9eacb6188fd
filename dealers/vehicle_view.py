"""What the inbox's vehicle page shows, from the store's records (pure): the odometer chart's
series (daily history and the forecast's P10/P50/P90), the warranty timeline and the next
service's bill.

The forecast is the signals processor's model (``processors.signals.forecast``, docs/signals.md):
the distance over ``t`` days is Normal(``mu t``, ``sigma^2 t + s^2 t^2``) from the vehicle's
current usage estimate (``vehicle_state.usage``: ``km_per_day``, ``daily_sd_km``,
``km_per_day_sd``), drawn from its current odometer and as-of time.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from processors.signals.forecast import days_to_reach_one, distance_in

FORECAST_DAYS = 120
_DAY_S = 86_400


@dataclass(frozen=True, slots=True)
class Usage:
    km_per_day: float
    daily_sd_km: float
    km_per_day_sd: float


def usage_of(state: Mapping[str, Any] | None) -> Usage | None:
    """The usage estimate of a ``vehicle_state`` row, or None when it has none."""
    usage = None if state is None else state.get("usage")
    if not isinstance(usage, Mapping):
        return None
    try:
        values = [float(usage[k]) for k in ("km_per_day", "daily_sd_km", "km_per_day_sd")]
    except (KeyError, TypeError, ValueError):
        return None
    if not all(math.isfinite(v) and v >= 0 for v in values):
        return None
    return Usage(*values)


def _unix_s(at: datetime) -> int:
    return int(at.timestamp())


def chart_series(
    days: Sequence[tuple[date, int]],
    state: Mapping[str, Any] | None,
    horizon_days: int = FORECAST_DAYS,
) -> dict[str, list[Any]] | None:
    """The odometer chart's data, aligned on one time axis (``x``, unix seconds, ascending):
    ``odometer_km`` the end-of-day readings (each at 00:00 UTC of its day), and ``p10_km``,
    ``p50_km``, ``p90_km`` the forecast from the as-of time, one point a day for
    ``horizon_days``; null where a series has no point. None when there is nothing to draw."""
    points: dict[int, list[float | None]] = {}
    for day, reading_m in days:
        x = _unix_s(datetime.combine(day, time(0), tzinfo=UTC))
        points.setdefault(x, [None, None, None, None])[0] = round(reading_m / 1000, 1)
    usage = usage_of(state)
    as_of = None if state is None else state.get("as_of_ts")
    odometer_m = None if state is None else state.get("odometer_m")
    if usage is not None and isinstance(as_of, datetime) and isinstance(odometer_m, int):
        ahead = list(range(horizon_days + 1))
        km = distance_in(ahead, usage.km_per_day, usage.daily_sd_km, usage.km_per_day_sd)
        start_km = odometer_m / 1000
        for i, n in enumerate(ahead):
            x = _unix_s(as_of + timedelta(days=n))
            row = points.setdefault(x, [None, None, None, None])
            row[1:] = [round(start_km + float(q[i]), 1) for q in (km.p10_km, km.p50_km, km.p90_km)]
    if not points:
        return None
    xs = sorted(points)
    return {
        "x": xs,
        "odometer_km": [points[x][0] for x in xs],
        "p10_km": [points[x][1] for x in xs],
        "p50_km": [points[x][2] for x in xs],
        "p90_km": [points[x][3] for x in xs],
    }


@dataclass(frozen=True, slots=True)
class WarrantyRow:
    coverage: str
    start: str | None
    time_end: str | None
    limit_km: float | None
    """None: no distance limit."""
    distance_date: str | None
    """When the distance limit is forecast to be reached (P50), if it is."""
    distance_note: str
    """What to show without a date: ``unlimited``, ``reached``, ``not forecast``; else empty."""
    ends_p10: str | None
    ends_p50: str | None
    ends_p90: str | None
    binds: str
    expired: bool
    days_remaining: int | None
    km_remaining: float | None


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _distance_date(
    coverage: Mapping[str, Any], state: Mapping[str, Any] | None
) -> tuple[str | None, str]:
    limit_km = _number(coverage.get("limit_km"))
    if limit_km is None:
        return None, "unlimited"
    left_km = _number(coverage.get("km_remaining"))
    if left_km is not None and left_km <= 0:
        return None, "reached"
    if coverage.get("binds") == "distance" and coverage.get("expiry_p50"):
        return str(coverage["expiry_p50"]), ""
    usage = usage_of(state)
    as_of = None if state is None else state.get("predicted_as_of_ts") or state.get("as_of_ts")
    if usage is None or left_km is None or not isinstance(as_of, datetime):
        return None, "not forecast"
    _, p50_days, _ = days_to_reach_one(
        left_km, usage.km_per_day, usage.daily_sd_km, usage.km_per_day_sd
    )
    if not math.isfinite(p50_days) or p50_days > 365 * 100:
        return None, "not forecast"
    return (as_of + timedelta(days=p50_days)).date().isoformat(), ""


def warranty_rows(
    warranty: object, delivery_date: object, state: Mapping[str, Any] | None
) -> list[WarrantyRow]:
    """One row per coverage of ``vehicle_state.warranty``: from delivery to the earlier of its
    time limit and the date its distance limit is forecast to be reached (computed here from
    the usage estimate when the time limit binds), with the P10-P90 range of its end."""
    if not isinstance(warranty, list):
        return []
    rows = []
    for coverage in warranty:
        if not isinstance(coverage, Mapping):
            continue
        distance_date, note = _distance_date(coverage, state)
        days_left = _number(coverage.get("days_remaining"))
        rows.append(
            WarrantyRow(
                coverage=str(coverage.get("coverage", "")).replace("_", " "),
                start=_text(delivery_date),
                time_end=_text(coverage.get("time_end")),
                limit_km=_number(coverage.get("limit_km")),
                distance_date=distance_date,
                distance_note=note,
                ends_p10=_text(coverage.get("expiry_p10")),
                ends_p50=_text(coverage.get("expiry_p50")),
                ends_p90=_text(coverage.get("expiry_p90")),
                binds=str(coverage.get("binds", "")),
                expired=coverage.get("expired") is True,
                days_remaining=None if days_left is None else int(days_left),
                km_remaining=_number(coverage.get("km_remaining")),
            )
        )
    return rows


@dataclass(frozen=True, slots=True)
class BillLine:
    description: str
    kind: str
    code: str | None
    low: float | None
    expected: float | None
    high: float | None
    covered: bool
    coverage: str
    reason: str


@dataclass(frozen=True, slots=True)
class Bill:
    currency: str
    low: float | None
    expected: float | None
    high: float | None
    lines: list[BillLine]
    due_p10: str | None
    due_p50: str | None
    due_p90: str | None
    binds: str
    forecast_odometer_m: float | None


def bill_of(service: object) -> Bill | None:
    """The next service's bill of ``vehicle_state.service``, line by line; None without one."""
    if not isinstance(service, Mapping):
        return None
    items = service.get("items")
    lines = [
        BillLine(
            description=str(item.get("description", "")),
            kind=str(item.get("kind", "")),
            code=_text(item.get("code")),
            low=_number(item.get("low")),
            expected=_number(item.get("expected")),
            high=_number(item.get("high")),
            covered=item.get("covered") is True,
            coverage=str(item.get("coverage", "")).replace("_", " "),
            reason=str(item.get("reason", "")),
        )
        for item in (items if isinstance(items, list) else [])
        if isinstance(item, Mapping)
    ]
    return Bill(
        currency=str(service.get("currency", "")),
        low=_number(service.get("bill_low")),
        expected=_number(service.get("bill_expected")),
        high=_number(service.get("bill_high")),
        lines=lines,
        due_p10=_text(service.get("due_p10")),
        due_p50=_text(service.get("due_p50")),
        due_p90=_text(service.get("due_p90")),
        binds=str(service.get("binds", "")),
        forecast_odometer_m=_number(service.get("forecast_odometer_m")),
    )

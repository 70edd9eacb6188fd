"""Shared test data for the signals tests: trip-shaped odometer series and fixed estimates."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import numpy.typing as npt
from hypothesis import strategies as st

from database.vehicle_facts import FinanceTerms, VehicleFacts
from processors.signals.estimate import UsageEstimate

DAY = 86_400_000
HOUR = 3_600_000
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
BASE_M = 60_000_000.0  # 60,000 km

Series = tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]


def trips(daily_km: list[float], start_ms: int = T0, base_m: float = BASE_M) -> Series:
    """Readings at 08:00 and 09:00 UTC of each driving day (a day at 0 km has none)."""
    ts: list[int] = []
    odo: list[float] = []
    o = base_m
    for d, km in enumerate(daily_km):
        if km > 0:
            ts += [start_ms + d * DAY + 8 * HOUR, start_ms + d * DAY + 9 * HOUR]
            odo += [o, o + km * 1000.0]
            o += km * 1000.0
    return np.array(ts, dtype=np.int64), np.array(odo)


@st.composite
def clean_series(draw: st.DrawFn, min_size: int = 3, max_size: int = 40) -> Series:
    """Plausible readings: gaps from a minute to three days at 0-100 km/h average."""
    n = draw(st.integers(min_size, max_size))
    gaps = np.array(draw(st.lists(st.integers(60_000, 3 * DAY), min_size=n - 1, max_size=n - 1)))
    kmh = np.array(draw(st.lists(st.floats(0, 100), min_size=n - 1, max_size=n - 1)))
    ts = T0 + np.concatenate(([0], np.cumsum(gaps))).astype(np.int64)
    start = draw(st.floats(50_000_000.0, 300_000_000.0))
    odo = np.round(start + np.concatenate(([0.0], np.cumsum(kmh * gaps / 3600.0))))
    return ts, odo


def usage(mean: float, sd: float = 0.0, mean_sd: float = 0.0) -> UsageEstimate:
    """A fixed usage estimate (mean, spread and sd of the mean in km/day)."""
    return UsageEstimate(mean, sd, mean_sd, sd, mean, mean, 60, 60.0, None, None)


VIN = "1HGCM82633A004352"
# A registered Civic on a loan, delivered 2024-03-01 at 12 km.
FACTS = VehicleFacts(
    vin=VIN,
    brand="Honda",
    model="Civic",
    model_year=2024,
    powertrain="ice",
    delivery_date=date(2024, 3, 1),
    delivery_odometer_m=12_000,
    dealer_id="dealer-7",
    market="US",
    currency="USD",
    finance=FinanceTerms("loan", 22_000.0, 6.9, 60, date(2024, 3, 1)),
)


@dataclass(frozen=True)
class Rec:
    """A polled record as :func:`processors.signals.segments.process_records` reads it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None = None
    value: bytes | None = b"x"
    headers: tuple[tuple[str, bytes], ...] = ()

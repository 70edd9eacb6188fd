"""Accuracy figures of date, amount and sign forecasts against the truth (pure, numpy).

A date is a count of days from the end of the published period (``now``): a forecast's error is
predicted minus true days, so late forecasts are positive. Empty inputs give ``n = 0`` and NaN
figures, never an exception: a small fleet may have no expiry in a window.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

HORIZON_BUCKETS: tuple[tuple[str, int, int], ...] = (
    ("0-30", 0, 30),
    ("31-90", 31, 90),
    ("91-180", 91, 180),
)


@dataclass(frozen=True, slots=True)
class DateErrors:
    """Absolute errors in days: how many forecasts, their median and 90th percentile."""

    n: int
    median_abs_days: float
    p90_abs_days: float


def date_errors(predicted_days: ArrayLike, true_days: ArrayLike) -> DateErrors:
    pred = np.asarray(predicted_days, dtype=np.float64)
    true = np.asarray(true_days, dtype=np.float64)
    keep = np.isfinite(pred) & np.isfinite(true)
    errors = np.abs(pred[keep] - true[keep])
    if errors.size == 0:
        return DateErrors(0, float("nan"), float("nan"))
    return DateErrors(int(errors.size), float(np.median(errors)), float(np.percentile(errors, 90)))


RATIO_RESAMPLES = 1000
RATIO_LEVEL = 0.90
_CHUNK = 250


@dataclass(frozen=True, slots=True)
class Ratio:
    """One forecaster's median absolute error over another's, on the forecasts both made of the
    same true dates, with a paired bootstrap interval (:data:`RATIO_LEVEL`): how sure a
    comparison on ``n`` dates is."""

    n: int
    value: float
    low: float
    high: float


def _ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a / b`` elementwise; 1 where both are 0 (equally exact), infinite where only ``b`` is."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b > 0, a / np.where(b > 0, b, 1.0), np.where(a > 0, np.inf, 1.0))


def median_error_ratio(
    predicted_days: ArrayLike,
    reference_days: ArrayLike,
    true_days: ArrayLike,
    resamples: int = RATIO_RESAMPLES,
    seed: int = 0,
) -> Ratio:
    """The median absolute error of ``predicted_days`` over that of ``reference_days`` against
    ``true_days`` (pairs where all three are finite), and its interval from ``resamples``
    resamplings of the pairs (a fixed seed: the same inputs give the same interval)."""
    pred = np.asarray(predicted_days, dtype=np.float64)
    ref = np.asarray(reference_days, dtype=np.float64)
    true = np.asarray(true_days, dtype=np.float64)
    keep = np.isfinite(pred) & np.isfinite(ref) & np.isfinite(true)
    a, b = np.abs(pred[keep] - true[keep]), np.abs(ref[keep] - true[keep])
    n = int(a.size)
    if n == 0:
        return Ratio(0, float("nan"), float("nan"), float("nan"))
    value = float(_ratio(np.array([np.median(a)]), np.array([np.median(b)]))[0])
    rng = np.random.default_rng(seed)
    ratios = []
    for start in range(0, resamples, _CHUNK):
        idx = rng.integers(0, n, size=(min(_CHUNK, resamples - start), n))
        ratios.append(_ratio(np.median(a[idx], axis=1), np.median(b[idx], axis=1)))
    tail = (1.0 - RATIO_LEVEL) / 2
    low, high = np.quantile(np.concatenate(ratios), [tail, 1.0 - tail], method="inverted_cdf")
    return Ratio(n, value, float(low), float(high))


def interval_coverage(p10: ArrayLike, p90: ArrayLike, true_days: ArrayLike) -> tuple[int, float]:
    """How many true dates there are, and the share inside their [P10, P90] interval."""
    lo = np.asarray(p10, dtype=np.float64)
    hi = np.asarray(p90, dtype=np.float64)
    true = np.asarray(true_days, dtype=np.float64)
    keep = np.isfinite(true) & ~np.isnan(lo) & ~np.isnan(hi)
    if not keep.any():
        return 0, float("nan")
    inside = (lo[keep] <= true[keep]) & (true[keep] <= hi[keep])
    return int(keep.sum()), float(inside.mean())


def median_abs_pct_error(predicted: ArrayLike, actual: ArrayLike) -> tuple[int, float]:
    """How many pairs, and the median of ``|predicted - actual| / actual`` in percent."""
    pred = np.asarray(predicted, dtype=np.float64)
    act = np.asarray(actual, dtype=np.float64)
    keep = np.isfinite(pred) & np.isfinite(act) & (act > 0)
    if not keep.any():
        return 0, float("nan")
    return int(keep.sum()), float(np.median(np.abs(pred[keep] - act[keep]) / act[keep]) * 100)


def sign_accuracy(predicted: ArrayLike, actual: ArrayLike) -> tuple[int, float]:
    """How many pairs, and the share whose signs agree (zero counts as not positive)."""
    pred = np.asarray(predicted, dtype=np.float64)
    act = np.asarray(actual, dtype=np.float64)
    keep = np.isfinite(pred) & np.isfinite(act)
    if not keep.any():
        return 0, float("nan")
    return int(keep.sum()), float(((pred[keep] > 0) == (act[keep] > 0)).mean())


def bucket_of(true_days: float) -> str | None:
    """The horizon bucket a true date falls in, or None outside every bucket."""
    for name, lo, hi in HORIZON_BUCKETS:
        if lo <= true_days <= hi:
            return name
    return None


def first_day_reaching(cumulative_km: Sequence[float] | np.ndarray, remaining_km: float) -> float:
    """The first day whose cumulative distance reaches ``remaining_km``; inf if none.

    ``cumulative_km[i]`` is the distance driven by the end of day ``i`` (day 0: today, the day
    the distance is counted from), so the answer is in days after today.
    """
    if remaining_km <= 0:
        return 0.0
    cum = np.asarray(cumulative_km, dtype=np.float64)
    index = int(np.searchsorted(cum, remaining_km, side="left"))
    return float(index) if index < cum.size else float("inf")

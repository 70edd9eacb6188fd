"""The scorer's figures against hand-computed values."""

from __future__ import annotations

import math

import pytest

from simulator.scoring.metrics import (
    bucket_of,
    date_errors,
    first_day_reaching,
    interval_coverage,
    median_abs_pct_error,
    sign_accuracy,
)


def test_date_errors_are_absolute_and_skip_unknown_dates() -> None:
    errors = date_errors([10, 20, 30, math.inf, 5], [12, 20, 25, 40, math.nan])
    assert errors.n == 3
    assert errors.median_abs_days == 2.0
    assert errors.p90_abs_days == pytest.approx(4.4)  # 2 + 0.8 * (5 - 2)


def test_no_pairs_give_nan_figures_not_an_error() -> None:
    errors = date_errors([], [])
    assert errors.n == 0 and math.isnan(errors.median_abs_days)
    assert interval_coverage([], [], [])[0] == 0
    assert median_abs_pct_error([1.0], [0.0])[0] == 0


def test_interval_coverage_counts_inclusive_bounds_and_open_upper_ends() -> None:
    n, share = interval_coverage([0, 5, 5, 5], [10, 9, math.inf, 6], [10, 10, 400, 4])
    assert n == 4
    assert share == 0.5


def test_median_abs_pct_error_and_sign_accuracy() -> None:
    assert median_abs_pct_error([110, 80, 100], [100, 100, 100]) == (3, 10.0)
    assert sign_accuracy([1, -1, 0, 5], [2, 3, -1, 1]) == (4, 0.75)


def test_buckets_and_the_first_day_a_distance_is_reached() -> None:
    assert [bucket_of(d) for d in (0, 30, 31, 90, 91, 180, 181, -1)] == [
        "0-30", "0-30", "31-90", "31-90", "91-180", "91-180", None, None,
    ]  # fmt: skip
    assert first_day_reaching([10, 20, 30], 20) == 2.0
    assert first_day_reaching([10, 20, 30], 25) == 3.0
    assert first_day_reaching([10, 20, 30], 31) == math.inf
    assert first_day_reaching([10, 20, 30], 0) == 0.0

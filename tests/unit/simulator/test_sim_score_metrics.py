"""The scorer's figures against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.scoring.metrics import (
    bucket_of,
    date_errors,
    first_day_reaching,
    interval_coverage,
    median_abs_pct_error,
    median_error_ratio,
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
    # by the end of today 10 km, of tomorrow 20, of the day after 30
    assert first_day_reaching([10, 20, 30], 5) == 0.0
    assert first_day_reaching([10, 20, 30], 20) == 1.0
    assert first_day_reaching([10, 20, 30], 25) == 2.0
    assert first_day_reaching([10, 20, 30], 31) == math.inf
    assert first_day_reaching([10, 20, 30], 0) == 0.0


def test_a_forecaster_with_half_the_errors_has_a_ratio_of_half_whatever_the_resample() -> None:
    true = np.arange(30.0)
    errors = np.linspace(1.0, 20.0, 30)
    ratio = median_error_ratio(true + errors / 2, true - errors, true)
    assert ratio.n == 30
    assert ratio.value == pytest.approx(0.5)
    assert ratio.low == pytest.approx(0.5) and ratio.high == pytest.approx(0.5)


def test_the_ratio_skips_dates_either_forecaster_missed_and_handles_exact_ones() -> None:
    ratio = median_error_ratio([1.0, math.inf, 3.0], [2.0, 2.0, math.nan], [0.0, 0.0, 0.0])
    assert ratio.n == 1 and ratio.value == 0.5
    assert median_error_ratio([0.0], [0.0], [0.0]).value == 1.0  # both exact
    assert median_error_ratio([1.0], [0.0], [0.0]).value == math.inf
    empty = median_error_ratio([], [], [])
    assert empty.n == 0 and math.isnan(empty.value) and math.isnan(empty.low)


@given(st.integers(min_value=0, max_value=2**31), st.sampled_from([11, 40, 120]))
def test_the_interval_holds_the_ratio_narrows_with_more_dates_and_is_reproducible(
    seed: int, n: int
) -> None:
    rng = np.random.default_rng(seed)
    true = rng.uniform(30, 90, size=n)
    mine, theirs = true + rng.normal(0, 4, n), true + rng.normal(0, 6, n)
    ratio = median_error_ratio(mine, theirs, true)
    assert ratio == median_error_ratio(mine, theirs, true)
    assert ratio.low <= ratio.value <= ratio.high
    # 10 times the dates, drawn alike: a narrower interval (in log terms)
    big = np.repeat(np.arange(n), 10)
    more = median_error_ratio(mine[big] + rng.normal(0, 0.01, 10 * n), theirs[big], true[big])
    assert math.log(more.high / more.low) < math.log(ratio.high / ratio.low)

"""Used-car value curves: hand-computed values, vectorisation and monotonicity."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from reference.catalog import BODIES, KM_PER_MILE, POWERTRAINS, load_catalog
from reference.depreciation import Curve, curve_value_share

DEPRECIATION = load_catalog().depreciation
# FHWA: 13,476 mi a year.
YEAR_KM = 13476 * KM_PER_MILE
MI_1000 = 1000 * KM_PER_MILE


@pytest.mark.parametrize(
    ("age", "km", "expected"),
    [
        (0.0, 0.0, 1.0),
        (0.5, 5_000.0, math.sqrt(0.8)),  # half the year-one drop, on the reference distance
        (1.0, 10_000.0, 0.8),
        (3.0, 30_000.0, 0.8 * 0.9 * 0.9),  # 0.648
        (3.0, 40_000.0, 0.648 * math.exp(-0.1)),  # 10,000 km over: 0.586334647
        (2.0, 0.0, 0.72 * math.exp(0.2)),  # 20,000 km under: 0.879409986
    ],
)
def test_the_formula_by_hand(age: float, km: float, expected: float) -> None:
    curve = Curve(
        year_one_drop=0.2, yearly_rate=0.1, distance_rate_per_km=1e-5, reference_annual_km=10_000.0
    )
    assert float(curve_value_share(curve, age, km)) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("segment", "powertrain", "age", "miles_over", "expected"),
    [
        # Combustion sedan: iSeeCars 2025 all cars keep 54.4 % after five years.
        ("sedan", "ice", 5.0, 0, 0.544),
        ("sedan", "ice", 1.0, 0, 0.82),  # rule of thumb: 18 % in year one
        # Two years of the fitted rate: 0.82 * sqrt(0.544 / 0.82) = sqrt(0.82 * 0.544).
        ("sedan", "ice", 3.0, 0, math.sqrt(0.82 * 0.544)),  # 0.667892
        ("sedan", "ice", 1.0, 1000, 0.82 * 0.995),  # 0.5 % per 1,000 mi over
        ("sedan", "ice", 1.0, -1000, 0.82 / 0.995),
        ("suv", "ev", 1.0, 1000, 0.82 * 0.9925),  # EVs: 0.75 % per 1,000 mi
        # SUV and EV effects multiply: 0.511 * 0.412 / 0.544 = 0.387007.
        ("suv", "ev", 5.0, 0, 0.511 * 0.412 / 0.544),
        ("pickup", "ice", 5.0, 0, 0.596),  # iSeeCars 2025 trucks: 40.4 % lost
        ("pickup", "hybrid", 5.0, 0, 0.596 * 0.593 / 0.544),  # 0.649684
        ("van", "hybrid", 5.0, 0, 0.593),
    ],
)
def test_the_shipped_curves_by_hand(
    segment: str, powertrain: str, age: float, miles_over: int, expected: float
) -> None:
    km = age * YEAR_KM + miles_over * KM_PER_MILE
    share = DEPRECIATION.value_share(segment, powertrain, age, km)
    assert float(share) == pytest.approx(expected, rel=1e-9)


def test_the_distance_rate_is_capped_where_age_barely_costs() -> None:
    """Hybrid pickups keep 64.97 % after five years: (1 - rate)**4 = 0.649684 / 0.82, so one
    reference year costs 5.65 %, less than 13,476 mi at 0.5 % per 1,000 mi (6.5 %). The
    distance rate is cut to the year's decline: 1,000 mi cost 0.431 %, not 0.5 %."""
    at = 5 * YEAR_KM
    base = DEPRECIATION.value_share("pickup", "hybrid", 5.0, at)
    over = DEPRECIATION.value_share("pickup", "hybrid", 5.0, at + MI_1000)
    kept_per_year = (0.596 * 0.593 / 0.544 / 0.82) ** 0.25
    assert float(over / base) == pytest.approx(kept_per_year ** (1000 / 13476), rel=1e-9)
    assert float(over / base) == pytest.approx(0.99569, abs=1e-6)
    older = DEPRECIATION.value_share("pickup", "hybrid", 6.0, at)
    assert float(older) == pytest.approx(float(base), rel=1e-9)  # same odometer, a year older


def test_vectorised_over_age_and_distance() -> None:
    ages = np.array([0.0, 1.0, 5.0])
    shares = DEPRECIATION.value_share("sedan", "ice", ages, ages * YEAR_KM)
    assert shares.shape == (3,)
    assert shares == pytest.approx([1.0, 0.82, 0.544])
    grid = DEPRECIATION.value_share("suv", "hybrid", ages[:, None], np.array([0.0, 1e5]))
    assert grid.shape == (3, 2)


def test_the_market_spread() -> None:
    low, mid, high = DEPRECIATION.value_share_range("sedan", "ice", [0.0, 5.0], [0.0, 5 * YEAR_KM])
    assert low == pytest.approx([0.93, 0.93 * 0.544])
    assert mid == pytest.approx([1.0, 0.544])
    assert high == pytest.approx([1.0, 1.23 * 0.544])  # never above the new price


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        DEPRECIATION.value_share("sedan", "ice", -1.0, 0.0)
    with pytest.raises(ValueError, match="finite"):
        DEPRECIATION.value_share("sedan", "ice", 1.0, float("nan"))
    with pytest.raises(ValueError, match="no depreciation curve"):
        DEPRECIATION.value_share("limousine", "ice", 1.0, 0.0)


segments = st.sampled_from(BODIES)
powertrains = st.sampled_from(POWERTRAINS)
ages = st.floats(0.0, 25.0)
distances = st.floats(0.0, 600_000.0)


@given(segments, powertrains, ages, ages, distances)
def test_older_is_never_worth_more(
    segment: str, powertrain: str, a: float, b: float, km: float
) -> None:
    young, old = sorted((a, b))
    v_young = float(DEPRECIATION.value_share(segment, powertrain, young, km))
    v_old = float(DEPRECIATION.value_share(segment, powertrain, old, km))
    assert v_old <= v_young * (1 + 1e-12)


@given(segments, powertrains, ages, distances, distances)
def test_farther_is_never_worth_more(
    segment: str, powertrain: str, age: float, a: float, b: float
) -> None:
    near, far = sorted((a, b))
    v_near = float(DEPRECIATION.value_share(segment, powertrain, age, near))
    v_far = float(DEPRECIATION.value_share(segment, powertrain, age, far))
    assert 0 < v_far <= v_near * (1 + 1e-12)
    assert v_near <= 1 + 1e-12


@given(segments, powertrains, ages, distances)
def test_one_car_in_scalar_arithmetic_is_the_vectorised_value(
    segment: str, powertrain: str, age: float, km: float
) -> None:
    """The fast path an evaluation takes for today's value gives what the array path gives."""
    scalar = DEPRECIATION.value_share_range_at(segment, powertrain, age, km)
    arrays = DEPRECIATION.value_share_range(segment, powertrain, [age], [km])
    for one, many in zip(scalar, arrays, strict=True):
        assert one == pytest.approx(float(many[0]), rel=1e-12, abs=1e-300)


def test_one_car_rejects_what_the_array_path_rejects() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        DEPRECIATION.value_share_range_at("sedan", "ice", 1.0, -1.0)
    with pytest.raises(ValueError, match="finite"):
        DEPRECIATION.value_share_range_at("sedan", "ice", math.inf, 0.0)
    with pytest.raises(ValueError, match="no depreciation curve"):
        DEPRECIATION.value_share_range_at("limousine", "ice", 1.0, 0.0)

"""VIN generation: valid ISO 3779 check digits, allowed characters, real WMIs, uniqueness.

The check digit itself is tested with the VIN rule, in tests/unit/kernel/test_vin.py.
"""

from __future__ import annotations

from datetime import date

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from sim_kit import CATALOG, MIX
from vininfo import Vin

from kernel.vin import is_valid
from simulator.world.fleet import generate_fleet
from simulator.world.vin import make_unique_vin, make_vin, year_code

WMIS = sorted({(w, m.brand) for m in CATALOG.models for w in m.wmis})


# vininfo decodes model years only up to the current one, so stay below it.
@given(seed=st.integers(0, 2**32), pick=st.integers(0, len(WMIS) - 1), year=st.integers(1990, 2025))
@settings(max_examples=300)
def test_generated_vin_is_valid_for_vininfo(seed: int, pick: int, year: int) -> None:
    wmi, brand = WMIS[pick]
    vin = make_vin(np.random.default_rng(seed), wmi, year)
    assert len(vin) == 17
    assert not set(vin) & set("IOQ")
    assert is_valid(vin)
    decoded = Vin(vin)
    assert decoded.verify_checksum()
    assert brand in decoded.manufacturer
    assert year in decoded.years
    assert vin[9] == year_code(year)


def test_year_codes_follow_the_30_year_cycle() -> None:
    assert year_code(1980) == "A" == year_code(2010)
    assert year_code(2018) == "J"
    assert year_code(2024) == "R"
    assert year_code(2030) == "Y"
    assert year_code(2031) == "1"


def test_make_unique_vin_avoids_taken_vins() -> None:
    rng = np.random.default_rng(7)
    first = make_vin(np.random.default_rng(7), "WBA", 2024)
    assert make_unique_vin(rng, "WBA", 2024, {first}) != first


@given(seed=st.integers(0, 2**32))
@settings(max_examples=20, deadline=None)
def test_fleet_vins_are_unique_valid_and_match_the_brand(seed: int) -> None:
    fleet = generate_fleet(np.random.default_rng(seed), CATALOG, 200, date(2024, 6, 1), MIX)
    vins = [v.vin for v in fleet]
    assert len(set(vins)) == len(vins)
    for v in fleet:
        decoded = Vin(v.vin)
        assert decoded.verify_checksum()
        assert v.brand in decoded.manufacturer
        assert v.vin[:3] in v.spec.wmis
        assert v.model_year in decoded.years

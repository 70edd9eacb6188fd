"""Rounding to cents and tenths without the built-in's decimal string gives the built-in's
float, bit for bit (the sign of zero included)."""

from __future__ import annotations

import math
import struct

from hypothesis import example, given
from hypothesis import strategies as st

from processors.signals.views import cents, decimal_round, tenth


def bits(x: float) -> bytes:
    return struct.pack("<d", x)


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or bits(a) == bits(b)


# figures as they come (any float), near money (k / 100 and a few ulps around it), and ties
ANY = st.floats(allow_nan=True, allow_infinity=True)
MONEY = st.builds(
    lambda k, ulps: k / 100 + ulps * math.ulp(k / 100 if k else 1.0),
    st.integers(-(10**12), 10**12),
    st.integers(-4, 4),
)
TIES = st.builds(
    lambda k, d: (2 * k + 1) / d, st.integers(-(10**9), 10**9), st.sampled_from([20, 200, 2000])
)


@given(ANY | MONEY | TIES)
@example(2.675)
@example(1.005)
@example(-0.001)
@example(-0.0)
@example(0.005)
@example(-0.005)
@example(0.015)
@example(2.0**32 / 100)
@example(-(2.0**32) / 100 - 0.005)
def test_cents_are_the_built_in_s(x: float) -> None:
    assert same(cents(x), round(x, 2)), (x, cents(x), round(x, 2))


@given(ANY | MONEY | TIES)
@example(0.05)
@example(0.25)
@example(-0.04)
@example(1e300)
def test_tenths_are_the_built_in_s(x: float) -> None:
    assert same(tenth(x), round(x, 1)), (x, tenth(x), round(x, 1))


@given(ANY | MONEY, st.integers(0, 4))
def test_any_number_of_digits(x: float, digits: int) -> None:
    assert same(decimal_round(x, 10.0**digits, digits), round(x, digits))

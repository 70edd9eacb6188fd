"""Seeded VIN generation and the model-year code; the VIN rule itself is :mod:`kernel.vin`.

A generated VIN is ``WMI (3) + VDS (5, random) + check digit + model-year code + plant code
(random) + serial (6 digits)``. It never contains I, O or Q and its check digit is valid.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from kernel.vin import VIN_ALPHABET, check_digit

# Position 10 cycles through these 30 codes; 1980 and 2010 are both "A".
_YEAR_CODES = "ABCDEFGHJKLMNPRSTVWXY123456789"


def year_code(model_year: int) -> str:
    """The position-10 model-year code (1980-based 30-year cycle)."""
    if model_year < 1980:
        raise ValueError("model years before 1980 have no ISO 3779 code")
    return _YEAR_CODES[(model_year - 1980) % 30]


def make_vin(rng: np.random.Generator, wmi: str, model_year: int) -> str:
    """A random valid VIN for ``wmi`` and ``model_year``."""
    if len(wmi) != 3 or any(c not in VIN_ALPHABET for c in wmi):
        raise ValueError(f"invalid WMI {wmi!r}")
    letters = rng.integers(0, len(VIN_ALPHABET), size=6)
    vds = "".join(VIN_ALPHABET[i] for i in letters[:5])
    plant = VIN_ALPHABET[letters[5]]
    serial = f"{int(rng.integers(0, 1_000_000)):06d}"
    draft = f"{wmi}{vds}0{year_code(model_year)}{plant}{serial}"
    return draft[:8] + check_digit(draft) + draft[9:]


def make_unique_vin(
    rng: np.random.Generator, wmi: str, model_year: int, taken: Iterable[str]
) -> str:
    """A VIN as :func:`make_vin` that is not in ``taken`` (draws again on a collision)."""
    used = taken if isinstance(taken, set | frozenset) else set(taken)
    while True:
        vin = make_vin(rng, wmi, model_year)
        if vin not in used:
            return vin

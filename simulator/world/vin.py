"""ISO 3779 vehicle identification numbers: check digit, model-year code, seeded generation.

A generated VIN is ``WMI (3) + VDS (5, random) + check digit + model-year code + plant code
(random) + serial (6 digits)``. It never contains I, O or Q and its check digit is valid.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np

VIN_LENGTH = 17
VIN_ALPHABET = "0123456789ABCDEFGHJKLMNPRSTUVWXYZ"
VIN_PATTERN = re.compile(r"[A-HJ-NPR-Z0-9]{17}")
# Transliteration of letters to values (ISO 3779 / 49 CFR 565.15); digits keep their value.
_LETTER_VALUES = {
    **dict(zip("ABCDEFGH", range(1, 9), strict=True)),
    **dict(zip("JKLMN", range(1, 6), strict=True)),
    "P": 7,
    "R": 9,
    **dict(zip("STUVWXYZ", range(2, 10), strict=True)),
}
_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)
# Position 10 cycles through these 30 codes; 1980 and 2010 are both "A".
_YEAR_CODES = "ABCDEFGHJKLMNPRSTVWXY123456789"


def char_value(c: str) -> int:
    if c.isdigit():
        return int(c)
    return _LETTER_VALUES[c]


def check_digit(vin: str) -> str:
    """The check digit (position 9) for a 17-character VIN; position 9 itself is ignored."""
    if len(vin) != VIN_LENGTH:
        raise ValueError(f"a VIN has {VIN_LENGTH} characters, got {len(vin)}")
    total = sum(char_value(c) * w for c, w in zip(vin, _WEIGHTS, strict=True))
    remainder = total % 11
    return "X" if remainder == 10 else str(remainder)


def is_valid(vin: str) -> bool:
    """True for a well-formed 17-character VIN whose check digit is right."""
    return VIN_PATTERN.fullmatch(vin) is not None and vin[8] == check_digit(vin)


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

"""The VIN rule (ISO 3779), the one definition every stage, the simulator and the database use.

A VIN is 17 characters of digits and capital letters except I, O and Q (:data:`VIN_REGEX`; the
database's ``vehicles.vin`` CHECK holds the same expression). Position 9 is a check digit
computed from the other 16 characters (:func:`check_digit`). It is mandatory for North American
VINs (first character 1-5, :func:`check_digit_mandatory`); elsewhere a wrong one is tolerated,
and a few manufacturers put something else at position 9 (:func:`check_digit_ok`).
"""

from __future__ import annotations

import re
from functools import lru_cache
from operator import mul

from vininfo import Vin

VIN_LENGTH = 17
VIN_ALPHABET = "0123456789ABCDEFGHJKLMNPRSTUVWXYZ"
VIN_REGEX = "[A-HJ-NPR-Z0-9]{17}"
VIN_PATTERN = re.compile(VIN_REGEX)
NORTH_AMERICAN_WMI = frozenset("12345")
"""First characters of a WMI for which the check digit is mandatory (49 CFR 565)."""

# Transliteration of characters to values (ISO 3779 / 49 CFR 565.15), and position weights.
_VALUES = {
    **{str(d): d for d in range(10)},
    **dict(zip("ABCDEFGH", range(1, 9), strict=True)),
    **dict(zip("JKLMN", range(1, 6), strict=True)),
    "P": 7,
    "R": 9,
    **dict(zip("STUVWXYZ", range(2, 10), strict=True)),
}
_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)


def is_well_formed(vin: str) -> bool:
    """Whether ``vin`` is 17 characters of ``[A-HJ-NPR-Z0-9]``."""
    return VIN_PATTERN.fullmatch(vin) is not None


def check_digit(vin: str) -> str:
    """The check digit (position 9) for a 17-character VIN; position 9 itself is ignored."""
    if len(vin) != VIN_LENGTH:
        raise ValueError(f"a VIN has {VIN_LENGTH} characters, got {len(vin)}")
    remainder = sum(map(mul, map(_VALUES.__getitem__, vin), _WEIGHTS)) % 11
    return "X" if remainder == 10 else str(remainder)


def is_valid(vin: str) -> bool:
    """True for a well-formed VIN whose check digit is right."""
    return is_well_formed(vin) and vin[8] == check_digit(vin)


def check_digit_mandatory(wmi: str) -> bool:
    """Whether a VIN of this WMI (or any prefix of the VIN) must carry a right check digit."""
    return wmi[:1] in NORTH_AMERICAN_WMI


@lru_cache(maxsize=65_536)
def check_digit_ok(vin: str) -> bool:
    """Whether a well-formed VIN's check digit (position 9) is right.

    True for manufacturers that ``vininfo`` knows put something else at position 9 (e.g. Ford
    Australia, WMI ``6FP``). The model-year character is not part of this check.
    """
    if not wmi_uses_check_digit(vin[:3]):
        return True
    return vin[8] == check_digit(vin)


@lru_cache(maxsize=8192)
def wmi_uses_check_digit(wmi: str) -> bool:
    """Whether the manufacturer identified by ``wmi`` follows the ISO 3779 check digit.

    ``vininfo`` resolves the manufacturer from the WMI alone, so one lookup per WMI suffices.
    """
    return bool(getattr(Vin(f"{wmi}00000000000000").assembler, "uses_sae_checkdigit", True))

"""Diagnostic trouble codes: what each means, the likely repair, its cost and who pays.

Severity, from mild to urgent:

- ``info``: nothing to repair yet (a reminder or a self-test note);
- ``low``: drive on, fix at the next service (a loose fuel cap);
- ``medium``: fix within weeks: emissions, economy or a comfort system suffers;
- ``high``: fix soon: damage may spread or a safety or drive system is degraded;
- ``critical``: stop or limit driving: airbags off, high-voltage insulation fault.
"""

from __future__ import annotations

from dataclasses import dataclass

from reference.fields import ReferenceDataError, Table, check_version
from reference.money import PriceRange, read_currency, read_range
from reference.terms import COVERAGES, POWERTRAINS

VERSION = 1
SEVERITIES = ("info", "low", "medium", "high", "critical")
# SAE J2012 / ISO 15031-6: system letter, then 0-3 (generic or maker-specific), then three hex.
CODE_PATTERN = r"[PCBU][0-3][0-9A-F]{3}"


@dataclass(frozen=True, slots=True)
class FaultCode:
    """One code we price: description in our own words, repair, cost, severity, coverage."""

    code: str
    description: str
    repair: str
    cost: PriceRange
    severity: str
    coverage: str
    powertrains: tuple[str, ...]
    source: str

    @property
    def system(self) -> str:
        """``P`` powertrain, ``C`` chassis, ``B`` body, ``U`` network."""
        return self.code[0]

    def raised_by(self, powertrain: str) -> bool:
        return powertrain in self.powertrains


def parse_codes(top: Table) -> dict[str, FaultCode]:
    """``codes.toml`` as code -> :class:`FaultCode`, in file order."""
    check_version(top, VERSION)
    read_currency(top)
    out: dict[str, FaultCode] = {}
    for t in top.tables("codes", "code"):
        code = FaultCode(
            code=t.text("code", pattern=CODE_PATTERN),
            description=t.text("description"),
            repair=t.text("repair"),
            cost=read_range(t, "cost"),
            severity=t.text("severity", choices=SEVERITIES),
            coverage=t.text("coverage", choices=COVERAGES),
            powertrains=t.texts("powertrains", choices=POWERTRAINS),
            source=t.text("source"),
        )
        t.close()
        if code.code in out:
            raise ReferenceDataError(t.entry, "code", "listed twice")
        out[code.code] = code
    top.close()
    return out

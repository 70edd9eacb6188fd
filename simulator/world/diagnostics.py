"""Diagnostic trouble codes as a process driven by distance (pure).

Each code the vehicle's powertrain can raise (catalog: ``codes.toml``) has a rate per 1,000 km
(catalog: ``models.toml`` ``[diagnostics]``), scaled by the
model's factor and the scenario's. On a driving day a code that is not active is raised with
probability ``1 - exp(-rate * km / 1000)``. An intermittent code clears itself after some days;
the others stay active until a service repairs them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from reference.catalog import Catalog, CodeSpec, ModelSpec
from simulator.scenario.people import DiagnosticsSection
from simulator.world.events import DtcCleared, DtcRaised

INTERMITTENT = "intermittent"
UNTIL_SERVICE = "until_service"


class CodeProcess:
    """The codes one vehicle may raise, at its rates."""

    def __init__(self, catalog: Catalog, spec: ModelSpec, diagnostics: DiagnosticsSection) -> None:
        self.codes = tuple(c for c in catalog.codes if c.fault.raised_by(spec.powertrain))
        self.by_code = {c.code: c for c in self.codes}
        model_factor = diagnostics.model_factors.get(spec.name, spec.dtc_factor)
        self.factor = model_factor * diagnostics.rate_factor
        self.clear_days = diagnostics.self_clear_days or catalog.self_clear_days

    def raise_codes(
        self,
        rng: np.random.Generator,
        active: dict[str, int | None],
        km: float,
        day_ordinal: int,
        vin: str,
        ts_ms: int,
        odometer_m: int,
    ) -> list[DtcRaised]:
        """Raise new codes for a day's ``km``; updates ``active`` and returns the events."""
        draws = rng.random(len(self.codes))
        raised = []
        for code, draw in zip(self.codes, draws, strict=True):
            p = 1.0 - math.exp(-code.per_1000km * self.factor * km / 1000.0)
            if code.code in active or draw >= p:
                continue
            if rng.random() < code.intermittent_share:
                lo, hi = self.clear_days
                active[code.code] = day_ordinal + int(rng.integers(lo, hi + 1))
                persistence = INTERMITTENT
            else:
                active[code.code] = None
                persistence = UNTIL_SERVICE
            fault = code.fault
            raised.append(
                DtcRaised(
                    vin,
                    ts_ms,
                    odometer_m,
                    code.code,
                    persistence,
                    fault.repair,
                    fault.cost.expected,
                )
            )
        return raised

    def specs(self, codes: Sequence[str]) -> list[CodeSpec]:
        return [self.by_code[c] for c in codes]


def self_clear(
    active: dict[str, int | None], day_ordinal: int, vin: str, ts_ms: int, odometer_m: int
) -> list[DtcCleared]:
    """Clear the intermittent codes whose day has come; updates ``active``."""
    due = sorted(c for c, until in active.items() if until is not None and until <= day_ordinal)
    for code in due:
        del active[code]
    return [DtcCleared(vin, ts_ms, odometer_m, code, "self") for code in due]


def repair_all(
    active: Mapping[str, int | None], vin: str, ts_ms: int, odometer_m: int
) -> list[DtcCleared]:
    """The clear events of a service that repairs every active code (caller empties ``active``)."""
    return [DtcCleared(vin, ts_ms, odometer_m, code, "service") for code in sorted(active)]

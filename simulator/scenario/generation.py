"""What the pure generator needs: a scenario resolved against the reference data and the
pipeline's limits that decide a message's fate (payload size, future tolerance)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from kernel.errors import ConfigError
from reference.catalog import Catalog
from simulator.scenario.faults import FaultsSection
from simulator.scenario.files import BUILT_IN, Scenario, check_references
from simulator.scenario.people import (
    ConsentSection,
    DiagnosticsSection,
    FinanceSection,
    OwnersSection,
)
from simulator.scenario.profiles import Profile
from simulator.scenario.world import DealersSection, InvoicesSection, ValueSection, WearSection

DEFAULT_MAX_PAYLOAD_BYTES = 256 * 1024
DEFAULT_FUTURE_TOLERANCE_MS = 300_000


@dataclass(frozen=True, slots=True)
class GenerationParams:
    """What to generate, fully resolved. ``profiles`` maps each profile in the mix to its share
    (normalised) and ``profile_specs`` to its definition with the scenario's overrides."""

    seed: int
    days: int
    vehicles: int
    dealers: int
    profiles: Mapping[str, float]
    profile_specs: Mapping[str, Profile]
    model_weights: Mapping[str, float]
    diagnostics: DiagnosticsSection
    owners: OwnersSection
    finance: FinanceSection
    consent: ConsentSection
    faults: FaultsSection
    max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES
    future_tolerance_ms: int = DEFAULT_FUTURE_TOLERANCE_MS
    horizon_days: int = 0
    market: str = "US"
    dealer_prices: DealersSection = field(default_factory=DealersSection)
    invoices: InvoicesSection = field(default_factory=InvoicesSection)
    wear: WearSection = field(default_factory=WearSection)
    value: ValueSection = field(default_factory=ValueSection)

    @property
    def malformed_rates(self) -> dict[str, float]:
        """Rate per valid message by kind; ``vin_mismatch`` needs two vehicles."""
        rates = self.faults.malformed.rates()
        if self.vehicles < 2:
            rates["vin_mismatch"] = 0.0
        return rates


def generation_params(
    scenario: Scenario,
    catalog: Catalog,
    profiles: Mapping[str, Profile],
    *,
    source: str = BUILT_IN,
    max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
    future_tolerance_ms: int = DEFAULT_FUTURE_TOLERANCE_MS,
) -> GenerationParams:
    """Resolve ``scenario`` against the reference data and the pipeline's limits."""
    specs = check_references(scenario, catalog, dict(profiles), source)
    skew = scenario.faults.clock_skew
    if skew.per_vehicle_day > 0 and skew.offset_s[1] * 1000 > future_tolerance_ms:
        raise ConfigError(
            f"{source}: faults.clock_skew.offset_s: {skew.offset_s[1]:g} s exceeds the pipeline's"
            f" future tolerance ({future_tolerance_ms / 1000:g} s); such samples would be"
            " neither surely stored nor surely rejected"
        )
    shares = {n: s for n, s in scenario.fleet.profiles.items() if s > 0}
    total = sum(shares.values())
    weights = {m.name: scenario.fleet.models.get(m.name, m.weight) for m in catalog.models}
    return GenerationParams(
        seed=scenario.scenario.seed,
        days=scenario.scenario.days,
        vehicles=scenario.fleet.vehicles,
        dealers=scenario.fleet.dealers,
        profiles={n: s / total for n, s in sorted(shares.items())},
        profile_specs=specs,
        model_weights=weights,
        diagnostics=scenario.diagnostics,
        owners=scenario.owners,
        finance=scenario.finance,
        consent=scenario.consent,
        faults=scenario.faults,
        max_payload_bytes=max_payload_bytes,
        future_tolerance_ms=future_tolerance_ms,
        horizon_days=scenario.scenario.horizon_days,
        market=scenario.fleet.market,
        dealer_prices=scenario.dealers,
        invoices=scenario.invoices,
        wear=scenario.wear,
        value=scenario.value,
    )

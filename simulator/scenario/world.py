"""How the simulated world departs from the catalog: prices, wear and value (scenario sections).

The catalog (``reference/data``) holds the figures a predictor knows; the world draws its own
truth around them, so that a perfect reader of the catalog still has a real, measurable error:

- ``[dealers]``: each dealer's parts price level and labour rate;
- ``[invoices]``: noise on each invoice line, unrelated small repairs a visit turns up, and each
  owner's independent garage;
- ``[wear]``: each vehicle's true life of every wear item;
- ``[value]``: each vehicle's list price as built (trim and options, which the registry knows),
  its true market value around the depreciation curve, and a fleet-wide market factor.

Every factor is lognormal with mean 1 (``exp(N(-sigma^2 / 2, sigma^2))``), so the catalog's
figure stays the world's average.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from simulator.scenario.checks import Probability, Range, Section

Sigma = float


class DealersSection(Section):
    """Spread of the dealers' parts price level and labour rate around the catalog's prices."""

    price_level_sigma: Sigma = Field(default=0.12, ge=0.0, le=1.0)
    labour_rate_sigma: Sigma = Field(default=0.12, ge=0.0, le=1.0)


class InvoicesSection(Section):
    """Line-level noise, unrelated small repairs and independent garages' prices."""

    item_sigma: Sigma = Field(default=0.10, ge=0.0, le=1.0)
    other_repair_probability: Probability = 0.2
    other_repair_usd: Range = (40.0, 300.0)
    independent_sigma: Sigma = Field(default=0.15, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _positive(self) -> InvoicesSection:
        if self.other_repair_usd[0] < 0:
            raise ValueError("other_repair_usd must be >= 0")
        return self


class WearSection(Section):
    """Spread of each vehicle's true wear-item life around the catalog's life."""

    life_sigma: Sigma = Field(default=0.22, ge=0.0, le=1.0)


class ValueSection(Section):
    """Spread of each vehicle's list price as built (trim, options: known to the registry), of
    its true value around the curve (condition, colour: unknown) and of the whole market."""

    options_sigma: Sigma = Field(default=0.08, ge=0.0, le=1.0)
    vehicle_sigma: Sigma = Field(default=0.07, ge=0.0, le=1.0)
    market_sigma: Sigma = Field(default=0.06, ge=0.0, le=1.0)

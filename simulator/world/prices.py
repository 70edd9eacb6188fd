"""What a garage charges, around the catalog's prices (pure).

The catalog gives one expected price per line (parts and labour together). A garage has a parts
price level and a labour rate, both factors on the catalog's figures; a line's price at that
garage is the catalog's expected price split into labour and parts by :data:`LABOUR_SHARE`
(assumption, by kind of line), each part scaled by the garage's factor::

    price = expected * (share * labour_rate + (1 - share) * parts_level)

Each dealer draws its two factors once (lognormal with mean 1, ``[dealers]``). Each owner's
independent garage charges the catalog's independent price factor times its own level (lognormal
with mean 1, ``invoices.independent_sigma``), on parts and labour alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from simulator.scenario.world import DealersSection

# Share of labour in a line's price, by kind of line. Assumption: a scheduled service is mostly
# labour; wear items and repairs are about half parts; an unrelated small repair half and half.
LABOUR_SHARE: dict[str, float] = {"scheduled": 0.6, "wear": 0.4, "repair": 0.45, "other": 0.5}
DEALER = "dealer"
INDEPENDENT = "independent"


def mean_one(rng: np.random.Generator, sigma: float) -> float:
    """A lognormal factor with mean 1: ``exp(N(-sigma^2 / 2, sigma^2))``."""
    return float(rng.lognormal(-(sigma**2) / 2.0, sigma))


def mean_one_many(rng: np.random.Generator, sigma: float, size: int) -> list[float]:
    return [float(x) for x in rng.lognormal(-(sigma**2) / 2.0, sigma, size=size)]


@dataclass(frozen=True, slots=True)
class Garage:
    """Where a vehicle is serviced: a dealer (``garage_id`` its id) or an independent garage."""

    where: str
    garage_id: str | None
    parts_level: float
    labour_rate: float

    def price_usd(self, expected_usd: float, kind: str) -> float:
        """The garage's price of a line whose catalog price is ``expected_usd``."""
        share = LABOUR_SHARE[kind]
        return expected_usd * (share * self.labour_rate + (1.0 - share) * self.parts_level)

    def as_json(self) -> dict[str, Any]:
        return {
            "parts_level": round(self.parts_level, 4),
            "labour_rate": round(self.labour_rate, 4),
        }


def draw_dealers(
    rng: np.random.Generator, dealer_ids: Sequence[str], section: DealersSection
) -> dict[str, Garage]:
    """Every dealer's price level and labour rate, in ``dealer_ids`` order."""
    parts = mean_one_many(rng, section.price_level_sigma, len(dealer_ids))
    labour = mean_one_many(rng, section.labour_rate_sigma, len(dealer_ids))
    return {
        d: Garage(DEALER, d, p, lab) for d, p, lab in zip(dealer_ids, parts, labour, strict=True)
    }


def independent_garage(rng: np.random.Generator, factor: float, sigma: float) -> Garage:
    """An owner's independent garage: the catalog's independent factor times its own level."""
    level = factor * mean_one(rng, sigma)
    return Garage(INDEPENDENT, None, level, level)

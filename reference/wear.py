"""Wear items: parts replaced after a distance or an age, whichever comes first."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from reference.fields import Table, check_version
from reference.money import PriceRange, read_currency, read_range
from reference.terms import COVERAGES, POWERTRAINS

VERSION = 1


@dataclass(frozen=True, slots=True)
class WearItem:
    """Typical life by powertrain (km) and/or in months, price range, who pays."""

    item: str
    description: str
    powertrains: tuple[str, ...]
    life_km: Mapping[str, float]
    life_months: int | None
    price: PriceRange
    coverage: str
    source: str

    def applies_to(self, powertrain: str) -> bool:
        return powertrain in self.powertrains

    def life_km_for(self, powertrain: str) -> float | None:
        """Distance life on ``powertrain``; ``None`` if the item wears by time only."""
        return self.life_km.get(powertrain)


def parse_wear(top: Table) -> tuple[WearItem, ...]:
    check_version(top, VERSION)
    read_currency(top)
    items = tuple(_item(t) for t in top.tables("items", "item"))
    names = [w.item for w in items]
    for i, name in enumerate(names):
        if name in names[:i]:
            top.fail("items", f"item {name!r} listed twice")
    top.close()
    return items


def _item(t: Table) -> WearItem:
    powertrains = t.texts("powertrains", choices=POWERTRAINS)
    item = WearItem(
        item=t.text("item", pattern=r"[a-z0-9_]+"),
        description=t.text("description"),
        powertrains=powertrains,
        life_km=MappingProxyType(_life_km(t, powertrains)),
        life_months=t.optional_integer("life_months", minimum=1),
        price=read_range(t, "price"),
        coverage=t.text("coverage", choices=COVERAGES),
        source=t.text("source"),
    )
    if not item.life_km and item.life_months is None:
        t.fail("life_km", "an item needs life_km, life_months or both")
    t.close()
    return item


def _life_km(t: Table, powertrains: tuple[str, ...]) -> dict[str, float]:
    """``life_km``: one number for every powertrain, or a table by powertrain."""
    if not t.has("life_km"):
        return {}
    if not isinstance(t.raw("life_km"), dict):
        km = t.number("life_km", positive=True)
        return dict.fromkeys(powertrains, km)
    by = t.table("life_km")
    if set(by.names()) != set(powertrains):
        t.fail("life_km", f"needs exactly the item's powertrains {', '.join(powertrains)}")
    life = {p: by.number(p, positive=True) for p in powertrains}
    by.close()
    return life

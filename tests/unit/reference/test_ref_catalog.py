"""The shipped reference data: every file loads, names its sources and keeps its ranges."""

from __future__ import annotations

import re
import tomllib

import pytest

from reference.catalog import (
    COVERAGES,
    DATA_DIR,
    POWERTRAINS,
    SEVERITIES,
    Money,
    PriceRange,
    data_files,
    default_catalog,
    load_catalog,
)
from reference.codes import CODE_PATTERN

CATALOG = load_catalog()
FILES = data_files(DATA_DIR)


def test_every_file_loads_once_and_is_versioned() -> None:
    for name, path in FILES.items():
        assert isinstance(tomllib.loads(path.read_text())["version"], int), name
    assert default_catalog() is default_catalog()
    assert default_catalog().fault_codes.keys() == CATALOG.fault_codes.keys()


@pytest.mark.parametrize("name", sorted(FILES))
def test_each_file_header_names_its_sources(name: str) -> None:
    lines = FILES[name].read_text().splitlines()
    header = " ".join(line for line in lines[: lines.index("")] if line.startswith("#"))
    assert "Sources:" in header
    assert "ssumption" in FILES[name].read_text()


@pytest.mark.parametrize("name", sorted(FILES))
def test_every_section_has_a_source_comment_or_field(name: str) -> None:
    """Each ``[table]`` or ``[[array]]`` block carries a ``#`` comment or a ``source`` field."""
    text = FILES[name].read_text()
    blocks = re.split(r"^(?=\[)", text, flags=re.MULTILINE)[1:]
    assert blocks
    for block in blocks:
        head = block.splitlines()[0]
        assert "\n#" in block or "source = " in block, f"{name}: {head} names no source"


def test_codes_cover_every_system_in_j2012_format() -> None:
    codes = CATALOG.fault_codes
    assert len(codes) >= 30
    assert {c.system for c in codes.values()} == {"P", "C", "B", "U"}
    for code, fault in codes.items():
        assert re.fullmatch(CODE_PATTERN, code) and fault.code == code
        assert fault.severity in SEVERITIES and fault.coverage in COVERAGES
        assert set(fault.powertrains) <= set(POWERTRAINS) and fault.source.strip()
        assert fault.description.strip() and fault.repair.strip()
    assert {c.severity for c in codes.values()} == set(SEVERITIES)


def test_combustion_codes_are_not_raised_by_evs() -> None:
    for code in ("P0420", "P0300", "P0455", "P0101"):
        fault = CATALOG.fault(code)
        assert fault is not None and not fault.raised_by("ev") and fault.raised_by("ice")
    battery = CATALOG.fault("P0A7F")
    assert battery is not None and battery.coverage == "traction_battery"
    assert battery.raised_by("ev") and not battery.raised_by("ice")
    assert CATALOG.fault("P9999") is None


def _ranges() -> list[tuple[str, PriceRange]]:
    out = [(f"code {c.code}", c.cost) for c in CATALOG.fault_codes.values()]
    out += [(f"wear {w.item}", w.price) for w in CATALOG.wear]
    out += [(f"service {p}", s.price) for p, s in CATALOG.service.items()]
    return out


def test_every_price_is_low_expected_high_in_dollars() -> None:
    ranges = _ranges()
    assert len(ranges) > 50
    for name, r in ranges:
        assert 0 <= r.low <= r.expected <= r.high, name
        assert r.currency == "USD" == CATALOG.currency, name


def test_the_simulator_bills_todays_repair_costs() -> None:
    """The 8 simulated codes keep their earlier costs as the expected value."""
    billed = {c.code: (c.fault.repair, c.fault.cost.expected) for c in CATALOG.codes}
    assert billed == {
        "P0420": ("catalytic converter", 1304),
        "P0135": ("oxygen sensor", 253),
        "P0101": ("mass air flow sensor", 311),
        "P0300": ("ignition coil and spark plugs", 398),
        "P0441": ("EVAP purge valve", 141),
        "P0455": ("fuel cap", 25),
        "C0035": ("ABS wheel-speed sensor", 271),
        "U0100": ("reprogram PCM", 109),
    }
    assert {p: s.price.expected for p, s in CATALOG.service.items()} == {
        "ice": 260,
        "hybrid": 260,
        "ev": 190,
    }


def test_wear_items_follow_the_powertrain() -> None:
    items = {w.item: w for w in CATALOG.wear}
    assert {
        "brake_pads_front",
        "brake_pads_rear",
        "brake_discs",
        "tyres",
        "battery_12v",
        "wiper_blades",
        "cabin_air_filter",
        "engine_air_filter",
    } <= set(items)
    assert "engine_air_filter" not in {w.item for w in CATALOG.wear_for("ev")}
    assert "engine_air_filter" in {w.item for w in CATALOG.wear_for("hybrid")}
    pads = items["brake_pads_front"]
    ice_km, ev_km = pads.life_km_for("ice"), pads.life_km_for("ev")
    assert ice_km is not None and ev_km is not None and ev_km > ice_km
    assert items["battery_12v"].life_km_for("ice") is None
    assert items["battery_12v"].life_months == 48
    for w in CATALOG.wear:
        assert w.life_months is not None or all(w.life_km_for(p) for p in w.powertrains)
        assert w.source.strip()
    assert sum(w.coverage == "none" for w in CATALOG.wear) >= len(CATALOG.wear) - 1


def test_codes_name_a_coverage_the_warranty_terms_know() -> None:
    terms = CATALOG.warranty_for("Hyundai")
    assert terms.coverage("powertrain") == terms.powertrain
    assert terms.coverage("traction_battery") == terms.traction_battery
    assert terms.coverage("none") is None
    for fault in CATALOG.fault_codes.values():
        assert (terms.coverage(fault.coverage) is None) == (fault.coverage == "none")


def test_prices_convert_to_a_markets_currency() -> None:
    assert set(CATALOG.markets) >= {"US", "GB", "DE"}
    assert CATALOG.market("US").convert(Money(260.0, "USD")) == Money(260.0, "USD")
    gb, de = CATALOG.market("GB"), CATALOG.market("DE")
    assert gb.currency == "GBP" and de.currency == "EUR"
    assert gb.convert(Money(100.0, "USD")) == Money(pytest.approx(78.0), "GBP")
    fault = CATALOG.fault("P0420")
    assert fault is not None
    cost = de.convert_range(fault.cost)
    assert cost.currency == "EUR"
    assert (cost.low, cost.expected, cost.high) == pytest.approx((598.0, 1199.68, 2392.0))
    assert str(gb.convert(fault.cost.expected_money)) == "1,017.12 GBP"
    with pytest.raises(ValueError, match="USD"):
        gb.convert(Money(1.0, "EUR"))
    with pytest.raises(KeyError, match="known: US"):
        CATALOG.market("XX")

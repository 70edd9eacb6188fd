"""A bad reference-data file stops the load with one line naming the file, entry and field."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kernel.errors import ConfigError
from reference.catalog import DATA_DIR, data_files, load_catalog

# (file, text to replace once, replacement, what the one-line error must say after the file name)
CORRUPTIONS = [
    (
        "codes",
        "cost_high_usd = 2600",
        "cost_high_usd = 1000",
        "codes[0] (P0420) field cost_high_usd: must be >= cost_expected_usd",
    ),
    (
        "codes",
        "cost_low_usd = 650",
        "cost_low_usd = 2000",
        "codes[0] (P0420) field cost_expected_usd: must be >= cost_low_usd",
    ),
    ("codes", 'code = "P0430"', 'code = "X0430"', "codes[1] (X0430) field code: must match"),
    ("codes", 'code = "P0430"', 'code = "P0420"', "codes[1] (P0420) field code: listed twice"),
    ("codes", 'severity = "medium"', 'severity = "urgent"', "codes[0] (P0420) field severity"),
    (
        "codes",
        'powertrains = ["ice", "hybrid"]',
        'powertrains = ["ice", "steam"]',
        "codes[0] (P0420) field powertrains: each item must be one of ice, hybrid, ev",
    ),
    ("codes", 'repair = "catalytic converter"\n', "", "codes[0] (P0420) field repair: missing"),
    (
        "codes",
        'code = "P0420"\n',
        'code = "P0420"\ncost_usd = 5\n',
        "codes[0] (P0420) field cost_usd: unknown field",
    ),
    ("codes", 'currency = "USD"', 'currency = "EUR"', "field currency: must be one of USD"),
    (
        "models",
        '{ code = "P0420", per',
        '{ code = "P0999", per',
        "diagnostics.codes[0] (P0999) field code: not in",
    ),
    ("models", "version = 3", "version = 2", "field version: this code reads version 3, got 2"),
    (
        "models",
        "price_high_usd = 425",
        "price_high_usd = 100",
        "service.ice field price_high_usd: must be >= price_expected_usd",
    ),
    ("models", "basic = [4, 50000]", "basic = [4]", "warranty.BMW field basic: must be [years"),
    (
        "models",
        'powertrain = "ev"',
        'powertrain = "steam"',
        "models[5] (Ford Mustang Mach-E) field powertrain: must be one of ice, hybrid, ev",
    ),
    ("models", "msrp_usd = 28400", 'msrp_usd = "cheap"', "(Toyota Camry) field msrp_usd"),
    (
        "wear",
        "life_km = { ice = 80000, hybrid = 80000, ev = 64000 }",
        "life_km = { ice = 80000, ev = 64000 }",
        "items[3] (tyres) field life_km: needs exactly the item's powertrains",
    ),
    (
        "wear",
        'coverage = "none"',
        'coverage = "maybe"',
        "items[0] (brake_pads_front) field coverage",
    ),
    (
        "depreciation",
        "year_one_drop = 0.18",
        "year_one_drop = 0.5",
        "segments.sedan field five_year_loss: with powertrains.ice leaves no decline",
    ),
    (
        "depreciation",
        "low_factor = 0.93",
        "low_factor = 1.5",
        "uncertainty field low_factor: must be <= 1",
    ),
    ("depreciation", "suv = {", "crossover = {", "segments field suv: missing"),
    ("markets", 'currency = "GBP"', 'currency = "pounds"', "markets[1] (GB) field currency"),
    ("markets", "per_usd = 0.78", "per_usd = ", "line 25"),
]


def _copy(tmp_path: Path) -> dict[str, Path]:
    for path in data_files(DATA_DIR).values():
        shutil.copy(path, tmp_path / path.name)
    return data_files(tmp_path)


def test_a_copy_of_the_shipped_files_loads(tmp_path: Path) -> None:
    assert load_catalog(**_copy(tmp_path)).fault_codes


@pytest.mark.parametrize(("name", "old", "new", "says"), CORRUPTIONS)
def test_a_corruption_is_one_line_naming_file_entry_and_field(
    tmp_path: Path, name: str, old: str, new: str, says: str
) -> None:
    files = _copy(tmp_path)
    text = files[name].read_text()
    assert old in text
    files[name].write_text(text.replace(old, new, 1))
    with pytest.raises(ConfigError) as caught:
        load_catalog(**files)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"invalid reference data {files[name]}: ")
    assert says in message


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    files = _copy(tmp_path)
    files["wear"].unlink()
    with pytest.raises(ConfigError, match=r"cannot read reference data .*wear\.toml"):
        load_catalog(**files)


def test_shipped_files_are_named_from_the_repository_root() -> None:
    bad = DATA_DIR / "missing.toml"
    with pytest.raises(ConfigError, match=r"reference data reference/data/missing\.toml: No such"):
        load_catalog(wear=bad)

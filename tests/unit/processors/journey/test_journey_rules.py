"""Alert rules: the shipped defaults load; a bad file is one line naming file, entry, field."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from kernel.errors import ConfigError
from processors.journey.rules import DEFAULT_RULES_PATH, GATES, load_rules

DEFAULT = DEFAULT_RULES_PATH.read_text(encoding="utf-8")


def test_the_defaults_are_documented_figures() -> None:
    rules = load_rules()
    assert rules.contact.budget == 2 and rules.contact.budget_window_days == 30
    assert (rules.stages.early_days, rules.stages.near_days, rules.stages.near_km) == (30, 14, 800)
    assert set(rules.alerts) == set(GATES)
    assert rules.alerts["upgrade_window"].priority == max(a.priority for a in rules.alerts.values())
    assert rules.alerts["lapsed"].severity == "low"
    assert tomllib.loads(DEFAULT)["version"] == 1


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("priority = 55", 'priority = "high"', "big_bill field priority: must be an integer"),
        ('purpose = "marketing"\nseverity = "high"', 'purpose = "sales"\nseverity = "high"',
         "alerts.upgrade_window field purpose: must be one of service, marketing"),
        ("budget = 2", "budget = 0", "contact field budget: must be >= 1"),
        ("exit_days = 60", "exit_days = 10", "ending field exit_days: must be >= enter_days"),
        ("USD = 600.0", "usd = 600.0", "big_bill.amounts field usd: must be an ISO 4217"),
        ("horizon_days = 90", "horizon_days = 90\nhorizon_weeks = 3",
         "big_bill field horizon_weeks: unknown field"),
        ('any_of = ["warranty_ending"', 'any_of = ["lapsed"',
         "upgrade_window field any_of: each item must be one of"),
    ],
)  # fmt: skip
def test_a_bad_file_is_one_line_naming_file_entry_and_field(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    assert old in DEFAULT
    path = tmp_path / "rules.toml"
    path.write_text(DEFAULT.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_rules(path)
    text = str(info.value)
    assert "\n" not in text
    assert text.startswith(f"{path}: ")
    assert message in text, text


def test_an_unreadable_or_invalid_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_rules(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("version = [", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_rules(bad)

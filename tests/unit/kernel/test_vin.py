"""The one VIN rule: its pattern (also the database's CHECK), check digit and where it is due."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingest.logic import parse_topic
from kernel.errors import DataError
from kernel.vin import (
    VIN_ALPHABET,
    VIN_PATTERN,
    VIN_REGEX,
    check_digit,
    check_digit_mandatory,
    check_digit_ok,
    is_valid,
    is_well_formed,
)

MIGRATIONS = Path(__file__).parents[3] / "database" / "migrations"


def test_the_database_check_is_the_kernel_pattern() -> None:
    sql = (MIGRATIONS / "0001_foundation.sql").read_text(encoding="utf-8")
    checks = re.findall(r"CHECK \(vin ~ '\^(.*?)\$'\)", sql)
    assert checks == [VIN_REGEX]


def test_the_pattern_is_17_characters_without_i_o_q() -> None:
    assert set(VIN_ALPHABET) == {c for c in map(chr, range(128)) if VIN_PATTERN.fullmatch(c * 17)}
    assert not set(VIN_ALPHABET) & set("IOQ")
    assert is_well_formed("1M8GDM9AXKP042788")
    for bad in ("1M8GDM9AXKP04278", "1M8GDM9AXKP0427888", "1M8GDM9AXKP04278O", "1m8gdm9axkp042788"):
        assert not is_well_formed(bad)
    assert not is_well_formed("1M8GDM9AXKP042788\n")


@given(st.text(VIN_ALPHABET + "IOQa/ \n", min_size=15, max_size=19))
def test_the_bridge_takes_a_topic_vin_exactly_when_the_rule_does(vin: str) -> None:
    topic = f"vehicles/{vin}/telemetry"
    if is_well_formed(vin):
        assert parse_topic("vehicles", topic) == vin
    else:
        with pytest.raises(DataError):
            parse_topic("vehicles", topic)


@pytest.mark.parametrize(
    "vin",
    ["1HGCM82633A004352", "1M8GDM9AXKP042788", "11111111111111111"],
)
def test_check_digit_of_published_examples(vin: str) -> None:
    assert check_digit(vin) == vin[8]
    assert is_valid(vin)


def test_check_digit_ten_is_x() -> None:
    assert check_digit("1M8GDM9AXKP042788") == "X"


def test_a_wrong_check_digit_is_invalid() -> None:
    assert not is_valid("1HGCM82643A004352")
    assert not is_valid("1HGCM8263")
    with pytest.raises(ValueError, match="17 characters"):
        check_digit("1HGCM8263")


def test_the_check_digit_is_mandatory_for_north_american_wmis_only() -> None:
    assert all(check_digit_mandatory(f"{c}HG") for c in "12345")
    assert not any(check_digit_mandatory(f"{c}AB") for c in "6789JKLSTVWXYZ")
    assert check_digit_mandatory("1M8GDM9AXKP042788")


def test_check_digit_ok_spares_makers_that_put_something_else_there() -> None:
    assert check_digit_ok("1M8GDM9AXKP042788")
    assert not check_digit_ok("1M8GDM9A0KP042788")
    assert check_digit_ok("6FPAAAJGCM0000001")  # Ford Australia: position 9 is a model code

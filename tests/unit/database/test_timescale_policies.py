"""The TimescaleDB policies `journeygate migrate` applies: defaults, settings over them, and one
line for a bad setting (pure)."""

from __future__ import annotations

import pytest

from database.migrate import Policy, policies
from kernel.errors import ConfigError


def test_defaults_and_settings_over_them() -> None:
    assert policies({}, {}) == [Policy("telemetry", 1095, 30), Policy("signals", 730, 90)]
    chosen = policies({"signals": -1}, {"telemetry": 7})
    assert chosen == [Policy("telemetry", 1095, 7), Policy("signals", -1, 90)]


@pytest.mark.parametrize(
    ("retention", "compress", "message"),
    [
        ({"alerts": 30}, {}, "store_retention_days: 'alerts' is not a hypertable"),
        ({}, {"telemetry": 0}, "store_compress_after_days: telemetry: 0 (positive up to 36500,"),
        ({"signals": -3}, {}, "store_retention_days: signals: -3"),
        ({"signals": float("nan")}, {}, "store_retention_days: signals: nan"),
        ({}, {"signals": float("inf")}, "store_compress_after_days: signals: inf"),
        ({"telemetry": 1e12}, {}, "store_retention_days: telemetry: 1000000000000.0"),
    ],
)
def test_a_bad_setting_is_one_line(
    retention: dict[str, float], compress: dict[str, float], message: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        policies(retention, compress)
    assert str(raised.value).startswith(message)
    assert "\n" not in str(raised.value)

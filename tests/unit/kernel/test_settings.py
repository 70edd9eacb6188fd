"""Settings: environment and overrides, validation with one-line errors, secrets masked."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kernel.errors import ConfigError
from kernel.settings import load_settings, mask_url


def test_environment_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOURNEYGATE_KAFKA_BOOTSTRAP", "kafka-1:9092")
    monkeypatch.setenv("JOURNEYGATE_KAFKA_PARTITIONS", "24")
    settings = load_settings()
    assert settings.kafka_bootstrap == "kafka-1:9092"
    assert settings.kafka_partitions == 24


def test_overrides_beat_environment_and_none_means_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOURNEYGATE_TOPIC_PREFIX", "env.")
    assert load_settings(topic_prefix="flag.").topic_prefix == "flag."
    assert load_settings(topic_prefix=None).topic_prefix == "env."


def test_settings_are_frozen() -> None:
    settings = load_settings()
    with pytest.raises(ValueError, match="frozen"):
        settings.kafka_partitions = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    ("field", "value", "env"),
    [
        ("kafka_partitions", 0, "JOURNEYGATE_KAFKA_PARTITIONS"),
        ("mqtt_url", "http://x", "JOURNEYGATE_MQTT_URL"),
        ("database_url", "mysql://x/y", "JOURNEYGATE_DATABASE_URL"),
        ("mqtt_protocol", "4", "JOURNEYGATE_MQTT_PROTOCOL"),
        ("mqtt_topic_root", "a/#", "JOURNEYGATE_MQTT_TOPIC_ROOT"),
    ],
)
def test_bad_value_is_one_line_naming_the_setting(field: str, value: object, env: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(**{field: value})
    message = str(info.value)
    assert "\n" not in message
    assert field in message and env in message


def test_bad_environment_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOURNEYGATE_METRICS_PORT", "not-a-port")
    with pytest.raises(ConfigError, match="metrics_port"):
        load_settings()


def test_passwords_are_masked_in_every_printout() -> None:
    settings = load_settings(
        mqtt_url="mqtt://bridge:s3cr3t-mqtt@broker:1883",
        database_url="postgresql://jg:s3cr3t-db@db:5432/journeygate",
    )
    for text in (repr(settings), str(settings), str(settings.masked())):
        assert "s3cr3t" not in text
        assert "bridge:***@broker:1883" in text


@given(
    user=st.from_regex(r"[a-z]{1,8}", fullmatch=True),
    password=st.from_regex(r"[A-Za-z0-9]{4,20}", fullmatch=True),
    port=st.integers(1, 65535),
)
def test_mask_url_never_leaks_the_password(user: str, password: str, port: int) -> None:
    masked = mask_url(f"postgresql://{user}:{password}@host.example:{port}/db")
    assert masked == f"postgresql://{user}:***@host.example:{port}/db"


def test_topic_prefix_applies() -> None:
    assert load_settings(topic_prefix="t1.").topic("telemetry.raw") == "t1.telemetry.raw"

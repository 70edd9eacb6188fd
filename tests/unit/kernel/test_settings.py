"""Settings: environment and overrides, validation with one-line errors, secrets masked."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kernel.errors import ConfigError
from kernel.settings import OTHER_VARIABLES, load_settings, mask_url, unknown_variables


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


def test_an_unknown_variable_is_an_error_naming_it_and_the_closest_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("JOURNEYGATE_DATABASE_ULR", "postgresql://db/x")
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = str(info.value)
    assert "\n" not in message
    assert "JOURNEYGATE_DATABASE_ULR" in message
    assert "did you mean JOURNEYGATE_DATABASE_URL?" in message


def test_variables_of_single_commands_and_of_the_tests_are_not_settings_but_allowed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in (*OTHER_VARIABLES, "JOURNEYGATE_TEST_MQTT_URL"):
        monkeypatch.setenv(name, "x")
    assert unknown_variables({"JOURNEYGATE_KAFKA_PARTITIONS": "3", "HOME": "/"}) == []
    load_settings()


def test_log_format_and_level_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOURNEYGATE_LOG_FORMAT", "JSON")
    monkeypatch.setenv("JOURNEYGATE_LOG_LEVEL", "debug")
    settings = load_settings()
    assert (settings.log_format, settings.log_level) == ("json", "DEBUG")
    monkeypatch.setenv("JOURNEYGATE_LOG_FORMAT", "xml")
    with pytest.raises(ConfigError, match="JOURNEYGATE_LOG_FORMAT"):
        load_settings()


def test_a_password_in_a_query_string_is_masked_too() -> None:
    settings = load_settings(
        database_url="postgresql://db:5432/journeygate?user=jg&password=s3cr3t-q&sslmode=require"
    )
    for text in (repr(settings), str(settings.masked())):
        assert "s3cr3t" not in text
        assert "password=***" in text and "sslmode=require" in text

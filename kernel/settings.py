"""One immutable settings object per process, read from the environment and flags in one place.

Every field has its unit in its name. Values come from ``JOURNEYGATE_*`` environment variables;
command-line flags override them through :func:`load_settings`. A ``JOURNEYGATE_*`` variable that
names no setting is an error naming the closest one (a typo would otherwise be ignored silently).
Secrets inside URLs are masked whenever settings are printed.
"""

from __future__ import annotations

import difflib
import os
import socket
from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from kernel.errors import ConfigError

ENV_PREFIX = "JOURNEYGATE_"
# JOURNEYGATE_* variables that are not settings: options of single commands (read by their
# flags), the Compose file's secrets (which it puts into URLs) and the test suite's.
OTHER_VARIABLES = frozenset(
    {
        "JOURNEYGATE_API_RATE",
        "JOURNEYGATE_API_BURST",
        "JOURNEYGATE_WEBHOOK_SECRET",
        "JOURNEYGATE_WEBHOOK_MAX_ATTEMPTS",
        "JOURNEYGATE_BRIDGE_MQTT_PASSWORD",
        "JOURNEYGATE_SIMULATOR_MQTT_PASSWORD",
        "JOURNEYGATE_MQTT_HEALTHCHECK_PASSWORD",
        "JOURNEYGATE_FUZZ_EXAMPLES",
    }
)
OTHER_PREFIXES = ("JOURNEYGATE_TEST_",)
# Query parameters of a URL that carry a secret (libpq takes ``password`` there too).
_SECRET_PARAMS = frozenset({"password", "pass", "passwd", "secret", "token", "api_key", "apikey"})


def mask_url(url: str) -> str:
    """Return ``url`` with any password (in its user part or its query) replaced by ``***``."""
    try:
        parts = urlsplit(url)
        port = parts.port
        query = parse_qsl(parts.query, keep_blank_values=True)
    except ValueError:
        return "***"
    netloc = parts.netloc
    if parts.password is not None:
        user = parts.username or ""
        host = parts.hostname or ""
        netloc = f"{user}:***@{host}" + (f":{port}" if port else "")
    masked_query = parts.query
    if any(key.lower() in _SECRET_PARAMS for key, _ in query):
        masked_query = urlencode(
            [(k, "***" if k.lower() in _SECRET_PARAMS else v) for k, v in query], safe="*"
        )
    if netloc == parts.netloc and masked_query == parts.query:
        return url
    return urlunsplit((parts.scheme, netloc, parts.path, masked_query, parts.fragment))


class Settings(BaseSettings):
    """Connections and tuning shared by every stage."""

    model_config = SettingsConfigDict(
        env_prefix="JOURNEYGATE_", frozen=True, extra="forbid", validate_default=True
    )

    # --- connections -----------------------------------------------------------------------
    mqtt_url: str = "mqtt://127.0.0.1:1883"
    mqtt_protocol: str = Field(default="3.1.1", pattern=r"^(3\.1\.1|5)$")
    mqtt_topic_root: str = Field(default="vehicles", min_length=1, pattern=r"^[^#+]+$")
    kafka_bootstrap: str = "127.0.0.1:9092"
    kafka_idempotence: bool = True
    kafka_partitions: int = Field(default=12, ge=1, le=10_000)
    kafka_replication_factor: int = Field(default=1, ge=1)
    store_retention_days: dict[str, float] = Field(default_factory=dict)
    """On TimescaleDB, days after which ``journeygate migrate`` has each hypertable's chunks
    dropped (-1: never), over :data:`database.migrate.DEFAULT_RETENTION_DAYS`; JSON."""
    store_compress_after_days: dict[str, float] = Field(default_factory=dict)
    """The same for compression (:data:`database.migrate.DEFAULT_COMPRESS_AFTER_DAYS`)."""
    kafka_retention_days: dict[str, float] = Field(default_factory=dict)
    """Retention of topics created by ``journeygate topics``, by topic name without the prefix
    (-1: forever), over :data:`kernel.kafka.DEFAULT_RETENTION_DAYS`; JSON in the environment."""
    kafka_session_timeout_ms: int = Field(default=10_000, ge=1000)
    kafka_heartbeat_interval_ms: int = Field(default=3_000, ge=100)
    topic_prefix: str = ""
    database_url: str = "postgresql://postgres@127.0.0.1:5432/journeygate"
    metrics_port: int = Field(default=0, ge=0, le=65535)

    # --- bridge ----------------------------------------------------------------------------
    bridge_id: str = Field(default_factory=lambda: f"bridge-{socket.gethostname()}", min_length=1)
    bridge_share_group: str = ""
    bridge_max_payload_bytes: int = Field(default=256 * 1024, ge=64)
    bridge_session_expiry_s: int = Field(default=7 * 24 * 3600, ge=0)
    bridge_kafka_linger_ms: int = Field(default=5, ge=0)
    """How long the bridge lets a batch grow before sending it to Kafka, when fewer than 500
    messages are waiting (with more it sends at once): fewer, larger produce requests against
    a few milliseconds of ack latency."""
    bridge_reconnect_max_s: float = Field(default=30.0, gt=0)
    bridge_ack_relay: bool = True
    """Publish the store writer's acknowledgements (``telemetry.acks``) on each vehicle's
    ``{root}/{VIN}/ack`` topic, over a second MQTT connection of the bridge."""

    # --- processors ------------------------------------------------------------------------
    batch_max_records: int = Field(default=5000, ge=1)
    batch_max_wait_ms: int = Field(default=200, ge=1)
    future_tolerance_s: int = Field(default=300, ge=0)
    registry_refresh_min_s: float = Field(default=1.0, ge=0)
    journey_cached_vehicles: int = Field(default=50_000, ge=0)
    """Committed vehicle states the journey processor keeps in memory between batches (about
    2.5 KB each; the least recently folded leave first; emptied on every revocation): a vehicle
    not among them is read back from ``journey_state``. Sized to the vehicles a member folds, it
    saves every read; 0 keeps none."""
    store_acks: bool = True
    """Keep, per vehicle and boot, what is durably handled (``telemetry_acks``, the sequence
    gaps) and send acknowledgements to ``telemetry.acks``; off: neither (devices that wait for
    acknowledgements then wait in vain)."""
    store_ack_interval_ms: int = Field(default=1000, ge=0, le=600_000)
    """How often the store writer sends the acknowledgements of what it stored since it last
    did (at most one per vehicle and boot each time); 0: after every batch."""

    # --- logs ------------------------------------------------------------------------------
    log_format: Literal["text", "json"] = "text"
    """``json``: one JSON object per line (time in UTC, level, logger, message, exception)."""
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"

    @field_validator("log_format", "log_level", mode="before")
    @classmethod
    def _case(cls, value: object, info: Any) -> object:
        if not isinstance(value, str):
            return value
        return value.upper() if info.field_name == "log_level" else value.lower()

    @field_validator("mqtt_url")
    @classmethod
    def _mqtt_scheme(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("mqtt", "mqtts", "tcp") or not parts.hostname:
            raise ValueError("must look like mqtt://[user:password@]host:port")
        return value

    @field_validator("kafka_bootstrap")
    @classmethod
    def _bootstrap(cls, value: str) -> str:
        for server in value.split(","):
            host, sep, port = server.strip().rpartition(":")
            if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"{server.strip()!r}: give host:port[,host:port...]")
        return value

    @field_validator("database_url")
    @classmethod
    def _pg_scheme(cls, value: str) -> str:
        if urlsplit(value).scheme not in ("postgresql", "postgres"):
            raise ValueError("must look like postgresql://user@host:port/dbname")
        return value

    def topic(self, name: str) -> str:
        """The Kafka topic ``name`` (e.g. ``telemetry.raw``) under this deployment's prefix."""
        return f"{self.topic_prefix}{name}"

    def masked(self) -> dict[str, Any]:
        """Settings as a dict safe to log: passwords in URLs replaced by ``***``."""
        data = self.model_dump()
        for key in ("mqtt_url", "database_url"):
            data[key] = mask_url(data[key])
        return data

    def __repr__(self) -> str:
        return f"Settings({self.masked()!r})"

    __str__ = __repr__


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """The ``JOURNEYGATE_*`` names in ``environ`` that are neither a setting nor one of the
    :data:`OTHER_VARIABLES`, sorted."""
    known = {ENV_PREFIX + name.upper() for name in Settings.model_fields}
    return sorted(
        name
        for name in environ
        if name.upper().startswith(ENV_PREFIX)
        and name.upper() not in known
        and name.upper() not in OTHER_VARIABLES
        and not name.upper().startswith(OTHER_PREFIXES)
    )


def closest_setting(variable: str) -> str:
    """The setting's variable that ``variable`` most likely meant to name."""
    known = [ENV_PREFIX + name.upper() for name in Settings.model_fields]
    return difflib.get_close_matches(variable.upper(), known, n=1, cutoff=0.0)[0]


def check_environment(environ: Mapping[str, str] | None = None) -> None:
    """Raise :class:`ConfigError` for the first unknown ``JOURNEYGATE_*`` variable, naming the
    closest setting."""
    unknown = unknown_variables(os.environ if environ is None else environ)
    if unknown:
        name = unknown[0]
        more = f" (and {len(unknown) - 1} more unknown)" if len(unknown) > 1 else ""
        raise ConfigError(
            f"unknown setting {name}{more}: did you mean {closest_setting(name)}?"
            ' (see the settings in README.md, "Configuration")'
        )


def load_settings(**overrides: Any) -> Settings:
    """Build settings from the environment plus explicit overrides (``None`` means not given).

    Raises :class:`ConfigError` with a one-line message naming the offending field, or the
    first ``JOURNEYGATE_*`` variable that names no setting (:func:`check_environment`).
    """
    check_environment()
    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**given)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "settings"
        env = f"JOURNEYGATE_{field.upper()}"
        raise ConfigError(f"invalid setting {field} ({env}): {first['msg']}") from None
    except SettingsError as exc:  # a JSON-valued variable that is not JSON
        raise ConfigError(f"invalid setting: {exc}") from None

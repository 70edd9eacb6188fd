"""Versioned migrations: ``database/migrations/NNNN_name.sql``, applied in order, each once.

Applied versions are recorded in ``schema_migrations``. A session-level advisory lock makes
concurrent ``journeygate migrate`` runs safe; each migration runs in its own transaction. The
shipped migrations, and the check a stage makes that a database has them all, are in
:mod:`database.schema`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg import sql

from database.db import connect
from database.schema import Migration, available_migrations
from kernel.errors import ConfigError, InfrastructureError, first_line
from kernel.retry import retry_within
from kernel.settings import mask_url

_LOCK_KEY = 0x6A6F75726E6579  # "journey"


def ensure_database(database_url: str) -> None:
    """Create the database named in ``database_url`` if it does not exist yet."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(database_url)
    dbname = parts.path.lstrip("/")
    if not dbname:
        return
    admin_url = urlunsplit((parts.scheme, parts.netloc, "/postgres", parts.query, parts.fragment))
    with connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
        if not exists:
            try:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
            except psycopg.errors.InsufficientPrivilege as exc:
                raise InfrastructureError(
                    f"cannot create the database {dbname!r}: {first_line(exc)}"
                    " (create it, or give the role CREATEDB)",
                    retriable=False,
                ) from None


def migrate(database_url: str) -> list[Migration]:
    """Apply every pending migration; return the ones applied now.

    A failure is one line naming the step: retriable when the connection failed (each migration
    is one transaction, recorded with it, so running again goes on where it stopped), not
    retriable when the server refused the statement (e.g. a role that may not create tables)."""
    applied_now: list[Migration] = []
    step = "schema_migrations"
    try:
        with connect(database_url, autocommit=True) as conn:
            conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
            try:
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations ("
                    " version integer PRIMARY KEY, name text NOT NULL,"
                    " applied_at timestamptz NOT NULL DEFAULT now())"
                )
                done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
                for migration in available_migrations():
                    if migration.version in done:
                        continue
                    step = f"{migration.version:04d}_{migration.name}"
                    with conn.transaction():
                        conn.execute(sql.SQL(migration.sql_text))
                        conn.execute(
                            "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                            (migration.version, migration.name),
                        )
                    applied_now.append(migration)
            finally:
                if not conn.closed:
                    conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    except psycopg.Error as exc:
        raise InfrastructureError(
            f"migration {step} failed on {mask_url(database_url)}: {first_line(exc)}",
            retriable=isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError),
        ) from None
    return applied_now


@dataclass(frozen=True, slots=True)
class MigrationState:
    version: int
    name: str
    applied_at: datetime | None
    """None: pending."""


def migration_status(database_url: str) -> list[MigrationState]:
    """Every shipped migration with when it was applied (None: pending), and any version the
    database has that this package does not ship (a newer release ran against it)."""
    with connect(database_url, autocommit=True) as conn:
        present = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()
        rows = (
            conn.execute("SELECT version, name, applied_at FROM schema_migrations").fetchall()
            if present and present[0]
            else []
        )
    applied: dict[int, tuple[str, datetime | None]] = {
        int(str(v)): (str(n), at if isinstance(at, datetime) else None) for v, n, at in rows
    }
    states = [
        MigrationState(m.version, m.name, applied.pop(m.version, (m.name, None))[1])
        for m in available_migrations()
    ]
    states += [MigrationState(v, n, at) for v, (n, at) in applied.items()]
    return sorted(states, key=lambda m: m.version)


def migrate_within(database_url: str, wait_s: float) -> list[Migration]:
    """Create the database if needed and apply pending migrations (:func:`ensure_database`,
    :func:`migrate`), retried with backoff for up to ``wait_s`` seconds while PostgreSQL is
    unreachable (``journeygate migrate --wait-s``: a deployment may run it before the server
    accepts connections). Returns the migrations applied now."""

    def once() -> list[Migration]:
        ensure_database(database_url)
        return migrate(database_url)

    return retry_within(once, wait_s=wait_s, what="migrations")


def timescaledb_enabled(database_url: str) -> bool:
    """Whether the store runs on TimescaleDB (the extension is installed in this database)."""
    with connect(database_url, autocommit=True) as conn:
        return has_timescaledb(conn)


def has_timescaledb(conn: psycopg.Connection[tuple[object, ...]]) -> bool:
    """:func:`timescaledb_enabled` on an open connection."""
    row = conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'").fetchone()
    return row is not None


# Ages (days) after which TimescaleDB drops and compresses each hypertable's chunks; -1: never.
DEFAULT_RETENTION_DAYS: Mapping[str, float] = {"telemetry": 3 * 365, "signals": 2 * 365}
DEFAULT_COMPRESS_AFTER_DAYS: Mapping[str, float] = {"telemetry": 30, "signals": 90}
MAX_POLICY_DAYS = 100 * 365
"""Longest age a setting may give (longer is -1, never); NaN and infinity are refused too."""


@dataclass(frozen=True, slots=True)
class Policy:
    table: str
    retention_days: float
    compress_after_days: float


def policies(retention: Mapping[str, float], compress: Mapping[str, float]) -> list[Policy]:
    """The defaults with the settings over them; ConfigError naming a table that is not a
    hypertable here, or an age neither -1 nor positive up to :data:`MAX_POLICY_DAYS`."""
    out = []
    for name, given in (
        ("store_retention_days", retention),
        ("store_compress_after_days", compress),
    ):
        for table, days in given.items():
            if table not in DEFAULT_RETENTION_DAYS:
                known = ", ".join(DEFAULT_RETENTION_DAYS)
                raise ConfigError(f"{name}: {table!r} is not a hypertable (one of {known})")
            if days != -1 and not 0 < days <= MAX_POLICY_DAYS:
                raise ConfigError(
                    f"{name}: {table}: {days} (positive up to {MAX_POLICY_DAYS}, or -1: never)"
                )
    for table in DEFAULT_RETENTION_DAYS:
        out.append(
            Policy(
                table,
                retention.get(table, DEFAULT_RETENTION_DAYS[table]),
                compress.get(table, DEFAULT_COMPRESS_AFTER_DAYS[table]),
            )
        )
    return out


def apply_policies(database_url: str, chosen: Sequence[Policy]) -> bool:
    """Set each hypertable's retention and compression policies (replacing the ones it had);
    False, doing nothing, without TimescaleDB."""
    if not timescaledb_enabled(database_url):
        return False
    with connect(database_url, autocommit=True) as conn, conn.transaction():
        for p in chosen:
            conn.execute("SELECT remove_retention_policy(%s, if_exists => true)", (p.table,))
            conn.execute("SELECT remove_compression_policy(%s, if_exists => true)", (p.table,))
            if p.retention_days != -1:
                conn.execute(
                    "SELECT add_retention_policy(%s, drop_after => %s * INTERVAL '1 day')",
                    (p.table, p.retention_days),
                )
            if p.compress_after_days != -1:
                conn.execute(
                    "SELECT add_compression_policy(%s, compress_after => %s * INTERVAL '1 day')",
                    (p.table, p.compress_after_days),
                )
    return True

"""A stage's connection asks for a database with every shipped migration, readable by its
role; ``migrate`` as a role that may not create says so in one line."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql

from database.db import aconnect
from database.migrate import ensure_database, migrate
from database.schema import available_migrations
from kernel.errors import ConfigError, InfrastructureError
from processors.store.copybin import CopyRows
from processors.store.db import StoreDb

pytestmark = pytest.mark.integration


def _open(url: str) -> None:
    async def once() -> None:
        conn = await aconnect(url, autocommit=True, migrated=True)
        await conn.close()

    asyncio.run(once())


@pytest.fixture
def role_url(bare_database: str) -> Iterator[str]:
    """``bare_database``'s URL as a new login role granted nothing."""
    role = f"jg_role_{uuid.uuid4().hex[:8]}"
    parts = urlsplit(bare_database)
    with psycopg.connect(bare_database, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
    yield urlunsplit(parts._replace(netloc=f"{role}@{parts.hostname}:{parts.port}"))
    with psycopg.connect(bare_database, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
        conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def test_never_migrated_then_a_release_behind_then_current(bare_database: str) -> None:
    shipped = available_migrations()
    first, last = shipped[0], shipped[-1]
    with pytest.raises(InfrastructureError) as never:
        _open(bare_database)
    assert never.value.retriable
    assert f"{len(shipped)} of {len(shipped)} migrations pending" in str(never.value)
    assert f"from {first.version:04d}_{first.name}" in str(never.value)
    assert "run `journeygate migrate`" in str(never.value)

    migrate(bare_database)
    with psycopg.connect(bare_database, autocommit=True) as conn:  # as a release ago
        conn.execute("DELETE FROM schema_migrations WHERE version = %s", (last.version,))
    with pytest.raises(InfrastructureError) as behind:
        _open(bare_database)
    assert f"1 of {len(shipped)} migrations pending" in str(behind.value)
    assert f"from {last.version:04d}_{last.name}" in str(behind.value)

    with psycopg.connect(bare_database, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
            (last.version, last.name),
        )
    _open(bare_database)  # every shipped migration: the connection is handed out


def test_a_role_without_privileges_is_told_so_until_it_is_granted_them(
    bare_database: str, role_url: str
) -> None:
    migrate(bare_database)
    with pytest.raises(InfrastructureError) as denied:
        _open(role_url)
    assert denied.value.retriable  # a deployment may grant them in its migrate job
    assert "permission denied for table schema_migrations" in str(denied.value)
    assert "grant it them" in str(denied.value)
    role = urlsplit(role_url).username or ""
    with psycopg.connect(bare_database, autocommit=True) as conn:
        grant = sql.SQL("GRANT SELECT ON schema_migrations TO {}")
        conn.execute(grant.format(sql.Identifier(role)))
    _open(role_url)


def test_migrate_as_a_role_that_may_not_create_says_so_in_one_line(
    bare_database: str, role_url: str, tmp_path: Path
) -> None:
    with psycopg.connect(bare_database, autocommit=True) as conn:
        conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    with pytest.raises(InfrastructureError) as refused:
        migrate(role_url)
    assert not refused.value.retriable  # waiting would not change it
    assert str(refused.value).startswith("migration schema_migrations failed on ")
    assert "permission denied for schema public" in str(refused.value)
    elsewhere = urlunsplit(urlsplit(role_url)._replace(path="/jg_none"))
    with pytest.raises(InfrastructureError, match="cannot create the database 'jg_none'"):
        ensure_database(elsewhere)
    done = subprocess.run(
        [sys.executable, "-m", "journeygate", "migrate", "--database-url", elsewhere],
        capture_output=True, text=True, timeout=60, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    assert "CREATEDB" in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_a_role_granted_reads_only_stops_a_stage_with_one_line(
    bare_database: str, role_url: str
) -> None:
    migrate(bare_database)
    role = urlsplit(role_url).username or ""
    with psycopg.connect(bare_database, autocommit=True) as conn:
        grant = sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA public TO {}")
        conn.execute(grant.format(sql.Identifier(role)))
    _open(role_url)  # it may read: the start check passes

    async def store_offsets() -> None:
        db = StoreDb(role_url, "journeygate-store")
        try:
            await db.write_batch(CopyRows(b"", 0), {("telemetry.frames", 0): 5})
        finally:
            await db.close()

    with pytest.raises(ConfigError) as refused:
        asyncio.run(store_offsets())
    assert "permission denied for table consumer_offsets" in str(refused.value)
    assert "grant it them" in str(refused.value)

    done = subprocess.run(
        [sys.executable, "-m", "journeygate", "webhooks", "--once"],
        capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "JOURNEYGATE_DATABASE_URL": role_url},
    )  # fmt: skip
    last = done.stderr.strip().splitlines()[-1]
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert "permission denied for table webhook_outbox" in last, done.stderr

"""A stage's connection asks for a database with every shipped migration, readable by its role."""

from __future__ import annotations

import asyncio
import uuid
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql

from database.db import aconnect
from database.migrate import migrate
from database.schema import available_migrations
from kernel.errors import InfrastructureError

pytestmark = pytest.mark.integration


def _open(url: str) -> None:
    async def once() -> None:
        conn = await aconnect(url, autocommit=True, migrated=True)
        await conn.close()

    asyncio.run(once())


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


def test_a_role_without_privileges_is_told_so_until_it_is_granted_them(bare_database: str) -> None:
    migrate(bare_database)
    role = f"jg_role_{uuid.uuid4().hex[:8]}"
    parts = urlsplit(bare_database)
    as_role = urlunsplit(parts._replace(netloc=f"{role}@{parts.hostname}:{parts.port}"))
    with psycopg.connect(bare_database, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
    try:
        with pytest.raises(InfrastructureError) as denied:
            _open(as_role)
        assert denied.value.retriable  # a deployment may grant them in its migrate job
        assert "permission denied for table schema_migrations" in str(denied.value)
        assert "grant it them" in str(denied.value)
        with psycopg.connect(bare_database, autocommit=True) as conn:
            conn.execute(
                sql.SQL("GRANT SELECT ON schema_migrations TO {}").format(sql.Identifier(role))
            )
        _open(as_role)
    finally:
        with psycopg.connect(bare_database, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))

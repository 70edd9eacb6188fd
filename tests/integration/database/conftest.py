"""Fixtures of the store's integration tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from database.migrate import ensure_database
from journeygate.bench.lab import with_database
from journeygate.embedded.stack import StackEndpoints


@pytest.fixture
def bare_database(servers: StackEndpoints) -> Iterator[str]:
    """A database that exists but was never migrated."""
    name = f"jg_bare_{uuid.uuid4().hex[:8]}"
    url = with_database(servers.database_url, name)
    ensure_database(url)
    yield url
    with psycopg.connect(with_database(url, "postgres"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )

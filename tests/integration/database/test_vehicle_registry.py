"""A stream processor's registry waits for the schema as it waits for the server."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from database.migrate import ensure_database, migrate
from database.registry import VehicleRegistry
from journeygate.bench.lab import with_database
from journeygate.embedded.stack import StackEndpoints
from kernel.errors import InfrastructureError

pytestmark = pytest.mark.integration


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


def test_a_database_not_migrated_yet_is_waited_for_then_loaded(bare_database: str) -> None:
    async def scenario() -> int:
        registry = VehicleRegistry(bare_database)
        try:
            with pytest.raises(InfrastructureError, match="no vehicles table") as caught:
                await registry.load()
            assert caught.value.retriable  # a stage retries it as it does an absent server
            assert "journeygate migrate" in str(caught.value)
            migrate(bare_database)
            return await registry.load()  # the same registry, once the schema is there
        finally:
            await registry.close()

    assert asyncio.run(scenario()) == 0

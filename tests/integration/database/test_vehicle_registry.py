"""A stream processor's registry waits for the schema as it waits for the server."""

from __future__ import annotations

import asyncio

import pytest

from database.migrate import migrate
from database.registry import VehicleRegistry
from kernel.errors import InfrastructureError

pytestmark = pytest.mark.integration


def test_a_database_not_migrated_yet_is_waited_for_then_loaded(bare_database: str) -> None:
    async def scenario() -> int:
        registry = VehicleRegistry(bare_database)
        try:
            with pytest.raises(InfrastructureError, match="not migrated") as caught:
                await registry.load()
            assert caught.value.retriable  # a stage retries it as it does an absent server
            assert "journeygate migrate" in str(caught.value)
            migrate(bare_database)
            return await registry.load()  # the same registry, once the schema is there
        finally:
            await registry.close()

    assert asyncio.run(scenario()) == 0

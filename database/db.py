"""Connections to the journey store (psycopg 3)."""

from __future__ import annotations

import psycopg

from kernel.errors import InfrastructureError
from kernel.settings import mask_url


def connect(
    database_url: str, *, autocommit: bool = False
) -> psycopg.Connection[tuple[object, ...]]:
    """Open a connection, or raise a one-line InfrastructureError naming the (masked) URL."""
    try:
        return psycopg.connect(database_url, autocommit=autocommit, connect_timeout=10)
    except psycopg.OperationalError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InfrastructureError(
            f"cannot reach PostgreSQL at {mask_url(database_url)}: {first}"
        ) from exc


async def aconnect(
    database_url: str, *, autocommit: bool = False
) -> psycopg.AsyncConnection[tuple[object, ...]]:
    """Async twin of :func:`connect`."""
    try:
        return await psycopg.AsyncConnection.connect(
            database_url, autocommit=autocommit, connect_timeout=10
        )
    except psycopg.OperationalError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InfrastructureError(
            f"cannot reach PostgreSQL at {mask_url(database_url)}: {first}"
        ) from exc

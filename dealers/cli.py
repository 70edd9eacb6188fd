"""``journeygate dealers add|rotate-key`` and ``journeygate api``: the dealer HTTP API's keys
and server (docs/api.md).

A key is printed once, alone on standard output; it is never logged and only its hash is
stored. Exit status: 0 done, 1 unknown dealer or the store unreachable, 2 a bad option or a
store without migration 0009.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, TypeVar

import psycopg
import typer

from kernel.cliopts import DatabaseUrl, fail, settings_from
from kernel.errors import InfrastructureError

dealers_app = typer.Typer(help="Dealers of the HTTP API and their keys.", no_args_is_help=True)
T = TypeVar("T")

DealerId = Annotated[str, typer.Argument(help="The dealer id of the registry and the alerts")]


def register(app: typer.Typer) -> None:
    app.add_typer(dealers_app, name="dealers")
    app.command("api")(api)


def _checked_dealer_id(dealer_id: str) -> str:
    from dealers.keys import valid_dealer_id

    if not valid_dealer_id(dealer_id):
        raise fail(
            f"DEALER_ID: letters, digits, '.', '_', '-' (1 to 64, the first a letter or digit),"
            f" got {dealer_id[:80]!r}"
        )
    return dealer_id


def _with_store(
    database_url: str, work: Callable[[psycopg.Connection[tuple[object, ...]]], T]
) -> T:
    from database.db import connect

    try:
        with connect(database_url) as conn:
            return work(conn)
    except InfrastructureError as exc:
        raise fail(str(exc), 1) from None
    except psycopg.errors.UndefinedTable:
        raise fail("the store has no dealers table: run `journeygate migrate`") from None
    except psycopg.OperationalError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise fail(f"PostgreSQL: {first}", 1) from None


@dealers_app.command("add")
def add(
    dealer_id: DealerId,
    name: Annotated[str | None, typer.Option("--name", help="The dealer's name")] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Create the dealer if missing and print a new API key (shown once; other keys stay)."""
    from dealers.store import add_dealer

    _checked_dealer_id(dealer_id)
    if name is not None and not name.strip():
        raise fail("--name: empty")
    settings = settings_from(database_url=database_url)
    made = _with_store(settings.database_url, lambda conn: add_dealer(conn, dealer_id, name))
    what = "created" if made.dealer_created else "exists"
    typer.echo(
        f"dealer {dealer_id} {what}; new key {made.key_id} (shown once, store it now):", err=True
    )
    typer.echo(made.key)


@dealers_app.command("rotate-key")
def rotate(dealer_id: DealerId, database_url: DatabaseUrl = None) -> None:
    """Revoke every key of the dealer at once and print the new one (shown once)."""
    from dealers.store import UnknownDealer, rotate_key

    _checked_dealer_id(dealer_id)
    settings = settings_from(database_url=database_url)
    try:
        made, revoked = _with_store(settings.database_url, lambda conn: rotate_key(conn, dealer_id))
    except UnknownDealer:
        raise fail(f"no dealer {dealer_id!r}: add it with `journeygate dealers add`", 1) from None
    typer.echo(
        f"dealer {dealer_id}: {revoked} key(s) revoked; new key {made.key_id}"
        " (shown once, store it now):",
        err=True,
    )
    typer.echo(made.key)


def api(
    host: Annotated[str, typer.Option("--host", help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on")] = 8080,
    rate: Annotated[
        float,
        typer.Option(
            "--rate", envvar="JOURNEYGATE_API_RATE", help="Requests per second per key (refill)"
        ),
    ] = 20.0,
    burst: Annotated[
        int,
        typer.Option("--burst", envvar="JOURNEYGATE_API_BURST", help="Requests at once per key"),
    ] = 40,
    database_url: DatabaseUrl = None,
) -> None:
    """Serve the dealer HTTP API (docs/api.md; OpenAPI at /openapi.json)."""
    import uvicorn

    from dealers.api import create_app
    from dealers.store import check_schema

    if not 0 <= port <= 65535:
        raise fail(f"--port: must be 0 to 65535, got {port}")
    if not 0 < rate <= 100_000:
        raise fail(f"--rate: must be above 0 and at most 100000, got {rate:g}")
    if not 1 <= burst <= 100_000:
        raise fail(f"--burst: must be 1 to 100000, got {burst}")
    settings = settings_from(database_url=database_url)
    _with_store(settings.database_url, check_schema)
    app = create_app(settings, rate_per_second=rate, burst=burst)
    uvicorn.run(app, host=host, port=port, log_level="info")

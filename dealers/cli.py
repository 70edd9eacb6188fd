"""``journeygate dealers add|rotate-key`` and ``journeygate api``: the dealer HTTP API's keys
and server; ``journeygate dealers webhook set|replay`` and ``journeygate webhooks``: the
dealers' signed webhooks and their sender (docs/api.md).

A key or a generated webhook secret is printed once, alone on standard output; neither is ever
logged, and only a key's hash is stored. Exit status of the one-shot commands: 0 done, 1
unknown dealer or the store unreachable, 2 a bad option or a store without migration 0009
(0010 for webhooks). ``api`` and ``webhooks`` wait for a store that is down or not migrated,
as the stages do.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable
from typing import Annotated, TypeVar

import psycopg
import typer

from kernel.cliopts import DatabaseUrl, MetricsPort, fail, settings_from
from kernel.errors import InfrastructureError, first_line

dealers_app = typer.Typer(help="Dealers of the HTTP API and their keys.", no_args_is_help=True)
webhook_app = typer.Typer(help="A dealer's signed alert webhook.", no_args_is_help=True)
dealers_app.add_typer(webhook_app, name="webhook")
T = TypeVar("T")

DealerId = Annotated[str, typer.Argument(help="The dealer id of the registry and the alerts")]


def register(app: typer.Typer) -> None:
    app.add_typer(dealers_app, name="dealers")
    app.command("api")(api)
    app.command("webhooks")(webhooks)


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
    from database.db import connect_migrated

    try:
        with connect_migrated(database_url) as conn:
            return work(conn)
    except InfrastructureError as exc:
        raise fail(str(exc), 1) from None
    except psycopg.OperationalError as exc:
        raise fail(f"PostgreSQL: {first_line(exc)}", 1) from None


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
    session_hours: Annotated[
        float,
        typer.Option(
            "--session-hours",
            envvar="JOURNEYGATE_INBOX_SESSION_HOURS",
            help="Lifetime of a session of the inbox page (/inbox)",
        ),
    ] = 12.0,
    metrics_port: MetricsPort = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Serve the dealer HTTP API (docs/api.md; OpenAPI at /openapi.json) and the dealer inbox
    page (/inbox)."""
    import uvicorn

    from dealers import api_metrics
    from dealers.api import create_app
    from kernel import health
    from kernel.logs import configure_logging
    from kernel.metrics import served_registry

    if not 0 <= port <= 65535:
        raise fail(f"--port: must be 0 to 65535, got {port}")
    if not 0 < rate <= 100_000:
        raise fail(f"--rate: must be above 0 and at most 100000, got {rate:g}")
    if not 1 <= burst <= 100_000:
        raise fail(f"--burst: must be 1 to 100000, got {burst}")
    if not 0 < session_hours <= 8784:
        raise fail(
            f"--session-hours: must be above 0 and at most 8784 (a year), got {session_hours:g}"
        )
    settings = settings_from(database_url=database_url, metrics_port=metrics_port)
    ready = health.readiness(api_metrics.STAGE)
    ready.require("postgresql", "not connected to PostgreSQL yet")
    if settings.metrics_port:
        try:
            health.serve(
                settings.metrics_port, api_metrics.STAGE, served_registry(api_metrics.STAGE)
            )
        except OSError as exc:
            raise fail(f"--metrics-port {settings.metrics_port}: {exc.strerror or exc}") from None
    configure_logging(settings.log_level, settings.log_format)
    logging.getLogger("journeygate.api").info("api starting with %s", settings)
    app = create_app(
        settings, rate_per_second=rate, burst=burst, session_lifetime_s=session_hours * 3600
    )
    # uvicorn shuts down gracefully on SIGTERM / SIGINT, then raises the signal again under the
    # handler it found: with Python's defaults the process would die by the signal (exit -15) or
    # raise KeyboardInterrupt after a clean stop. Found handlers that ignore it, it exits 0, as
    # every other journeygate process does.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda _signum, _frame: None)
    uvicorn.run(app, host=host, port=port, log_level="info", timeout_graceful_shutdown=5)


@webhook_app.command("set")
def webhook_set(
    dealer_id: DealerId,
    url: Annotated[str, typer.Argument(help="http:// or https:// URL that receives the alerts")],
    secret: Annotated[
        str | None,
        typer.Option(
            "--secret",
            envvar="JOURNEYGATE_WEBHOOK_SECRET",
            help="Signing secret (16 to 200 characters; default: a new one, printed once)",
            show_default=False,
        ),
    ] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Set the dealer's webhook URL and signing secret (replacing both)."""
    from dealers.webhooks import (
        UnknownDealerId,
        generate_secret,
        secret_problem,
        set_webhook,
        url_problem,
    )
    from kernel.settings import mask_url

    _checked_dealer_id(dealer_id)
    if (problem := url_problem(url)) is not None:
        raise fail(f"URL: {problem}")
    if secret is not None and (problem := secret_problem(secret)) is not None:
        raise fail(f"--secret: {problem}")
    settings = settings_from(database_url=database_url)
    chosen = generate_secret() if secret is None else secret
    try:
        created = _with_store(
            settings.database_url, lambda conn: set_webhook(conn, dealer_id, url, chosen)
        )
    except UnknownDealerId:
        raise fail(f"no dealer {dealer_id!r}: add it with `journeygate dealers add`", 1) from None
    what = "set" if created else "replaced"
    if secret is None:
        typer.echo(
            f"dealer {dealer_id}: webhook {what} to {mask_url(url)}; new signing secret"
            " (shown once, store it now):",
            err=True,
        )
        typer.echo(chosen)
    else:
        typer.echo(
            f"dealer {dealer_id}: webhook {what} to {mask_url(url)} with the given secret",
            err=True,
        )


@webhook_app.command("replay")
def webhook_replay(dealer_id: DealerId, database_url: DatabaseUrl = None) -> None:
    """Queue the dealer's dead deliveries again (attempts reset, due now)."""
    from dealers.webhooks import UnknownDealerId, replay_dead

    _checked_dealer_id(dealer_id)
    settings = settings_from(database_url=database_url)
    try:
        count = _with_store(settings.database_url, lambda conn: replay_dead(conn, dealer_id))
    except UnknownDealerId:
        raise fail(f"no dealer {dealer_id!r}: add it with `journeygate dealers add`", 1) from None
    typer.echo(f"dealer {dealer_id}: {count} dead deliveries queued again")


def webhooks(
    once: Annotated[
        bool, typer.Option("--once", help="Send what is due, then exit (no waiting for more)")
    ] = False,
    batch: Annotated[int, typer.Option("--batch", help="Deliveries claimed and sent at once")] = 20,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds a request may take")] = 5.0,
    lease: Annotated[
        float,
        typer.Option(
            "--lease",
            help="Seconds a claimed delivery is withheld from other senders (above --timeout);"
            " a sender that dies sends nothing for that long",
        ),
    ] = 60.0,
    max_attempts: Annotated[
        int,
        typer.Option(
            "--max-attempts",
            envvar="JOURNEYGATE_WEBHOOK_MAX_ATTEMPTS",
            help="Attempts before a delivery is dead",
        ),
    ] = 8,
    retry_base: Annotated[
        float, typer.Option("--retry-base", help="Backoff base in seconds (full jitter)")
    ] = 1.0,
    retry_cap: Annotated[
        float, typer.Option("--retry-cap", help="Longest backoff in seconds")
    ] = 300.0,
    poll: Annotated[
        float, typer.Option("--poll", help="Seconds between looks when nothing is due")
    ] = 1.0,
    database_url: DatabaseUrl = None,
) -> None:
    """Deliver dealer alert webhooks until Ctrl-C or SIGTERM (docs/api.md, "Webhooks")."""
    import asyncio

    from dealers.webhooks import SenderOptions, run_sender
    from kernel.runtime import run_stage
    from kernel.settings import Settings

    if not 1 <= batch <= 1000:
        raise fail(f"--batch: must be 1 to 1000, got {batch}")
    if not 0 < timeout <= 600:
        raise fail(f"--timeout: must be above 0 and at most 600, got {timeout:g}")
    if not timeout < lease <= 86_400:
        raise fail(
            f"--lease: must be above --timeout ({timeout:g}) and at most 86400, got {lease:g}"
        )
    if not 1 <= max_attempts <= 100:
        raise fail(f"--max-attempts: must be 1 to 100, got {max_attempts}")
    if not 0 < retry_base <= retry_cap <= 86_400:
        raise fail("--retry-base, --retry-cap: need 0 < base <= cap <= 86400")
    if not 0 < poll <= 3600:
        raise fail(f"--poll: must be above 0 and at most 3600, got {poll:g}")
    settings = settings_from(database_url=database_url)
    options = SenderOptions(
        batch=batch,
        timeout_s=timeout,
        lease_s=lease,
        max_attempts=max_attempts,
        base_s=retry_base,
        cap_s=retry_cap,
        poll_s=poll,
    )

    async def main(stage_settings: Settings, stop: asyncio.Event) -> None:
        await run_sender(stage_settings.database_url, options, stop, once=once)

    raise typer.Exit(run_stage("webhooks", main, settings))

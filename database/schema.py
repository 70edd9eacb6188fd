"""The store's schema: the migrations this package ships, and whether a database has them all.

Every stage that reads or writes the store opens its connections through
:func:`database.db.aconnect` with ``migrated=True``: a database that lacks one of the shipped
migrations (never migrated, or a release behind) is a retriable
:class:`~kernel.errors.InfrastructureError` naming what is pending, so a stage started while a
deployment's migrate job runs waits for it, reporting why on ``/readyz``, as it waits for an
absent server.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from importlib import resources

import psycopg

from kernel.errors import ConfigError, InfrastructureError, first_line
from kernel.settings import mask_url

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql_text: str


def available_migrations() -> list[Migration]:
    """Every migration shipped with the package, by version."""
    found: list[Migration] = []
    for entry in resources.files("database").joinpath("migrations").iterdir():
        match = _NAME.match(entry.name)
        if not match:
            continue
        found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise ConfigError(f"duplicate migration versions in {versions}")
    return found


@functools.cache
def _shipped() -> tuple[tuple[int, str], ...]:
    return tuple((m.version, m.name) for m in available_migrations())


async def require_migrated(
    conn: psycopg.AsyncConnection[tuple[object, ...]], database_url: str
) -> None:
    """Return when ``conn``'s database has every shipped migration; otherwise raise a
    retriable InfrastructureError naming the first pending one and how many are pending (or
    that the role may not read which are applied)."""
    done: set[int] = set()
    try:
        cur = await conn.execute(_PRESENT)
        row = await cur.fetchone()
        if row is not None and row[0]:
            cur = await conn.execute(_APPLIED)
            done = {int(str(v)) for (v,) in await cur.fetchall()}
    except psycopg.errors.InsufficientPrivilege as exc:
        raise _denied(database_url, exc) from None
    _raise_if_pending(done, database_url)


def require_migrated_blocking(
    conn: psycopg.Connection[tuple[object, ...]], database_url: str
) -> None:
    """:func:`require_migrated` on a blocking connection."""
    done: set[int] = set()
    try:
        row = conn.execute(_PRESENT).fetchone()
        if row is not None and row[0]:
            done = {int(str(v)) for (v,) in conn.execute(_APPLIED).fetchall()}
    except psycopg.errors.InsufficientPrivilege as exc:
        raise _denied(database_url, exc) from None
    _raise_if_pending(done, database_url)


_PRESENT = "SELECT to_regclass('schema_migrations') IS NOT NULL"
_APPLIED = "SELECT version FROM schema_migrations"


def privileges_needed(database_url: str, exc: psycopg.Error) -> str:
    """One line for a statement the role may not run."""
    return (
        f"{mask_url(database_url)}: {first_line(exc)}: the role needs journeygate's tables"
        " (run `journeygate migrate` as it, or grant it them)"
    )


def _denied(database_url: str, exc: psycopg.Error) -> InfrastructureError:
    """A role without privileges on the store's tables is waited for as a schema not migrated
    yet: a deployment may grant them in its migrate job."""
    return InfrastructureError(privileges_needed(database_url, exc))


def _raise_if_pending(done: set[int], database_url: str) -> None:
    pending = [(v, name) for v, name in _shipped() if v not in done]
    if pending:
        version, name = pending[0]
        raise InfrastructureError(
            f"{mask_url(database_url)} is not migrated: {len(pending)} of {len(_shipped())}"
            f" migrations pending, from {version:04d}_{name}; run `journeygate migrate`"
        )

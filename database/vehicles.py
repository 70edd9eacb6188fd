"""Writing and reading the vehicle registry: upsert of accepted rows, export, consent history.

Every statement is parametrised. An import is one transaction: either all accepted rows are in
the store or none. Importing the same file twice changes nothing (vehicles are upserted by VIN,
consent changes are keyed by vehicle, purpose and time).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time
from decimal import Decimal

import psycopg

from database.db import connect_migrated
from database.registry_file import Finance, VehicleRecord
from kernel.errors import InfrastructureError
from kernel.settings import mask_url
from schemas.consent import ConsentChange, consent_change

UPSERT_VEHICLE = """
INSERT INTO vehicles (vin, brand, model, model_year, powertrain, delivery_date,
                      delivery_odometer_m, dealer_id, market, currency, finance_kind,
                      finance_amount, finance_apr_pct, finance_term_months, finance_start,
                      finance_balloon, list_price, owner_id)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (vin) DO UPDATE SET
    brand = EXCLUDED.brand, model = EXCLUDED.model, model_year = EXCLUDED.model_year,
    powertrain = EXCLUDED.powertrain, delivery_date = EXCLUDED.delivery_date,
    delivery_odometer_m = EXCLUDED.delivery_odometer_m, dealer_id = EXCLUDED.dealer_id,
    market = EXCLUDED.market, currency = EXCLUDED.currency,
    finance_kind = EXCLUDED.finance_kind, finance_amount = EXCLUDED.finance_amount,
    finance_apr_pct = EXCLUDED.finance_apr_pct,
    finance_term_months = EXCLUDED.finance_term_months,
    finance_start = EXCLUDED.finance_start, finance_balloon = EXCLUDED.finance_balloon,
    list_price = EXCLUDED.list_price, owner_id = EXCLUDED.owner_id, updated_at = now()
"""
INSERT_CONSENT = """
INSERT INTO consent_changes (vin, purpose, granted, changed_at, source)
VALUES (%s, %s, %s, %s, %s)
ON CONFLICT (vin, purpose, changed_at) DO UPDATE SET
    granted = EXCLUDED.granted, source = EXCLUDED.source
WHERE consent_changes.granted IS DISTINCT FROM EXCLUDED.granted
RETURNING vin, purpose, granted, changed_at, source
"""
SELECT_VEHICLES = """
SELECT v.vin, v.brand, v.model, v.model_year, v.powertrain, v.delivery_date,
       v.delivery_odometer_m, v.dealer_id, v.market, v.currency, v.finance_kind,
       v.finance_amount, v.finance_apr_pct, v.finance_term_months, v.finance_start,
       v.finance_balloon, v.list_price, v.owner_id,
       coalesce(array_agg(c.purpose ORDER BY c.purpose) FILTER (WHERE c.vin IS NOT NULL), '{}'),
       coalesce(array_agg(c.granted ORDER BY c.purpose) FILTER (WHERE c.vin IS NOT NULL), '{}'),
       max(c.changed_at)
FROM vehicles v LEFT JOIN consent_current c ON c.vin = v.vin
GROUP BY v.vin ORDER BY v.vin
"""

VehicleRow = tuple[
    str, str, str, int, str, date, int, str, str, str, str,
    Decimal | None, Decimal | None, int | None, date | None, Decimal | None, Decimal | None,
    str | None,
]  # fmt: skip


def vehicle_row(r: VehicleRecord) -> VehicleRow:
    f = r.finance
    return (
        r.vin, r.brand, r.model, r.model_year, r.powertrain, r.delivery_date,
        r.delivery_odometer_m, r.dealer_id, r.market, r.currency, f.kind,
        f.amount, f.apr_pct, f.term_months, f.start, f.balloon, r.list_price, r.owner_id,
    )  # fmt: skip


OnConsentChanges = Callable[[list[ConsentChange]], None]
"""Called inside the import's transaction with the consent changes it stores (new, or a
different answer at the same time); raising rolls the whole import back."""


def upsert_vehicles(
    database_url: str,
    records: Sequence[VehicleRecord],
    *,
    source: str,
    on_consent_changes: OnConsentChanges | None = None,
) -> int:
    """Upsert ``records`` and their consent in one transaction; returns how many were written.

    ``on_consent_changes`` (e.g. publishing them on ``vehicle.consent``) runs before the commit,
    so a change is stored only once it was handed over; a repeat import changes nothing and
    hands over nothing.
    """
    consents = [
        (r.vin, purpose, granted, r.consent_at, source)
        for r in records
        for purpose, granted in r.consent
    ]
    try:
        with connect_migrated(database_url) as conn, conn.cursor() as cur:
            cur.executemany(UPSERT_VEHICLE, [vehicle_row(r) for r in records])
            changes: list[ConsentChange] = []
            if consents:
                cur.executemany(INSERT_CONSENT, consents, returning=True)
                while True:
                    changes += [_change(row) for row in cur.fetchall()]
                    if not cur.nextset():
                        break
            if on_consent_changes is not None and changes:
                on_consent_changes(changes)
    except psycopg.OperationalError as exc:
        raise InfrastructureError(
            f"writing the registry to {mask_url(database_url)} failed: {type(exc).__name__}"
        ) from exc
    return len(records)


def _change(row: tuple[object, ...]) -> ConsentChange:
    vin, purpose, granted, changed_at, source = row
    assert isinstance(changed_at, datetime)
    return consent_change(str(vin), str(purpose), bool(granted), changed_at, str(source))


def read_vehicles(database_url: str) -> list[VehicleRecord]:
    """Every registered vehicle with the consent in force now, by VIN."""
    try:
        with connect_migrated(database_url) as conn, conn.cursor() as cur:
            cur.execute(SELECT_VEHICLES)
            rows = cur.fetchall()
    except psycopg.OperationalError as exc:
        raise InfrastructureError(
            f"reading the registry from {mask_url(database_url)} failed: {type(exc).__name__}"
        ) from exc
    return [_record(row) for row in rows]


def _record(row: tuple[object, ...]) -> VehicleRecord:
    (vin, brand, model, year, powertrain, delivery, odo_m, dealer, market, currency, kind, amount,
     apr, term, start, balloon, list_price, owner, purposes, granted, consent_at) = row  # fmt: skip
    assert isinstance(delivery, date) and isinstance(purposes, list)
    assert isinstance(granted, list)
    finance = (
        Finance("cash")
        if kind == "cash"
        else Finance(str(kind), _dec(amount), _dec(apr), _int(term), _day(start), _dec(balloon))
    )
    at = consent_at if isinstance(consent_at, datetime) else None
    return VehicleRecord(
        vin=str(vin),
        brand=str(brand),
        model=str(model),
        model_year=int(str(year)),
        powertrain=str(powertrain),
        delivery_date=delivery,
        delivery_odometer_m=int(str(odo_m)),
        dealer_id=str(dealer),
        market=str(market),
        currency=str(currency),
        finance=finance,
        consent=tuple(zip((str(p) for p in purposes), (bool(g) for g in granted), strict=True)),
        consent_at=at if at is not None else datetime.combine(delivery, time(), UTC),
        list_price=_dec(list_price),
        owner_id=None if owner is None else str(owner),
    )


def _dec(value: object) -> Decimal | None:
    return value if isinstance(value, Decimal) else None


def _int(value: object) -> int | None:
    return value if isinstance(value, int) else None


def _day(value: object) -> date | None:
    return value if isinstance(value, date) else None

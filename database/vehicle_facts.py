"""What the predictions need to know of each registered vehicle: its row of ``vehicles``.

:class:`VehicleFacts` is the typed row (money as floats in the vehicle's currency, the APR as a
percentage, as stored); :func:`load_vehicle_facts` reads the rows of the VINs asked for, over
the caller's connection. Unlike :class:`database.registry.VehicleRegistry`, which keeps only the
set of VINs, this reads whole rows, and only of the vehicles a processor has seen.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import psycopg

from kernel.errors import InfrastructureError

AsyncConn = psycopg.AsyncConnection[tuple[object, ...]]

SELECT_FACTS = """
SELECT v.vin, v.brand, v.model, v.model_year, v.powertrain, v.delivery_date,
       v.delivery_odometer_m, v.dealer_id, v.market, v.currency, v.finance_kind,
       v.finance_amount, v.finance_apr_pct, v.finance_term_months, v.finance_start,
       v.finance_balloon, v.list_price,
       (SELECT m.factor FROM market_value_index m WHERE m.market = v.market
        ORDER BY m.as_of DESC LIMIT 1)
FROM vehicles v WHERE v.vin = ANY(%s)
"""


@dataclass(frozen=True, slots=True)
class FinanceTerms:
    """A finance contract (``kind`` loan, lease or pcp); amounts in the vehicle's currency."""

    kind: str
    amount: float
    apr_pct: float
    term_months: int
    start: date
    balloon: float = 0.0


@dataclass(frozen=True, slots=True)
class VehicleFacts:
    """One registered vehicle, as the signals processor uses it."""

    vin: str
    brand: str
    model: str
    model_year: int
    powertrain: str
    delivery_date: date
    delivery_odometer_m: int
    dealer_id: str
    market: str
    currency: str
    finance: FinanceTerms | None = None
    """None when paid cash."""
    list_price: float | None = None
    """List price as built (options included), in ``currency``; None if the registry lacks it."""
    market_index: float | None = None
    """The newest market value index of ``market`` (``market_value_index``: what used cars
    fetch against the catalog's depreciation curves); None if none was imported (1.0)."""

    @property
    def model_name(self) -> str:
        """``Brand Model``, as the reference catalog names models."""
        return f"{self.brand} {self.model}"


def facts_from_row(row: Sequence[object]) -> VehicleFacts:
    """A :class:`VehicleFacts` from a row of :data:`SELECT_FACTS`."""
    (vin, brand, model, year, powertrain, delivered, odo, dealer, market, currency) = row[:10]
    kind, amount, apr, term, start, balloon = row[10:16]
    list_price = row[16] if len(row) > 16 else None
    market_index = row[17] if len(row) > 17 else None
    finance = None
    if kind != "cash" and amount is not None and apr is not None:
        assert isinstance(term, int) and isinstance(start, date)
        finance = FinanceTerms(
            kind=str(kind),
            amount=_float(amount),
            apr_pct=_float(apr),
            term_months=term,
            start=start,
            balloon=_float(balloon) if balloon is not None else 0.0,
        )
    assert isinstance(year, int) and isinstance(odo, int) and isinstance(delivered, date)
    return VehicleFacts(
        vin=str(vin),
        brand=str(brand),
        model=str(model),
        model_year=year,
        powertrain=str(powertrain),
        delivery_date=delivered,
        delivery_odometer_m=odo,
        dealer_id=str(dealer),
        market=str(market),
        currency=str(currency),
        finance=finance,
        list_price=None if list_price is None else _float(list_price),
        market_index=None if market_index is None else _float(market_index),
    )


async def registry_version(conn: AsyncConn) -> int:
    """The registry's version now (migrations 0018, 0019): it moves with every change of a row
    of ``vehicles``, ``consent_changes`` or ``market_value_index``. A reader that keeps rows of
    them reads it before the rows and reads them again once it moved (docs/registry.md)."""
    cur = await conn.execute("SELECT version FROM registry_version")
    row = await cur.fetchone()
    return 0 if row is None else int(str(row[0]))


async def load_vehicle_facts(conn: AsyncConn, vins: Sequence[str]) -> dict[str, VehicleFacts]:
    """The registered vehicles among ``vins`` (a VIN not registered is simply absent).

    Raises :class:`InfrastructureError` when the query fails for want of the server.
    """
    if not vins:
        return {}
    try:
        cur = await conn.execute(SELECT_FACTS, (sorted(set(vins)),))
        rows = await cur.fetchall()
    except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
        raise InfrastructureError(f"reading vehicle facts failed: {type(exc).__name__}") from exc
    return {facts.vin: facts for facts in map(facts_from_row, rows)}


def _float(value: object) -> float:
    if isinstance(value, Decimal | int | float):
        return float(value)
    raise TypeError(f"expected a number, got {type(value).__name__}")

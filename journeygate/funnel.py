"""The funnel (``journeygate funnel``): per gate and per dealer, vehicles that entered a gate,
were alerted, acknowledged, and came in for a dealer visit within N days; alert-to-visit
conversion, the visit rate of vehicles in the gate that got no alert (the baseline), median time
in the gate, owners who left the journey at each gate, and the predicted-vs-invoiced bill error
per dealer.

Read from the views of ``database/migrations/0006_funnel.sql`` (documented in docs/journey.md,
"Funnel"). :func:`read_funnel` is the only I/O; :func:`funnel_document` and
:func:`funnel_tables` render what it read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from rich.table import Table

from database.db import connect
from database.schema import require_migrated_blocking

ALL = "*"
"""The dealer of a row that sums every dealer."""

_GATES = """
SELECT gate, COALESCE(dealer_id, %(all)s) AS dealer, GROUPING(dealer_id) AS total,
       count(DISTINCT vin) AS entered,
       count(DISTINCT vin) FILTER (WHERE alerted_ts IS NOT NULL) AS alerted,
       count(DISTINCT vin) FILTER (WHERE acknowledged) AS acknowledged,
       count(DISTINCT vin) FILTER (
           WHERE alerted_ts IS NOT NULL
             AND visit_after_alert_ts <= alerted_ts + make_interval(days => %(days)s)
       ) AS visited,
       count(DISTINCT vin) FILTER (WHERE alerted_ts IS NULL) AS not_alerted,
       count(DISTINCT vin) FILTER (
           WHERE alerted_ts IS NULL
             AND visit_after_entry_ts <= entered_ts + make_interval(days => %(days)s)
       ) AS visited_not_alerted,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM time_in_gate) / 86400.0)
           AS median_days_in_gate,
       count(*) FILTER (WHERE exited_ts IS NOT NULL) AS closed_episodes
FROM funnel_episodes
WHERE (%(dealer)s::text IS NULL OR dealer_id = %(dealer)s)
  AND (%(since)s::timestamptz IS NULL OR entered_ts >= %(since)s)
GROUP BY GROUPING SETS ((gate), (gate, dealer_id))
ORDER BY gate, total DESC, dealer
"""
_LEFT = """
SELECT gate, why, count(DISTINCT vin) AS owners
FROM funnel_left
WHERE (%(dealer)s::text IS NULL OR dealer_id = %(dealer)s)
  AND (%(since)s::timestamptz IS NULL OR left_ts >= %(since)s)
GROUP BY gate, why
ORDER BY gate, why
"""
_BILLS = """
SELECT dealer_id, currency, count(*) AS visits,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY abs_pct_error) AS median_abs_pct_error,
       avg(signed_error_amount)::float8 AS mean_signed_error_amount
FROM funnel_bill_errors
WHERE (%(dealer)s::text IS NULL OR dealer_id = %(dealer)s)
  AND (%(since)s::timestamptz IS NULL OR visit_ts >= %(since)s)
GROUP BY dealer_id, currency
ORDER BY dealer_id, currency
"""


@dataclass(frozen=True, slots=True)
class GateRow:
    gate: str
    dealer_id: str
    """A dealer, or ``*`` for every dealer together."""
    entered: int
    alerted: int
    acknowledged: int
    visited: int
    """Alerted vehicles with a dealer visit within ``visit_window_days`` of the alert."""
    not_alerted: int
    visited_not_alerted: int
    """Vehicles in the gate without an alert, visiting within the window of their entry."""
    median_days_in_gate: float | None
    """Over closed episodes (an open one has no length yet)."""
    closed_episodes: int

    @property
    def conversion(self) -> float | None:
        return self.visited / self.alerted if self.alerted else None

    @property
    def baseline(self) -> float | None:
        return self.visited_not_alerted / self.not_alerted if self.not_alerted else None


@dataclass(frozen=True, slots=True)
class LeftRow:
    gate: str
    """The gate open when the owner left (``none``: none was)."""
    why: str
    """``sold`` or ``consent_withdrawn``."""
    owners: int


@dataclass(frozen=True, slots=True)
class BillRow:
    dealer_id: str
    currency: str
    visits: int
    median_abs_pct_error: float | None
    mean_signed_error_amount: float | None


@dataclass(frozen=True, slots=True)
class Funnel:
    dealer: str | None
    since: datetime | None
    visit_window_days: int
    gates: tuple[GateRow, ...]
    left: tuple[LeftRow, ...]
    bills: tuple[BillRow, ...]


def _opt_float(value: object) -> float | None:
    return None if value is None else float(str(value))


def _gate_row(r: Sequence[object]) -> GateRow:
    n = [int(str(x)) for x in r[3:9]]
    return GateRow(
        str(r[0]), str(r[1]), n[0], n[1], n[2], n[3], n[4], n[5], _opt_float(r[9]),
        int(str(r[10])),
    )  # fmt: skip


def read_funnel(
    database_url: str, dealer: str | None, since: datetime | None, visit_window_days: int
) -> Funnel:
    params: dict[str, Any] = {
        "all": ALL,
        "dealer": dealer,
        "since": since,
        "days": visit_window_days,
    }
    with connect(database_url) as conn:
        require_migrated_blocking(conn, database_url)
        gates = conn.execute(_GATES, params).fetchall()
        left = conn.execute(_LEFT, params).fetchall()
        bills = conn.execute(_BILLS, params).fetchall()
    return Funnel(
        dealer,
        since,
        visit_window_days,
        tuple(_gate_row(r) for r in gates),
        tuple(LeftRow(str(g), str(w), int(str(n))) for g, w, n in left),
        tuple(
            BillRow(str(d), str(c), int(str(n)), _opt_float(m), _opt_float(s))
            for d, c, n, m, s in bills
        ),
    )


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def funnel_document(f: Funnel) -> dict[str, Any]:
    """The funnel as JSON-ready data (``--json``)."""
    return {
        "dealer": f.dealer,
        "since": None if f.since is None else f.since.isoformat(),
        "visit_window_days": f.visit_window_days,
        "gates": [
            {
                **asdict(g),
                "median_days_in_gate": _round(g.median_days_in_gate, 2),
                "conversion": _round(g.conversion, 4),
                "baseline_visit_rate": _round(g.baseline, 4),
            }
            for g in f.gates
        ],
        "left": [asdict(x) for x in f.left],
        "bill_errors": [
            {
                **asdict(b),
                "median_abs_pct_error": _round(b.median_abs_pct_error, 2),
                "mean_signed_error_amount": _round(b.mean_signed_error_amount, 2),
            }
            for b in f.bills
        ],
    }


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f} %"


def gates_table(f: Funnel, *, totals_only: bool = False) -> Table:
    n = f.visit_window_days
    title = f"Funnel by gate{' (every dealer)' if totals_only else ' and dealer'}"
    table = Table(title=title + (f", dealer {f.dealer}" if f.dealer else ""))
    # Gate names and dealer ids are never cut (in 80 columns, "servi…" was either service gate):
    # the figures' headings wrap instead.
    table.add_column("gate", no_wrap=True)
    if not totals_only:
        table.add_column("dealer", no_wrap=True)
    for column in (
        "entered", "alerted", "acknowledged", f"came in ≤{n} d", "conversion",
        f"not alerted: came in ≤{n} d", "median days in gate",
    ):  # fmt: skip
        table.add_column(column, justify="right")
    for g in f.gates:
        if totals_only and g.dealer_id != ALL:
            continue
        days = "-" if g.median_days_in_gate is None else f"{g.median_days_in_gate:.1f}"
        dealer = [] if totals_only else ["all" if g.dealer_id == ALL else g.dealer_id]
        table.add_row(
            g.gate, *dealer, str(g.entered), str(g.alerted),
            str(g.acknowledged), str(g.visited), _pct(g.conversion),
            f"{g.visited_not_alerted}/{g.not_alerted} ({_pct(g.baseline)})", days,
        )  # fmt: skip
    return table


def left_table(f: Funnel) -> Table:
    table = Table(title="Owners who left the journey, by the gate open when they left")
    table.add_column("gate")
    table.add_column("why")
    table.add_column("owners", justify="right")
    for x in f.left:
        table.add_row(x.gate, x.why, str(x.owners))
    return table


def bills_table(f: Funnel) -> Table:
    table = Table(title="Predicted vs invoiced service bill, by dealer")
    for column in ("dealer", "currency"):
        table.add_column(column)
    for column in ("visits scored", "median abs error", "mean signed error"):
        table.add_column(column, justify="right")
    for b in f.bills:
        med = "-" if b.median_abs_pct_error is None else f"{b.median_abs_pct_error:.1f} %"
        signed = (
            "-" if b.mean_signed_error_amount is None else f"{b.mean_signed_error_amount:+,.2f}"
        )
        table.add_row(b.dealer_id, b.currency, str(b.visits), med, f"{signed} {b.currency}")
    return table


def funnel_tables(f: Funnel, *, totals_only: bool = False) -> list[Table]:
    return [gates_table(f, totals_only=totals_only), left_table(f), bills_table(f)]

"""What the demo shows of the predictions: a few vehicles' warranty end, next bill and equity,
and their score against the simulation's hidden future."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from rich.table import Table

from database.db import connect
from journeygate.embedded.pipeline import PipelineProcesses
from kernel.settings import Settings

SHOWN = """
SELECT s.vin, v.brand || ' ' || v.model, s.warranty, s.service, s.equity
FROM vehicle_state s JOIN vehicles v USING (vin)
WHERE s.service IS NOT NULL AND s.equity IS NOT NULL
ORDER BY (SELECT min(w->>'expiry_p50') FROM jsonb_array_elements(s.warranty) w
          WHERE NOT (w->>'expired')::boolean), s.vin
LIMIT %s
"""
OFFSETS = (
    "SELECT consumer_group, kafka_partition, next_offset FROM consumer_offsets WHERE topic = %s"
)


def signals_caught_up(settings: Settings) -> bool:
    """The signals processor has committed as far into telemetry.frames as the store writer."""
    with connect(settings.database_url) as conn:
        rows = conn.execute(OFFSETS, (settings.topic("telemetry.frames"),)).fetchall()
    store = {p: o for g, p, o in rows if g == settings.topic("journeygate-store")}
    signals = {p: o for g, p, o in rows if g == settings.topic("journeygate-signals")}
    return bool(store) and all(
        int(str(signals.get(p, -1))) >= int(str(o)) for p, o in store.items()
    )


def wait_for_signals(settings: Settings, pipeline: PipelineProcesses, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        pipeline.check_alive()
        if signals_caught_up(settings):
            return True
        time.sleep(0.5)
    return False


def _money(amount: Any, currency: str) -> str:
    return f"{float(amount):,.0f} {currency}"


def service_cell(service: dict[str, Any]) -> str:
    """The next service's date (overdue: since when) and its bill with its range."""
    currency = str(service["currency"])
    when = f"overdue since {service['due_p50']}" if service.get("overdue") else service["due_p50"]
    return (
        f"{when}: {_money(service['bill_expected'], currency)}"
        f" ({_money(service['bill_low'], currency)}-{_money(service['bill_high'], currency)})"
    )


def predictions_table(database_url: str, limit: int = 6) -> Table:
    """The vehicles whose next warranty end is nearest, with their next bill and equity."""
    with connect(database_url) as conn:
        rows = conn.execute(SHOWN, (limit,)).fetchall()
    table = Table(title="Predictions (a few vehicles, nearest warranty end first)")
    table.add_column("VIN", no_wrap=True, min_width=17)  # whole (80 columns cut it), to look up
    for column in ("model", "warranty ends (P50)", "next service and bill", "equity"):
        table.add_column(column)
    for vin, model, warranty, service, equity in rows:
        assert isinstance(warranty, list) and isinstance(service, dict)
        assert isinstance(equity, dict)
        live = [w for w in warranty if not w["expired"]]
        first = min(live, key=lambda w: str(w["expiry_p50"])) if live else None
        ends = (
            f"{first['coverage']} {first['expiry_p50']} ({first['binds']})" if first else "expired"
        )
        bill = service_cell(service)
        positive = equity.get("positive_from")
        eq = _money(equity["equity_expected"], str(equity["currency"]))
        eq += "" if float(equity["equity_expected"]) > 0 or not positive else f", >0 {positive}"
        table.add_row(str(vin), str(model), ends, bill, eq)
    return table


def usage_shifts(settings: Settings) -> str:
    """The fleet's usage shift the signals processor took off, by partition (docs/signals.md)."""
    from journeygate.status import SIGNALS, read_usage_shifts, usage_shift_line
    from kernel.kafka import Topics

    with connect(settings.database_url) as conn:
        shifts = read_usage_shifts(
            conn, settings.topic_prefix + SIGNALS.group, Topics.from_settings(settings).frames
        )
    return usage_shift_line(shifts)


def score_table(truth_path: Path, database_url: str) -> Table:
    from reference.catalog import default_catalog
    from simulator.scoring.report import score_table as render
    from simulator.scoring.score import score
    from simulator.scoring.store import read_predictions
    from simulator.scoring.truth import read_scoring_truth

    truth = read_scoring_truth(truth_path)
    return render(score(truth, read_predictions(database_url), default_catalog()))

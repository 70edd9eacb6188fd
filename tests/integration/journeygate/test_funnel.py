"""``journeygate funnel`` against a real PostgreSQL: the views of 0006_funnel.sql count what the
timeline, the alerts, the visits and the bill errors hold; bad input gives one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from journeygate.funnel import ALL, read_funnel
from kernel.settings import Settings

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 1, tzinfo=UTC)
A, B, C, D = (f"1HGCM82633A00435{n}" for n in range(4))


def at(day: float) -> datetime:
    return T0 + timedelta(days=day)


def seed(settings: Settings) -> None:
    """Four vehicles in service_due: A alerted, acknowledged, came in 5 days later; B alerted,
    never came; C not alerted, came in 10 days after entry; D of another dealer alerted, came in
    40 days later, then sold with the gate still open."""
    events = [
        # (event_id, vin, dealer, day, event, gate, episode)
        ("a1", A, "DLR-1", 0, "entered", "service_due", f"{A}:service_due:0"),
        ("a2", A, "DLR-1", 5, "exited", "service_due", f"{A}:service_due:0"),
        ("b1", B, "DLR-1", 1, "entered", "service_due", f"{B}:service_due:1"),
        ("c1", C, "DLR-1", 2, "entered", "service_due", f"{C}:service_due:2"),
        ("c2", C, "DLR-1", 12, "exited", "service_due", f"{C}:service_due:2"),
        ("d1", D, "DLR-2", 0, "entered", "service_due", f"{D}:service_due:0"),
        ("d2", D, "DLR-2", 50, "exited", "service_due", f"{D}:service_due:0"),
        ("d3", D, "DLR-2", 50, "left", None, None),
    ]
    alerts = [
        (f"{A}:service_due:0:early", f"{A}:service_due:0", A, "DLR-1", 0, "acknowledged"),
        (f"{B}:service_due:1:early", f"{B}:service_due:1", B, "DLR-1", 1, "new"),
        (f"{D}:service_due:0:early", f"{D}:service_due:0", D, "DLR-2", 0, "new"),
    ]
    visits = [("V-A", A, 5, "DLR-1"), ("V-C", C, 12, "DLR-1"), ("V-D", D, 40, "DLR-2")]
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        for eid, vin, dealer, day, event, gate, ep in events:
            conn.execute(
                "INSERT INTO journey_events (event_id, vin, dealer_id, at_ts, event, gate,"
                " episode_id, detail, cause_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 'test')",
                (eid, vin, dealer, at(day), event, gate, ep, "sold" if event == "left" else ""),
            )
        for aid, ep, vin, dealer, day, state in alerts:
            conn.execute(
                "INSERT INTO alerts (alert_id, episode_id, vin, dealer_id, alert_type, stage,"
                " purpose, severity, priority, created_ts, expires_ts, reason, action, figures,"
                " state, acknowledged_at) VALUES (%s, %s, %s, %s, 'service_due', 'early',"
                " 'service', 'medium', 50, %s, %s, 'due', 'book', '[]', %s, %s)",
                (aid, ep, vin, dealer, at(day), at(day + 30), state,
                 at(day + 1) if state == "acknowledged" else None),
            )  # fmt: skip
        for vid, vin, day, dealer in visits:
            conn.execute(
                "INSERT INTO service_visits (visit_id, vin, visit_ts, odometer_m, dealer_id,"
                " currency, invoiced_amount, items) VALUES (%s, %s, %s, 1, %s, 'USD', 400, '[]')",
                (vid, vin, at(day), dealer),
            )
        for vid, vin, dealer, predicted in (("V-A", A, "DLR-1", 440), ("V-C", C, "DLR-1", 300)):
            conn.execute(
                "INSERT INTO bill_errors (visit_id, vin, dealer_id, currency, predicted_low,"
                " predicted_expected, predicted_high, invoiced, abs_pct_error,"
                " predicted_as_of_ts) VALUES (%s, %s, %s, 'USD', 0, %s, 999, 400, %s, %s)",
                (vid, vin, dealer, predicted, abs(predicted - 400) / 4, at(0)),
            )


def test_funnel_counts_each_stage_per_gate_and_dealer(settings: Settings) -> None:
    seed(settings)
    f = read_funnel(settings.database_url, None, None, 30)
    rows = {(g.gate, g.dealer_id): g for g in f.gates}
    total = rows[("service_due", ALL)]
    assert (total.entered, total.alerted, total.acknowledged, total.visited) == (4, 3, 1, 1)
    assert (total.not_alerted, total.visited_not_alerted) == (1, 1)
    assert total.conversion == pytest.approx(1 / 3)
    assert total.median_days_in_gate == pytest.approx(10.0)  # closed: 5, 10, 50 days
    one = rows[("service_due", "DLR-1")]
    assert (one.entered, one.alerted, one.visited, one.closed_episodes) == (3, 2, 1, 2)
    # D came in 40 days after its alert: inside a 60-day window, not a 30-day one.
    wide = {
        (g.gate, g.dealer_id): g for g in read_funnel(settings.database_url, None, None, 60).gates
    }
    assert wide[("service_due", "DLR-2")].visited == 1
    assert [(x.gate, x.why, x.owners) for x in f.left] == [("service_due", "sold", 1)]
    bills = {b.dealer_id: b for b in f.bills}
    assert bills["DLR-1"].visits == 2
    assert bills["DLR-1"].median_abs_pct_error == pytest.approx(17.5)
    assert bills["DLR-1"].mean_signed_error_amount == pytest.approx(-30.0)
    only = read_funnel(settings.database_url, "DLR-2", at(0), 30)
    assert {g.dealer_id for g in only.gates} == {ALL, "DLR-2"}
    assert [g.entered for g in only.gates if g.dealer_id == ALL] == [1]
    later = read_funnel(settings.database_url, None, at(1), 30)
    assert [g.entered for g in later.gates if g.dealer_id == ALL] == [2]  # B and C


def run_cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "JOURNEYGATE_DATABASE_URL": settings.database_url}
    return subprocess.run(
        [sys.executable, "-m", "journeygate", "funnel", *args],
        capture_output=True, text=True, timeout=60, check=False, env=env,
    )  # fmt: skip


def test_funnel_command_tables_json_and_bad_input(settings: Settings) -> None:
    seed(settings)
    shown = run_cli(settings)
    assert shown.returncode == 0, shown.stderr
    assert "Funnel by gate" in shown.stdout and "service_due" in shown.stdout
    doc = json.loads(run_cli(settings, "--json", "--dealer", "DLR-1").stdout)
    assert doc["dealer"] == "DLR-1" and doc["visit_window_days"] == 30
    total = next(g for g in doc["gates"] if g["dealer_id"] == ALL)
    assert total["conversion"] == 0.5 and total["baseline_visit_rate"] == 1.0
    for bad in (("--since", "yesterday"), ("--since", "2026-03-01T00:00"),
                ("--visit-window-days", "0")):  # fmt: skip
        result = run_cli(settings, *bad)
        assert result.returncode == 2, result
        assert "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert result.stderr.startswith("journeygate: ")

"""The funnel's tables as a terminal of 80 columns shows them (the demo's, and a log's)."""

from __future__ import annotations

from rich.console import Console

from journeygate.funnel import ALL, Funnel, GateRow, gates_table

GATES = ("service_overdue", "service_due", "equity_positive", "warranty_ending", "big_bill")


def rendered(funnel: Funnel, *, totals_only: bool) -> str:
    console = Console(width=80, record=True, force_terminal=False)
    with console.capture() as captured:
        console.print(gates_table(funnel, totals_only=totals_only))
    return captured.get()


def funnel() -> Funnel:
    rows = tuple(
        GateRow(gate, dealer, 130, 47, 3, 10, 83, 10, 3.6, 5)
        for gate in GATES
        for dealer in (ALL, "DLR-005")
    )
    return Funnel(None, None, 30, rows, (), ())


def test_gate_names_and_dealers_are_never_cut_in_80_columns() -> None:
    for totals_only in (True, False):
        text = rendered(funnel(), totals_only=totals_only)
        assert all(len(line) <= 80 for line in text.splitlines()), text
        for gate in GATES:
            assert f" {gate} " in text, text
        assert ("DLR-005" in text) is not totals_only, text


def test_the_totals_have_no_dealer_column() -> None:
    text = rendered(funnel(), totals_only=True)
    assert "dealer " not in text.split("\n", 2)[2] and " all " not in text, text

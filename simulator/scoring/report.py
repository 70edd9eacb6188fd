"""How a score is shown: one rich table for people, a JSON document for CI (pure rendering)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from rich.table import Table

from simulator.scoring.metrics import RATIO_LEVEL, DateErrors, Ratio
from simulator.scoring.score import DATE_METHODS, METHODS, Score


def _days(e: DateErrors) -> str:
    if e.n == 0:
        return "-"
    return f"{e.median_abs_days:.1f} / {e.p90_abs_days:.1f}"


def _pct(pair: tuple[int, float], scale: float = 1.0) -> str:
    n, value = pair
    return "-" if n == 0 or math.isnan(value) else f"{value * scale:.1f} %"


def _times(value: float) -> str:
    return "inf" if math.isinf(value) else f"{value:.2f}"


def _ratio(r: Ratio | None) -> str:
    if r is None or r.n == 0:
        return "-"
    return f"{_times(r.value)} ({_times(r.low)}-{_times(r.high)})"


def _ratios(s: Score, figure: str) -> str:
    refs = s.ratios.get(figure, {})
    return " / ".join(_ratio(refs.get(ref)) for ref in DATE_METHODS[1:])


def _no_ideal(cells: Iterable[str]) -> list[str]:
    """A figure the ideal reader does not forecast (it reads usage only): its cell left empty."""
    by_method = dict(zip(METHODS, cells, strict=True))
    return [by_method.get(m, "") for m in DATE_METHODS]


def score_table(s: Score) -> Table:
    table = Table(
        title=f"Predictions at the end of the period against the hidden future "
        f"({s.predicted} of {s.vehicles} vehicles predicted)",
        title_justify="left",
    )
    table.add_column("figure")
    table.add_column("n", justify="right")
    for method in DATE_METHODS:
        table.add_column(method, justify="right")
    table.add_column(
        f"journeygate's median / naive's, / ideal's, / oracle's ({RATIO_LEVEL:.0%} interval)",
        justify="right",
    )
    for bucket, errors in s.warranty.items():
        table.add_row(
            f"warranty expiry, distance-bound, {bucket} days ahead: median / P90 abs error (days)",
            str(errors["journeygate"].n),
            *(_days(errors[m]) for m in DATE_METHODS),
            _ratios(s, f"warranty {bucket}"),
        )
    if s.distance:
        table.add_row(
            "distance truly driven in 40-85 days, every vehicle: median / P90 abs error (days)",
            str(s.distance["journeygate"].n),
            *(_days(s.distance[m]) for m in DATE_METHODS),
            _ratios(s, "distance"),
        )
    table.add_row(
        "service due date: median / P90 abs error (days)",
        str(s.service_due["journeygate"].n),
        *(_days(s.service_due[m]) for m in DATE_METHODS),
        _ratios(s, "service due"),
    )
    table.add_row(
        "service bill: median abs % error vs the invoice",
        str(s.bill["journeygate"][0]),
        *_no_ideal(_pct(s.bill[m]) for m in METHODS),
    )
    table.add_row(
        "  against the invoice's foreseeable part (no unrelated repairs or later codes)",
        str(s.bill_foreseeable["journeygate"][0]),
        *_no_ideal(_pct(s.bill_foreseeable[m]) for m in METHODS),
    )
    for name, pair in s.coverage.items():
        kind, _, uncertain = name.partition("_")
        label = f"{kind} dates inside P10-P90" + (
            ", of those a day apart or more" if uncertain else ""
        )
        table.add_row(label, str(pair[0]), _pct(pair, 100), "", "", "", "")
    table.add_row(
        "equity sign correct (financed vehicles)",
        str(s.equity_sign["journeygate"][0]),
        *_no_ideal(_pct(s.equity_sign[m], 100) for m in METHODS),
    )
    return table


def _errors_doc(e: DateErrors) -> dict[str, Any]:
    return {
        "n": e.n,
        "median_abs_days": _num(e.median_abs_days),
        "p90_abs_days": _num(e.p90_abs_days),
    }


def _num(value: float) -> float | None:
    return None if math.isnan(value) or math.isinf(value) else round(value, 3)


def _ratio_doc(r: Ratio) -> dict[str, Any]:
    return {"n": r.n, "value": _num(r.value), "interval": [_num(r.low), _num(r.high)]}


def score_document(s: Score) -> dict[str, Any]:
    """The score as JSON: ``null`` where a figure has no pairs."""
    return {
        "vehicles": s.vehicles,
        "predicted": s.predicted,
        "warranty_expiry": {
            bucket: {m: _errors_doc(errors[m]) for m in DATE_METHODS}
            for bucket, errors in s.warranty.items()
        },
        "distance_31_90": (
            {m: _errors_doc(s.distance[m]) for m in DATE_METHODS} if s.distance else None
        ),
        "service_due": {m: _errors_doc(s.service_due[m]) for m in DATE_METHODS},
        "bill_mape_pct": {m: {"n": s.bill[m][0], "value": _num(s.bill[m][1])} for m in METHODS},
        "bill_foreseeable_mape_pct": {
            m: {"n": s.bill_foreseeable[m][0], "value": _num(s.bill_foreseeable[m][1])}
            for m in METHODS
        },
        "interval_coverage": {
            name: {"n": pair[0], "share": _num(pair[1])} for name, pair in s.coverage.items()
        },
        "equity_sign": {
            m: {"n": s.equity_sign[m][0], "share": _num(s.equity_sign[m][1])} for m in METHODS
        },
        "error_ratios": {
            figure: {ref: _ratio_doc(r) for ref, r in refs.items()}
            for figure, refs in s.ratios.items()
        },
    }

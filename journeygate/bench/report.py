"""Printing a benchmark run: rich tables per stage, pipeline, scale and targets; JSON to a file."""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from journeygate.bench.results import BenchResults, StageResult
from journeygate.bench.stats import Figure

MIB = 1024 * 1024


def _n(value: float, digits: int = 0) -> str:
    if math.isnan(value) or math.isinf(value):
        return "-"
    return f"{value:,.{digits}f}"


def _figure_row(table: Table, label: str, f: Figure, ratio: str) -> None:
    table.add_row(
        label,
        _n(f.rate_per_s),
        _n(f.per_cpu_s),
        _n(f.cpu_us, 1),
        ratio,
        f"{len(f.runs)}" + (f" ±{f.spread_pct:.0f}%" if len(f.runs) > 1 else ""),
    )


def stage_table(s: StageResult) -> Table:
    unit = s.alone.unit
    table = Table(title=f"{s.title}", title_justify="left")
    for col in ("figure", f"{unit}/s", f"{unit} per CPU-s", f"CPU µs/{unit}", "ratio", "runs"):
        table.add_column(col, justify="left" if col == "figure" else "right")
    _figure_row(table, f"{s.name} alone", s.alone, f"{s.ratio:.2f}")
    for variant in s.variants:
        _figure_row(
            table,
            f"{variant.name} (alone)",
            variant,
            f"{variant.per_cpu_s / s.ceiling.per_cpu_s:.2f}",
        )
    _figure_row(table, f"ceiling: {s.ceiling.name}", s.ceiling, "1.00")
    for extra in s.context:
        share = f"{s.alone.per_cpu_s / extra.per_cpu_s:.2f}"
        _figure_row(table, f"  context: {extra.name}", extra, share)
    if s.pipeline_cpu_us is not None:
        table.add_row(f"{s.name} in the pipeline", "", "", _n(s.pipeline_cpu_us, 1), "", "")
    return table


def _cores(modules: tuple[str, ...]) -> str:
    """Which processors' cores (``journey``, ``signals``) and other packages (``schemas``: the
    frame codec) ran compiled, or ``none``."""
    names = sorted(
        {m.split(".")[1] if m.startswith("processors.") else m.split(".")[0] for m in modules}
    )
    return ", ".join(names) or "none"


def print_report(results: BenchResults, console: Console) -> None:
    m = results.machine
    console.print(
        f"[bold]journeygate bench[/] {'--quick ' if results.quick else ''}"
        f"on {m.cpus} vCPU ({m.cpu_model}), {m.memory_gib:.0f} GiB, Python {m.python}; "
        f"load {m.load_1m_start:.2f} → {m.load_1m_end:.2f}; MQTT broker {results.mqtt_broker}; "
        f"payload {results.payload_bytes} B; "
        f"cores compiled: {_cores(m.compiled)}; "
        f"{results.elapsed_s:.0f} s"
    )
    for stage in results.stages:
        console.print(stage_table(stage))
    if results.pipeline is not None:
        console.print(pipeline_table(results))
    if results.scale is not None:
        console.print(scale_table(results))
    if results.api is not None:
        console.print(api_table(results))
    console.print(targets_table(results))


def pipeline_table(results: BenchResults) -> Table:
    p = results.pipeline
    assert p is not None
    table = Table(title="Whole pipeline (bridge → normalizer → store writer)", title_justify="left")
    table.add_column("figure")
    table.add_column("value", justify="right")
    f = p.max_rate
    table.add_row("maximum sustainable rate, msg/s", _n(f.rate_per_s))
    table.add_row("  samples/s", _n(f.rate_per_s * p.samples_per_message))
    table.add_row("  msg per CPU-s (all stages)", _n(f.per_cpu_s))
    for name, cpu_us in p.stage_cpu_us.items():
        table.add_row(f"  CPU µs/msg: {name}", _n(cpu_us, 1))
    if p.latency is not None:
        lat = p.latency
        table.add_row(f"latency at {lat.offered_per_s:,.0f} msg/s for {lat.duration_s:g} s", "")
        table.add_row("  samples", _n(lat.samples))
        table.add_row(
            "  P50 / P95 / P99 ms (event → stored)",
            f"{_n(lat.p50_ms)} / {_n(lat.p95_ms)} / {_n(lat.p99_ms)}",
        )
        table.add_row("  max ms", _n(lat.max_ms))
        table.add_row(
            "  P50 / P99 ms (event → bridge)",
            f"{_n(lat.to_bridge_p50_ms)} / {_n(lat.to_bridge_p99_ms)}",
        )
    if p.alert_max_rate is not None:
        table.add_row(
            "maximum rate with the signals and journey processors, msg/s",
            _n(p.alert_max_rate.rate_per_s),
        )
        table.add_row("  msg per CPU-s (all five stages)", _n(p.alert_max_rate.per_cpu_s))
    if p.alert_latency is not None:
        a = p.alert_latency
        table.add_row(
            f"telemetry → dealer alert at {a.offered_per_s:,.0f} msg/s for {a.duration_s:g} s"
            " (+ signals and journey processors)",
            "",
        )
        table.add_row("  alerts", _n(a.alerts))
        table.add_row(
            "  P50 / P95 / P99 ms (sample → alert stored, after dealer.alerts)",
            f"{_n(a.p50_ms)} / {_n(a.p95_ms)} / {_n(a.p99_ms)}",
        )
        table.add_row("  max ms", _n(a.max_ms))
    return table


def scale_table(results: BenchResults) -> Table:
    s = results.scale
    assert s is not None
    table = Table(title=f"Scale: {s.fleet:,} vehicles, each every 5 min", title_justify="left")
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_row(
        "offered rate (time acceleration)", f"{_n(s.offered_per_s)} msg/s (x{s.acceleration:g})"
    )
    signals = "" if s.signals is None else ", 1 signals"
    table.add_row("processes", f"{s.bridges} bridge, {s.normalizers} normalizer, 1 store{signals}")
    table.add_row("published / stored", f"{s.published:,} / {s.stored:,}")
    table.add_row("feeding took", f"{s.feed_elapsed_s:.1f} s (planned {s.duration_s:.0f} s)")
    table.add_row("lost / duplicated", f"{s.lost:,} / {s.duplicated:,}")
    table.add_row("repeats absorbed / seq gaps", f"{s.repeats_absorbed:,} / {s.seq_gaps:,}")
    table.add_row("max lag, msgs / drain after last publish", f"{s.max_lag:,} / {s.drain_s:.1f} s")
    table.add_row("normalizer state per vehicle", f"{s.state_bytes_per_vehicle:,.0f} B")
    if s.signals is not None:
        g = s.signals
        table.add_row(
            "signals: frames / committed / consumed",
            f"{g.frames:,} / {g.committed:,} / {g.consumed:,}",
        )
        table.add_row("signals: lost / doubled", f"{g.lost:,} / {g.doubled:,}")
        table.add_row(
            "signals: vehicles with state / missing",
            f"{g.vehicles_with_state:,} / {g.missing_state:,}",
        )
        table.add_row(
            "signals: state per vehicle, mean (stored) / max",
            f"{g.state_bytes_per_vehicle:,.0f} ({g.stored_bytes_per_vehicle:,.0f}) / "
            f"{g.max_state_bytes:,} B",
        )
        table.add_row(
            "signals: evaluations / signals emitted", f"{g.evaluations:,} / {g.signals_emitted:,}"
        )
        table.add_row("signals: caught up after last publish", f"{g.drain_s:.1f} s")
    for p in s.processes:
        table.add_row(
            f"  {p.name}: handled; RSS start / warm / end / peak MiB",
            f"{p.handled:,}; {p.baseline_bytes / MIB:,.0f} / {p.warm_bytes / MIB:,.0f} / "
            f"{p.end_bytes / MIB:,.0f} / {p.peak_bytes / MIB:,.0f} "
            f"({p.growth_after_warmup_pct:+.1f}%)",
        )
    return table


def api_table(results: BenchResults) -> Table:
    a = results.api
    assert a is not None
    table = Table(
        title=f"Dealer API and webhooks: {a.clients} clients for {a.duration_s:g} s,"
        f" {a.deliveries:,} deliveries",
        title_justify="left",
    )
    for col in ("figure", "per s", "per CPU-s", "CPU µs each", "P50 / P99 ms", "ratio", "runs"):
        table.add_column(col, justify="left" if col == "figure" else "right")
    rows = (
        (f"GET /v1/alerts (50 of {a.alerts:,} alerts)", a.listing.figure, a.listing,
         f"{a.listing_ratio:.2f}"),
        ("  ceiling: minimal FastAPI endpoint", a.listing_ceiling.figure, a.listing_ceiling,
         "1.00"),
        ("webhook sender, deliveries", a.webhooks, None, f"{a.webhooks_ratio:.2f}"),
        ("  ceiling: signed POSTs, one client", a.webhooks_ceiling, None, "1.00"),
    )  # fmt: skip
    for label, f, http, share in rows:
        latency = "" if http is None else f"{_n(http.p50_ms, 1)} / {_n(http.p99_ms, 1)}"
        spread = f" ±{f.spread_pct:.0f}%" if len(f.runs) > 1 else ""
        table.add_row(
            label, _n(f.rate_per_s), _n(f.per_cpu_s), _n(f.cpu_us, 1), latency, share,
            f"{len(f.runs)}{spread}",
        )  # fmt: skip
    table.add_row(
        "  per CPU-second of the server (sender) over the ceiling's", "", "", "", "",
        f"{a.listing_cpu_ratio:.2f} ({a.webhooks_cpu_ratio:.2f})", "",
    )  # fmt: skip
    return table


def targets_table(results: BenchResults) -> Table:
    table = Table(title="Targets", title_justify="left")
    for col in ("target", "wanted", "measured", "met"):
        table.add_column(col)
    for t in results.targets:
        table.add_row(t.name, t.wanted, t.measured, "[green]yes[/]" if t.met else "[red]no[/]")
    return table


def _clean(value: Any) -> Any:
    """Replace NaN and infinities (not JSON) by None, recursively."""
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def to_json(results: BenchResults) -> dict[str, Any]:
    data = asdict(results)
    for stage, raw in zip(results.stages, data["stages"], strict=True):
        raw["ratio"] = stage.ratio
    return dict(_clean(data))


def write_json(results: BenchResults, path: Path) -> None:
    path.write_text(json.dumps(to_json(results), indent=2, allow_nan=False) + "\n")

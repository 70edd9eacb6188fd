"""What ``journeygate simulate`` shows: a live progress bar, the plan, the run's summary."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from simulator.publishing.logic import KIND_VALID, Plan
from simulator.publishing.services import dealer_visits, history_since, history_visits
from simulator.runner import SimulationProgress, SimulationResult, StatusCallback
from simulator.scenario.files import PublishSection
from simulator.world.events import ServiceVisit
from simulator.world.usage import to_ms

SHORT_TAGS = {
    "dead_zone": "dz",
    "out_of_order": "ooo",
    "clock_skew": "skew",
    "reboot": "boot",
}


def fault_counts(faults: dict[str, int]) -> str:
    """``dz 3 ooo 1 skew 2 odo 4`` for a progress line."""
    odometer = sum(v for k, v in faults.items() if k.startswith("odometer_"))
    parts = [f"{short} {faults.get(tag, 0)}" for tag, short in SHORT_TAGS.items()]
    return " ".join([*parts, f"odo {odometer}"])


@contextmanager
def progress_bar() -> Iterator[StatusCallback]:
    columns = (
        TextColumn("[bold]simulate"),
        BarColumn(bar_width=12),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, transient=False) as bar:
        task = bar.add_task("simulate", total=None, detail="registering fleet")

        def update(p: SimulationProgress) -> None:
            refused = f" rejected {p.rejected}" if p.rejected else ""
            detail = (
                f"ack {p.acknowledged}{refused} dup {p.duplicates} bad {p.malformed}"
                f" {fault_counts(p.faults)} {p.sim_time:%Y-%m-%d %H:%M}"
            )
            bar.update(task, total=p.planned, completed=p.published, detail=detail)

        yield update


def plan_summary(
    plan: Plan,
    plan_services: bool = True,
    history_years: int = PublishSection().service_history_years,
) -> None:
    kinds = plan.kind_counts()
    tags: dict[str, int] = {}
    for m in plan.messages:
        for tag in m.tags if m.kind == KIND_VALID else ((m.fault,) if m.fault else ()):
            tags[tag] = tags.get(tag, 0) + 1
    typer.echo(
        "\n".join(
            [
                f"period        {plan.start:%Y-%m-%d %H:%M} .. {plan.now:%Y-%m-%d %H:%M} UTC",
                f"vehicles      {len(plan.fleet)}",
                f"messages      {len(plan.messages)} ({kinds['valid']} valid,"
                f" {kinds['duplicate']} duplicate, {kinds['malformed']} to reject)",
                "faults        " + ", ".join(f"{k} {v}" for k, v in sorted(tags.items())),
                f"dealer visits {len(dealer_visits(plan, to_ms(plan.now)))} in the period,"
                f" {_history(plan, history_years)}"
                + ("" if plan_services else " (not published: --no-services)"),
                _horizon(plan),
            ]
        )
    )


def _history(plan: Plan, years: int) -> str:
    if years <= 0:
        return "no service history"
    since = history_since(plan, years)
    return f"{len(history_visits(plan, years))} in the service history since {since}"


def _horizon(plan: Plan) -> str:
    days = plan.params.horizon_days
    if days == 0:
        return "horizon       none"
    end = plan.now.date() + timedelta(days=days)
    visits = sum(
        1
        for t in plan.vehicles
        if t.future is not None
        for e in t.future.events
        if isinstance(e, ServiceVisit)
    )
    return f"horizon       {days} days to {end} (truth only): {visits} service visits"


def summary(r: SimulationResult) -> None:
    bad = ", ".join(f"{k} {v}" for k, v in r.malformed.items()) or "none"
    refused = ", ".join(f"{k} {v}" for k, v in r.rejected_reasons.items())
    refused = f": {refused}" if refused else ""
    faults = ", ".join(f"{k} {v}" for k, v in r.faults.items()) or "none"
    lines = [
        f"vehicles      {r.vehicles} ({r.registered} newly registered)",
        f"published     {r.messages_published} of {r.planned_messages}"
        f" ({r.acknowledged} acknowledged, {r.rejected} rejected by the broker{refused})",
        f"valid         {r.valid_messages} messages, {r.valid_samples} samples",
        f"duplicates    {r.duplicates}",
        f"to reject     {bad}",
        f"faults        {faults}",
        "services      "
        + (
            "not published (--no-services)"
            if r.services_published is None
            else f"{r.history_published} history and {r.services_published} period dealer"
            " visits published to vehicle.services"
        ),
        "acks          "
        + (
            "ignored by the devices (--acks ignore)"
            if r.downlink is None
            else f"{r.downlink.confirmed} messages confirmed by {r.downlink.acks} acknowledgements,"
            f" {r.downlink.resent} sent again, {r.downlink.unconfirmed} unconfirmed at the end,"
            f" {r.downlink.dropped} dropped from full device outboxes"
            + ("" if r.downlink.acks else " (no acknowledgement arrived: none waited for)")
        ),
        f"elapsed       {r.elapsed_s:.1f} s" + ("  (interrupted)" if r.interrupted else ""),
    ]
    if r.truth_path is not None:
        lines.append(f"truth         {r.truth_path}")
    typer.echo("\n".join(lines))

"""Owners respond to a dealer that acts on its alerts (``[owners.response]``): measurable when
on, nothing changed when off."""

from __future__ import annotations

from datetime import date, timedelta
from functools import cache

import pytest
from sim_kit import CATALOG, NO_FAULTS, fleet_data, merge, plan

from kernel.errors import ConfigError
from simulator.publishing.logic import Plan
from simulator.publishing.plan import VehicleTruth
from simulator.scenario.files import parse_scenario
from simulator.truth.record import world_lines
from simulator.world.events import ServiceVisit
from simulator.world.usage import day_start_ms, from_ms

ON_TIME_MAX_DAYS = 14  # the scenario's on_time_days upper bound (default)


def data(**response: object) -> dict[str, object]:
    """100 owners, most of them late or lapsing to an independent garage, over a week and a
    hidden horizon of 300 days (cheap: no messages)."""
    return merge(
        fleet_data(
            100,
            7,
            5,
            faults=NO_FAULTS,
            profiles={"average": {"sample_interval_s": 0}},
            owners={
                "service": {"on_time": 0.2, "late": 0.5, "lapsed": 0.3},
                "response": response,
            },
        ),
        {"scenario": {"horizon_days": 300}},
    )


def services(t: VehicleTruth) -> list[ServiceVisit]:
    later = t.future.events if t.future is not None else ()
    return [e for e in (*t.events, *later) if isinstance(e, ServiceVisit)]


@cache
def fleet(uplift: float) -> Plan:
    return plan(data(booking_uplift=uplift))


def reminded(p: Plan) -> list[tuple[bool, ServiceVisit]]:
    """Every service due from the period's start on, with whether the owner had
    service-reminder consent when the dealer's reminder (30 days before) went out."""
    start = p.start.date()
    out = []
    for t in p.vehicles:
        for e in services(t):
            if e.due_date >= start:
                when = max(e.due_date - timedelta(days=30), start)
                out.append((t.owner.consents("service_reminders", day_start_ms(when)), e))
    return out


def on_time_at_dealer(visits: list[ServiceVisit]) -> float:
    def day(e: ServiceVisit) -> date:
        return from_ms(e.ts_ms).date()

    good = [e for e in visits if e.where == "dealer" and (day(e) - e.due_date).days <= 14]
    return len(good) / max(len(visits), 1)


def test_off_changes_nothing() -> None:
    off, explicit = fleet(0.0), plan(data(booking_uplift=0.0, reminder_lead_days=10))
    assert world_lines(off, CATALOG) == world_lines(explicit, CATALOG)
    assert off.messages == explicit.messages
    assert not any(e.responded for _, e in reminded(off))


def test_reminded_owners_book_at_the_dealer_on_time_more_often() -> None:
    off, on = reminded(fleet(0.0)), reminded(fleet(0.6))
    consented_off = [e for c, e in off if c]
    consented_on = [e for c, e in on if c]
    assert len(consented_off) >= 40, len(consented_off)
    base, lifted = on_time_at_dealer(consented_off), on_time_at_dealer(consented_on)
    # About 80 % of these owners go late or independently: an uplift of 0.6 moves about half
    # of all of them to an on-time dealer visit.
    assert lifted >= base + 0.25, (base, lifted)
    responded = [e for _, e in on if e.responded]
    assert responded and all(e.where == "dealer" for e in responded)
    assert all((from_ms(e.ts_ms).date() - e.due_date).days <= ON_TIME_MAX_DAYS for e in responded)
    # Only reminded owners respond: none without consent when the reminder went out.
    assert not any(e.responded for c, e in on if not c)


def test_the_history_and_the_telemetry_before_the_first_response_stay_as_they_were() -> None:
    off, on = fleet(0.0), fleet(0.6)
    start_ms = int(off.start.timestamp() * 1000)

    def history(p: Plan) -> list[ServiceVisit]:
        return [e for t in p.vehicles for e in services(t) if e.ts_ms < start_ms]

    assert history(off) == history(on)
    assert [t.vehicle for t in off.vehicles] == [t.vehicle for t in on.vehicles]
    assert [t.owner for t in off.vehicles] == [t.owner for t in on.vehicles]


def test_response_keys_are_checked() -> None:
    with pytest.raises(ConfigError):
        parse_scenario(merge(data(), {"owners": {"response": {"booking_uplift": 1.5}}}), "t")
    with pytest.raises(ConfigError):
        parse_scenario(merge(data(), {"owners": {"response": {"uplift": 0.5}}}), "t")

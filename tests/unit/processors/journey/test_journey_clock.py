"""Time passing and the present: gates open and stages come by time alone (ticks up to the
partition's watermark), and the service history read back before any telemetry never alerts."""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import asdict

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st
from journey_kit import VIN, at, consent, equity, granted_all, service, visit, warranty
from test_journey_machine import SCRIPT, _inputs

from processors.journey.clock import next_wake_ms
from processors.journey.logic import Decoded, process_batch
from processors.journey.machine import Input, input_ms, step
from processors.journey.rules import default_rules
from processors.journey.state import WAKE_UNKNOWN, VehicleJourney
from schemas.signals import SignalRecord

RULES = default_rules()
MS_PER_DAY = 86_400_000


def ms(day: float) -> int:
    return int(at(day).timestamp() * 1000)


def batch(inputs: list[Input], partition: int = 0) -> Decoded:
    """As decode_batch makes it: the partition's watermark is its signals' newest time."""
    signals = [input_ms(i) for i in inputs if isinstance(i, SignalRecord)]
    return Decoded(
        tuple(inputs),
        (),
        {},
        Counter(),
        {VIN: partition},
        {partition: max(signals)} if signals else {},
    )


def fold(inputs: list[Input]) -> VehicleJourney:
    j = VehicleJourney(VIN, "dealer-7")
    for item in inputs:
        step(j, item, RULES)
    return j


def test_a_forecast_that_holds_still_warns_in_stages_as_time_passes() -> None:
    # One service forecast (due in 50 days), then nothing from this vehicle while its
    # partition's event time (other vehicles' inputs) reaches day 60: it is woken.
    j = fold([*granted_all(), service(0, 50)])
    assert j.facts.service is not None
    out = process_batch(Decoded((), (), {}, Counter()), {VIN: j}, RULES, {VIN: ms(60)})
    got = [(a.alert_type, a.stage, a.at_ms) for a in out.alerts]
    assert got == [
        ("service_due", "early", ms(20)),
        ("service_due", "near", ms(36)),
        ("service_due", "deadline", ms(50)),
    ]
    entered = [e for e in out.events if e.event == "entered"]
    assert [(e.gate, e.at_ms) for e in entered] == [
        ("service_due", ms(20)),
        ("service_overdue", ms(51)),
    ]
    assert out.wakes[VIN] == next_wake_ms(j, RULES)


def test_ticks_between_a_vehicles_inputs_do_not_depend_on_the_batch_cut() -> None:
    inputs: list[Input] = [*granted_all(), warranty(0, 60), equity(0, 100.0), equity(70, 100.0)]
    whole = process_batch(batch(inputs), {VIN: VehicleJourney(VIN, "dealer-7")}, RULES)
    j = VehicleJourney(VIN, "dealer-7")
    first = process_batch(batch(inputs[:3]), {VIN: j}, RULES)
    second = process_batch(batch(inputs[3:]), {VIN: j}, RULES)
    assert [a.alert_id for a in whole.alerts] == [a.alert_id for a in first.alerts + second.alerts]
    stages = [a.stage for a in whole.alerts if a.alert_type == "warranty_ending"]
    assert stages == ["early", "near", "deadline"]


def test_the_service_history_read_back_never_alerts() -> None:
    # Three years of dealer visits, each followed by the signals evaluated at its instant (as
    # the signals processor does before any telemetry): overdue, lapsed, equity positive...
    history: list[Input] = [*granted_all(-2000)]
    for n, day in enumerate((-1000, -600, -200)):
        history += [visit(day, n), service(day, -90), equity(day, 5000.0), warranty(day, 20)]
    j = VehicleJourney(VIN, "dealer-7")
    out = process_batch(batch(history), {VIN: j}, RULES)
    assert out.alerts == ()
    assert j.live_ms is None
    assert any(e.event == "entered" for e in out.events)  # the timeline is kept
    # The first signal newer than the history (telemetry) makes the vehicle live.
    live = process_batch(batch([service(0, 20)]), {VIN: j}, RULES)
    assert j.live_ms == ms(0)
    assert [a.alert_type for a in live.alerts] == ["upgrade_window"]


def test_registry_consent_keeps_the_batch_partitions_and_watermarks() -> None:
    from processors.journey.db import Registered
    from processors.journey.runner import _with_registry
    from processors.journey.state import Consent

    decoded = batch([service(0, 50)], partition=3)
    registry = {VIN: Registered("dealer-7", {"service_reminders": Consent(True, ms(-400))})}
    with_consent = _with_registry(decoded, {}, registry)
    assert len(with_consent.inputs) == 2
    assert with_consent.partitions == {VIN: 3}
    assert with_consent.watermarks == {3: ms(0)}


def _timeline(
    batches: list[list[Input]],
) -> tuple[list[tuple[str, str, int]], list[tuple[str, str | None, int]]]:
    j = VehicleJourney(VIN, "dealer-7")
    alerts: list[tuple[str, str, int]] = []
    events: list[tuple[str, str | None, int]] = []
    for inputs in batches:
        out = process_batch(batch(inputs), {VIN: j}, RULES)
        alerts += [(a.alert_type, a.stage, a.at_ms) for a in out.alerts]
        events += [(e.event, e.gate, e.at_ms) for e in out.events]
    assert j.held_visits == []
    return alerts, events


def test_a_visit_read_ahead_of_the_signals_is_folded_where_it_belongs() -> None:
    # A lagging signals processor: the period's visits are read before the signals that come
    # before them in time. Held until the signals reach their time, they give the journey of
    # the inputs read in time order, one by one or all at once.
    before = [service(d, 40 - d) for d in range(0, 40, 5)]  # due on day 40
    after = [service(d, 365 - (d - 41)) for d in range(41, 80, 5)]  # serviced: next year
    serviced = visit(40.5)
    one_by_one = [[c] for c in granted_all()] + [[i] for i in [*before, serviced, *after]]
    at_once = [[*granted_all(), *before, serviced, *after]]
    read_early = [[*granted_all(), serviced]] + [[i] for i in [*before, *after]]
    expected = _timeline(one_by_one)
    assert _timeline(at_once) == expected
    assert _timeline(read_early) == expected
    alerts, events = expected
    assert ("service_due", "deadline", ms(40)) in alerts
    assert ("visit", None, ms(40.5)) in events
    assert not any(a[0] in ("service_overdue", "lapsed") for a in alerts)


@settings(max_examples=100, deadline=None)
@given(SCRIPT, st.sampled_from([0.5, 1.0, 3.0, 7.0]), st.lists(st.integers(1, 12), min_size=1))
def test_the_wake_up_instant_kept_in_the_state_changes_nothing(
    script: list[tuple[str, object]], step_days: float, cuts: list[int]
) -> None:
    """A state carries the instant its last batch said to wake it at, and the next batch skips
    working out the time-driven evaluations before the vehicle's first input when that instant
    is later: the same alerts, timeline and wake-ups as a state that does not keep it. Each
    batch's states and timeline are also serialised as they are when folded: the same JSON as
    the objects give (and as orjson gives: the JSON the store always had)."""
    inputs = [*granted_all(), *_inputs(script, step_days)]
    kept = VehicleJourney(VIN, "dealer-7")
    forgetful = VehicleJourney(VIN, "dealer-7")
    sizes = itertools.cycle(cuts)
    pos = 0
    while pos < len(inputs):
        part = inputs[pos : pos + next(sizes)]
        pos += len(part)
        a = process_batch(batch(part), {VIN: kept}, RULES)
        forgetful.wake_ms = WAKE_UNKNOWN
        b = process_batch(batch(part), {VIN: forgetful}, RULES)
        assert a.alerts == b.alerts
        assert a.events == b.events
        assert a.changes == b.changes
        assert a.wakes == b.wakes
        assert a.wakes[VIN] == next_wake_ms(kept, RULES)
        assert a.encoded[VIN] == kept.to_bytes()
        assert VehicleJourney.from_bytes(a.encoded[VIN]) == kept
        # (orjson reads a dataclass's fields itself, and crashes on compiled ones: as dicts)
        assert orjson.loads(a.encoded[VIN]) == orjson.loads(orjson.dumps(asdict(kept)))
        assert [orjson.loads(e) for e in a.encoded_events] == [
            orjson.loads(orjson.dumps(asdict(e))) for e in a.events
        ]


CONSENTS = st.permutations(
    [
        ("location", False),
        ("marketing_offers", False),
        ("service_reminders", True),
    ]
)


@settings(max_examples=30, deadline=None)
@given(CONSENTS)
def test_consents_read_together_are_judged_together_in_any_order(
    changes: list[tuple[str, bool]],
) -> None:
    # A vehicle's registry consents come in at one instant: an owner who gave service reminders
    # but not marketing or location neither leaves the journey nor comes back to it, whatever
    # order they are read in, and a signal of that instant is evaluated with all of them.
    inputs: list[Input] = [consent(0, p, g) for p, g in changes]
    inputs.insert(1, equity(0, 9_000.0))
    inputs.append(service(0, 10))
    j = VehicleJourney(VIN, "dealer-7")
    out = process_batch(batch(inputs), {VIN: j}, RULES)
    assert [e.event for e in out.events if e.event in ("left", "rejoined")] == []
    assert j.left is None
    assert [(a.alert_type, a.purpose) for a in out.alerts] == [("service_due", "service")]


def test_withdrawing_location_alone_is_not_leaving_the_journey() -> None:
    out = process_batch(batch([consent(0, "location", False)]), {VIN: j0()}, RULES)
    assert [e.detail for e in out.events] == ["location withdrawn"]
    assert out.states[VIN].left is None


def test_withdrawing_every_alerting_purpose_at_once_leaves_once() -> None:
    j = fold([*granted_all()])
    part = [consent(5, "service_reminders", False), consent(5, "marketing_offers", False)]
    out = process_batch(batch(part), {VIN: j}, RULES)
    assert [e.event for e in out.events].count("left") == 1
    assert j.left == "consent_withdrawn"


def test_a_withdrawal_stops_an_alert_of_its_own_instant_whatever_the_order() -> None:
    for inputs in (
        [service(0, 10), consent(0, "service_reminders", False)],
        [consent(0, "service_reminders", False), service(0, 10)],
    ):
        j = fold(
            [consent(-400, "service_reminders", True), consent(-400, "marketing_offers", True)]
        )
        out = process_batch(batch(inputs), {VIN: j}, RULES)
        assert out.alerts == ()
        assert j.granted("marketing_offers") and not j.granted("service_reminders")


def j0() -> VehicleJourney:
    return VehicleJourney(VIN, "dealer-7")

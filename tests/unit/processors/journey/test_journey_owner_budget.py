"""The contact budget per owner (pure): one budget across all of an owner's vehicles, whatever
order their inputs are folded in, and the fast path of a vehicle that is its own owner unchanged.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st
from journey_kit import VIN, at, equity, fault, granted_all, service, warranty

from processors.journey.budget import CONTACT_BUDGET, MIN_GAP, contact_block, next_free_ms
from processors.journey.clock import next_tick_ms
from processors.journey.logic import Decoded, Owners, others_contacts, process_batch
from processors.journey.machine import Alert, Input, _blocked, input_ms, step
from processors.journey.rules import default_rules
from processors.journey.state import VehicleJourney
from schemas.consent import ConsentChange, consent_change
from schemas.signals import SignalRecord

RULES = default_rules()
C = RULES.contact
DAY = 86_400_000
WINDOW = C.budget_window_days * DAY
GAP = C.min_days_between * DAY
OTHER = "WVWZZZE12NP012345"
OWNER = "owner-1"


def ms(day: float) -> int:
    return int(at(day).timestamp() * 1000)


def of(vin: str, item: Input) -> Input:
    """``item`` (made for :data:`VIN` by journey_kit) as an input of ``vin``."""
    if isinstance(item, SignalRecord):
        return replace(item, vin=vin, signal_id=item.signal_id.replace(VIN, vin))
    if isinstance(item, ConsentChange):
        assert item.purpose is not None
        return consent_change(vin, item.purpose, item.granted, item.changed_at, "test")
    return replace(item, vin=vin)


def assert_within_budget(contacts: list[int]) -> None:
    """No window (x - W, x] holds more than the budget; no two contacts closer than the gap."""
    ordered = sorted(contacts)
    for x in ordered:
        assert sum(1 for c in ordered if x - WINDOW < c <= x) <= C.budget, ordered
    for a, b in pairwise(ordered):
        assert b - a >= GAP, ordered


def test_the_budget_counts_contacts_on_either_side_of_the_instant() -> None:
    t = ms(40)
    assert contact_block(t, [], C) is None
    assert contact_block(t, [ms(20), ms(30)], C) == CONTACT_BUDGET  # two in the last 30 days
    assert contact_block(t, [ms(5), ms(30)], C) is None  # one left the window
    # another vehicle of the owner, ahead in event time, was contacted twice after t
    assert contact_block(t, [ms(50), ms(60)], C) == CONTACT_BUDGET
    assert contact_block(t, [ms(31), ms(60)], C) == CONTACT_BUDGET  # window (30, 60] holds t
    assert contact_block(t, [ms(30), ms(60)], C) is None  # no window holds three
    assert contact_block(t, [ms(45)], C) == MIN_GAP  # the gap after t, too
    assert contact_block(t, [ms(35)], C) == MIN_GAP
    assert next_free_ms(t, [ms(35)], C) == ms(35) + GAP
    assert next_free_ms(t, [ms(20), ms(30)], C) == ms(20) + WINDOW
    assert next_free_ms(t, [ms(31), ms(60)], C) == ms(60) + GAP
    assert next_free_ms(t, [], C) is None


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 200 * 24), min_size=1, max_size=60))
def test_contacts_allowed_in_any_order_never_exceed_the_budget(hours: list[int]) -> None:
    made: list[int] = []
    for h in hours:
        t = ms(h / 24)
        if contact_block(t, made, C) is None:
            made.append(t)
    assert_within_budget(made)


def test_a_vehicle_that_is_its_own_owner_is_decided_as_before() -> None:
    # the fast path (no other contacts) and the general check agree on past contacts
    for contacts in ([], [ms(1)], [ms(1), ms(20)], [ms(30)], [ms(35)]):
        j = VehicleJourney(VIN, "dealer-7", as_of_ms=ms(40), contacts_ms=list(contacts))
        j.consent = dict(fold(granted_all()).consent)
        assert _blocked(j, "service", RULES, ()) == contact_block(ms(40), contacts, C)


def fold(items: list[Input], vin: str = VIN) -> VehicleJourney:
    j = VehicleJourney(vin, "dealer-7")
    for item in items:
        step(j, item, RULES)
    return j


# Each vehicle's own inputs, in its own time order: alerts of several types come due.
SCRIPT = st.lists(
    st.one_of(
        st.tuples(st.just("warranty"), st.integers(-5, 60)),
        st.tuples(st.just("service"), st.integers(-10, 40)),
        st.tuples(st.just("equity"), st.integers(0, 8000)),
        st.tuples(st.just("fault"), st.sampled_from(["raised", "cleared"])),
    ),
    min_size=1,
    max_size=40,
)


def _script(vin: str, script: list[tuple[str, object]], step_days: float) -> list[Input]:
    out: list[Input] = [of(vin, c) for c in granted_all()]
    for n, (kind, value) in enumerate(script):
        day = n * step_days
        if kind == "warranty":
            out.append(of(vin, warranty(day, float(str(value)))))
        elif kind == "service":
            out.append(of(vin, service(day, float(str(value)))))
        elif kind == "equity":
            out.append(of(vin, equity(day, float(str(value)))))
        else:
            out.append(of(vin, fault(day, event=str(value))))
    return out


@settings(max_examples=150, deadline=None)
@given(
    SCRIPT,
    SCRIPT,
    st.sampled_from([0.5, 1.0, 3.0, 7.0]),
    st.sampled_from([1.0, 2.0, 5.0]),
    st.lists(st.booleans(), max_size=200),
)
def test_two_vehicles_of_one_owner_in_any_interleaving_stay_within_one_budget(
    first: list[tuple[str, object]],
    second: list[tuple[str, object]],
    step_a: float,
    step_b: float,
    order: list[bool],
) -> None:
    """Each vehicle folds its own inputs in its time order; which vehicle goes next (another
    partition, another member, far ahead or behind in event time) is arbitrary. Each is decided
    with the contacts the other has made so far (what ``owner_contacts`` holds)."""
    queues = {VIN: _script(VIN, first, step_a), OTHER: _script(OTHER, second, step_b)}
    states = {v: VehicleJourney(v, "dealer-7") for v in queues}
    made: dict[str, list[int]] = {VIN: [], OTHER: []}
    picks = iter(order)
    while queues[VIN] or queues[OTHER]:
        vin = VIN if next(picks, True) else OTHER
        if not queues[vin]:
            vin = OTHER if vin == VIN else VIN
        item = queues[vin].pop(0)
        other = OTHER if vin == VIN else VIN
        out = step(states[vin], item, RULES, others=tuple(made[other]))
        made[vin] += [a.at_ms for a in out.alerts]
        # time passing: the vehicle's own ticks see the other's contacts as well
        tick = next_tick_ms(states[vin], RULES, tuple(made[other]))
        assert tick is None or tick > states[vin].as_of_ms
    assert_within_budget(made[VIN] + made[OTHER])


def two_vehicles() -> tuple[list[Input], dict[str, VehicleJourney]]:
    """Two vehicles of one owner, each with three alerts due at once on day 0, 10 and 20."""
    items: list[Input] = []
    for vin in (VIN, OTHER):
        items += [of(vin, c) for c in granted_all()]
        items += [of(vin, fault(0)), of(vin, warranty(10, 40)), of(vin, equity(20, 8000))]
    return items, {v: VehicleJourney(v, "dealer-7") for v in (VIN, OTHER)}


def decoded(items: list[Input]) -> Decoded:
    latest = max(input_ms(i) for i in items)
    return Decoded(tuple(items), (), {}, Counter(), {VIN: 0, OTHER: 1}, {0: latest, 1: latest})


def test_one_batch_holds_an_owners_two_vehicles_to_one_budget() -> None:
    items, states = two_vehicles()
    owners = Owners({VIN: OWNER, OTHER: OWNER}, frozenset({OWNER}))
    out = process_batch(decoded(items), states, RULES, owners=owners)
    assert_within_budget([a.at_ms for a in out.alerts])
    assert len(out.alerts) == 2  # the budget: day 0 (first VIN) and day 10
    assert out.owners == {VIN: OWNER, OTHER: OWNER}
    assert out.shared == {VIN, OTHER}
    suppressed = [e.detail for e in out.events if e.event == "suppressed"]
    assert CONTACT_BUDGET in suppressed or MIN_GAP in suppressed


def test_an_owner_of_one_vehicle_and_vehicles_without_owner_keep_their_own_budget() -> None:
    items, states = two_vehicles()
    alone = Owners({VIN: OWNER, OTHER: "owner-2"}, frozenset())
    out = process_batch(decoded(items), states, RULES, owners=alone)
    _, fresh = two_vehicles()
    plain = process_batch(decoded(items), fresh, RULES)
    per_vin = Counter(a.vin for a in out.alerts)
    assert per_vin == {VIN: 2, OTHER: 2}  # one budget each, as before owners
    assert [a.alert_id for a in out.alerts] == [a.alert_id for a in plain.alerts]
    assert out.shared == frozenset()


def test_stored_contacts_of_another_vehicle_count_and_free_the_held_alert_later() -> None:
    # the owner's other vehicle (another partition) was contacted on days 1 and 5
    stored = ((OTHER, ms(1)), (OTHER, ms(5)))
    owners = Owners({VIN: OWNER}, frozenset({OWNER}), {OWNER: stored})
    items: list[Input] = [*granted_all(), fault(3)]
    j = VehicleJourney(VIN, "dealer-7")
    out = process_batch(decoded(items), {VIN: j}, RULES, owners=owners)
    assert out.alerts == ()
    assert [e.detail for e in out.events if e.event == "suppressed"] == [CONTACT_BUDGET]
    assert others_contacts(VIN, owners, {VIN: j}) == (ms(1), ms(5))
    # its wake: when the day-1 contact leaves the window, the fault alert may go out
    assert out.wakes[VIN] == ms(1) + WINDOW
    later = process_batch(Decoded((), (), {}, Counter()), {VIN: j}, RULES, {VIN: ms(40)}, owners)
    raised: list[Alert] = list(later.alerts)
    assert [(a.alert_type, a.at_ms) for a in raised] == [("fault_active", ms(1) + WINDOW)]

"""The journey state machine: gates with hysteresis, staged warnings, one alert per episode and
stage, consent at every step, cooldown and contact budget, lapse, leaving the journey."""

from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st
from journey_kit import (
    VIN,
    at,
    consent,
    equity,
    fault,
    granted_all,
    service,
    sold,
    visit,
    warranty,
)

from processors.journey.machine import Input, StepOutput, input_ms, step
from processors.journey.rules import default_rules
from processors.journey.state import VehicleJourney

RULES = default_rules()
MS_PER_DAY = 86_400_000


def run(inputs: list[Input], j: VehicleJourney | None = None) -> tuple[VehicleJourney, StepOutput]:
    j = j if j is not None else VehicleJourney(VIN, "dealer-7")
    total = StepOutput()
    for n, item in enumerate(inputs):
        last = n + 1 == len(inputs) or input_ms(inputs[n + 1]) != input_ms(item)
        out = step(j, item, RULES, decide=last)
        total.events += out.events
        total.alerts += out.alerts
        total.changes += out.changes
    # the state survives its JSON round trip unchanged
    assert VehicleJourney.from_bytes(j.to_bytes()) == j
    return j, total


def test_warranty_ending_warns_in_stages_once_each() -> None:
    inputs: list[Input] = [*granted_all()]
    for day in range(0, 51):
        inputs.append(warranty(day, 50 - day))
    _, out = run(inputs)
    stages = [a.stage for a in out.alerts if a.alert_type == "warranty_ending"]
    assert stages == ["early", "near", "deadline"]
    first = out.alerts[0]
    assert first.purpose == "service" and first.dealer_id == "dealer-7"
    assert first.reason.startswith("Basic warranty ends on ")
    # 30 days of cover left: the coverage ends on the 31st day (not in force that day)
    assert "(in 31 days): the time limit binds." in first.reason
    assert {f.name for f in first.figures} >= {"expiry_date", "days_remaining"}
    assert first.alert_id == f"{first.episode_id}:early"


def test_no_consent_no_alert_and_a_suppression_noted_once() -> None:
    inputs: list[Input] = [warranty(day, 40 - day) for day in range(0, 30)]
    _, out = run(inputs)
    assert out.alerts == []
    suppressed = [e for e in out.events if e.event == "suppressed"]
    assert [e.detail for e in suppressed] == ["no_consent", "no_consent"]  # early, then near
    assert [e.event for e in out.events][:1] == ["entered"]


def test_withdrawal_hides_open_alerts_of_its_purpose_and_stops_new_ones() -> None:
    inputs: list[Input] = [*granted_all(), warranty(0, 20), equity(1, 5000.0)]
    j, out = run(inputs)
    assert {a.alert_type for a in out.alerts} == {"warranty_ending"}  # min gap holds equity
    _, out2 = run([consent(2, "service_reminders", False), warranty(3, 10)], j)
    assert [(c.action, c.alert.alert_type) for c in out2.changes] == [("hidden", "warranty_ending")]
    assert out2.alerts == []
    assert j.open_alerts == []


def test_sold_leaves_the_journey_hides_everything_and_gets_nothing() -> None:
    inputs: list[Input] = [*granted_all(), fault(0), sold(1), warranty(2, 5), fault(3, "P0300")]
    j, out = run(inputs)
    assert [a.alert_type for a in out.alerts] == ["fault_active"]
    assert [c.action for c in out.changes] == ["hidden"]
    assert j.left == "sold"
    assert "left" in [e.event for e in out.events]


def test_upgrade_window_outranks_its_parts() -> None:
    inputs: list[Input] = [
        *granted_all(),
        equity(0, 4000.0),  # 20 % of the value: covers a 10 % deposit
    ]
    _, out = run(inputs)
    assert [a.alert_type for a in out.alerts] == ["equity_positive"]
    j2, out2 = run([*granted_all(), equity(0, 4000.0), service(0, 60, bill=900.0)])
    assert [a.alert_type for a in out2.alerts] == ["upgrade_window"]
    assert "Several reasons" in out2.alerts[0].reason
    # the parts' stages are covered: nothing more for them in this episode, even much later
    # (the service falling due is not a part: it is warned on its own)
    _, later = run([service(20, 40, bill=900.0), equity(40, 4100.0)], j2)
    assert [a.alert_type for a in later.alerts] == ["service_due"]


def test_lapsed_owner_gets_one_gentle_alert_then_silence_until_a_visit() -> None:
    inputs: list[Input] = [*granted_all()]
    inputs += [service(day, 10 - day) for day in range(0, 200, 5)]
    inputs += [fault(150), warranty(160, 20)]
    j, out = run(inputs)
    lapsed = [a for a in out.alerts if a.alert_type == "lapsed"]
    assert len(lapsed) == 1 and lapsed[0].severity == "low"
    assert all(a.at_ms <= lapsed[0].at_ms for a in out.alerts)  # nothing after the lapse alert
    _, back = run([visit(205), service(206, 170)], j)
    assert [e.event for e in back.events if e.gate == "lapsed"] == ["exited"]


def test_a_visit_older_than_the_service_forecast_ends_no_lapse() -> None:
    """A visit read after newer signals (the service history behind a vehicle's first signals)
    is already behind the forecast: it closes no gate, so the lapse is not chased again."""
    inputs: list[Input] = [*granted_all()]
    inputs += [service(day, 10 - day) for day in range(0, 200, 5)]
    j, out = run(inputs)
    assert [a.alert_type for a in out.alerts].count("lapsed") == 1
    _, late = run([visit(-300), *[service(day, 10 - day) for day in range(200, 300, 5)]], j)
    assert [e.event for e in late.events if e.gate == "lapsed"] == []
    assert late.alerts == []


def test_big_bill_uses_the_amount_of_its_currency_only() -> None:
    _, usd = run([*granted_all(), service(0, 60, bill=700.0)])
    _, jpy = run([*granted_all(), service(0, 60, bill=70000.0, currency="JPY")])
    assert [a.alert_type for a in usd.alerts] == ["big_bill"]
    assert jpy.alerts == []


# --- properties ----------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-6.0, 6.0), min_size=10, max_size=60))
def test_a_forecast_wobbling_around_the_entry_threshold_does_not_flap(noise: list[float]) -> None:
    inputs: list[Input] = [*granted_all()]
    inputs += [warranty(day, 45 + n) for day, n in enumerate(noise)]
    _, out = run(inputs)
    transitions = [e.event for e in out.events if e.gate == "warranty_ending"]
    assert transitions.count("entered") <= 1
    assert transitions.count("exited") == 0


SCRIPT = st.lists(
    st.one_of(
        st.tuples(st.just("warranty"), st.floats(-10, 70)),
        st.tuples(st.just("service"), st.floats(-90, 60)),
        st.tuples(st.just("bill"), st.floats(100, 1500)),
        st.tuples(st.just("equity"), st.floats(-5000, 8000)),
        st.tuples(st.just("fault"), st.sampled_from(["raised", "cleared"])),
        st.tuples(st.just("visit"), st.just(0)),
        st.tuples(st.just("service_reminders"), st.booleans()),
        st.tuples(st.just("marketing_offers"), st.booleans()),
    ),
    min_size=1,
    max_size=80,
)


def _inputs(script: list[tuple[str, object]], step_days: float) -> list[Input]:
    out: list[Input] = []
    for n, (kind, value) in enumerate(script):
        day = n * step_days
        if kind == "warranty":
            out.append(warranty(day, float(value)))  # type: ignore[arg-type]
        elif kind == "service":
            out.append(service(day, float(value)))  # type: ignore[arg-type]
        elif kind == "bill":
            out.append(service(day, 40, bill=float(value)))  # type: ignore[arg-type]
        elif kind == "equity":
            out.append(equity(day, float(value)))  # type: ignore[arg-type]
        elif kind == "fault":
            out.append(fault(day, event=str(value)))
        elif kind == "visit":
            out.append(visit(day, n))
        else:
            out.append(consent(day, kind, bool(value)))
    return out


@settings(max_examples=150, deadline=None)
@given(SCRIPT, st.sampled_from([0.5, 1.0, 3.0, 7.0]))
def test_every_alert_respects_consent_budget_gap_and_is_one_per_episode_stage(
    script: list[tuple[str, object]], step_days: float
) -> None:
    j = VehicleJourney(VIN, "dealer-7")
    seen: set[str] = set()
    contacts: list[int] = []
    lapses = Counter[str]()
    for item in _inputs(script, step_days):
        out = step(j, item, RULES)
        for a in out.alerts:
            # consent at the alert's step
            need = "service_reminders" if a.purpose == "service" else "marketing_offers"
            assert j.granted(need), a
            assert a.alert_id not in seen  # one alert per episode and stage
            seen.add(a.alert_id)
            contacts.append(a.at_ms)
            if a.alert_type == "lapsed":
                lapses[a.episode_id] += 1
        assert len(out.alerts) <= 1
        # hidden alerts are those of a withdrawn purpose
        for c in out.changes:
            if c.action == "hidden":
                need = "service_reminders" if c.alert.purpose == "service" else "marketing_offers"
                assert not j.granted(need) or j.left is not None
        for still in j.open_alerts:
            need = "service_reminders" if still.purpose == "service" else "marketing_offers"
            assert j.granted(need)
    budget = RULES.contact
    window = budget.budget_window_days * MS_PER_DAY
    for i, t in enumerate(contacts):
        assert sum(1 for u in contacts[: i + 1] if u > t - window) <= budget.budget
        if i:
            assert t - contacts[i - 1] >= budget.min_days_between * MS_PER_DAY
    assert all(n == 1 for n in lapses.values())


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 30))
def test_a_lapse_yields_exactly_one_alert(step_days: int) -> None:
    inputs: list[Input] = [*granted_all()]
    inputs += [service(day, 10 - day) for day in range(0, 300, step_days)]
    _, out = run(inputs)
    assert [a.alert_type for a in out.alerts].count("lapsed") == 1


def test_a_consent_change_read_early_counts_from_its_time_and_keeps_the_clock() -> None:
    # Heard when made (before the signals of the days before it): a grant of day 10 does not
    # allow an alert on day 2; a withdrawal of day 10 stops alerts at once.
    j = VehicleJourney(VIN, "dealer-7")
    step(j, consent(-400, "service_reminders", True), RULES)
    step(j, equity(0, 100.0), RULES)
    step(j, consent(10, "marketing_offers", True), RULES)
    assert j.as_of_ms == int(at(0).timestamp() * 1000)
    early = step(j, equity(2, 9_000.0), RULES)
    assert [a.alert_type for a in early.alerts if a.purpose == "marketing"] == []
    later = step(j, equity(12, 9_000.0), RULES)
    assert [a.alert_type for a in later.alerts] == ["equity_positive"]
    step(j, consent(20, "service_reminders", False), RULES)
    assert not j.granted("service_reminders")
    assert j.as_of_ms == int(at(12).timestamp() * 1000)


def test_registry_consent_read_before_any_signal_keeps_an_owner_with_one_purpose() -> None:
    # The registry's consent at delivery comes first, while the vehicle has no clock yet: one
    # purpose withdrawn, another given (from its own time) is not "no consent at all".
    j = VehicleJourney(VIN, "dealer-7")
    out = step(j, consent(-400, "marketing_offers", True), RULES)
    out.events += step(j, consent(-400, "service_reminders", False), RULES).events
    assert j.left is None and j.as_of_ms == 0
    assert {e.at_ms for e in out.events} == {int(at(-400).timestamp() * 1000)}
    raised = step(j, equity(0, 9_000.0), RULES)
    assert [a.alert_type for a in raised.alerts] == ["equity_positive"]

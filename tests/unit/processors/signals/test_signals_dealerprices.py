"""A dealer's prices pooled over its customers' invoices in each partition: lines wait a week
before they count, a car with no invoice of its own is billed at its dealer's pooled level, and
the signals do not depend on how the records were cut into batches."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from signals_kit import FACTS, Rec

from processors.signals.calibration import PRIOR_LINES, PriceLevel, catalog_usd, level_in_force
from processors.signals.dates import MS_PER_DAY, datetime_to_ms
from processors.signals.dealerprices import LAG_DAYS, DealerPrices, PricedLines
from processors.signals.logic import Decoded
from processors.signals.memory import VehicleMemory
from processors.signals.partition import PartitionState
from processors.signals.pricing import pricing_for
from processors.signals.segments import process_records
from reference.catalog import default_catalog
from schemas.codec import FrameReadings
from schemas.services import ServiceItem, ServiceVisitRecord

CATALOG = default_catalog()
DAY = 20_000


def lines(day: int, dealer: str, n: int, log_sum: float) -> PricedLines:
    return PricedLines(day, dealer, n, log_sum)


def test_lines_join_the_pool_at_the_first_tick_more_than_a_week_after_their_visit() -> None:
    prices = DealerPrices().observed(
        [lines(DAY, "d1", 2, 0.2), lines(DAY + 3, "d2", 1, -0.1), lines(DAY, "d1", 1, 0.1)]
    )
    assert prices.at_tick(DAY + LAG_DAYS) == prices  # a week is not enough
    ticked = prices.at_tick(DAY + LAG_DAYS + 1)
    assert ticked.levels().get("d1") == PriceLevel(3, 0.3)
    assert ticked.levels().get("d2") is None and ticked.pending == (lines(DAY + 3, "d2", 1, -0.1),)
    later = ticked.at_tick(DAY + 30)
    assert later.levels() == {"d1": PriceLevel(3, 0.3), "d2": PriceLevel(1, -0.1)}
    assert later.pending == ()
    assert DealerPrices.from_json(later.as_json()) == later
    assert DealerPrices.from_json(prices.as_json()) == prices
    assert DealerPrices.from_json(None) == DealerPrices()


@pytest.mark.parametrize(
    "data",
    [{"dealers": []}, {"dealers": {"d": [1]}, "pending": []}, {"pending": [[1, "d", 1]]}, 7],
)
def test_a_damaged_state_is_a_value_error(data: object) -> None:
    with pytest.raises(ValueError, match="damaged dealer prices state"):
        DealerPrices.from_json(data)  # type: ignore[arg-type]


def test_a_partition_state_stored_before_pooling_reads_as_an_empty_pool() -> None:
    state = PartitionState().at_tick(DAY)
    old = {k: v for k, v in state.as_json().items() if k != "dealer_prices"}
    assert PartitionState.from_json(old) == state
    assert PartitionState.from_json(state.as_json()) == state


def test_the_pool_prices_a_bill_where_it_knows_more_than_the_car_s_own_invoices() -> None:
    own = PriceLevel(3, 0.3)
    assert level_in_force(own, None) is own
    assert level_in_force(own, PriceLevel(3, 0.6)) is own
    assert level_in_force(own, PriceLevel(30, 3.0)) == PriceLevel(30, 3.0)


# --- through the batches ----------------------------------------------------------------------

START = datetime(2026, 3, 2, 12, tzinfo=UTC)
DAYS = 16
DEAR = 1.3
"""The dealer charges 30 % above the catalog on every line."""
CUSTOMERS = 12


VINS = [f"VIN{i:014d}" for i in range(CUSTOMERS + 1)]
NEWCOMER = VINS[-1]
FACTS_OF = {vin: replace(FACTS, vin=vin) for vin in VINS}
PER_USD = pricing_for(FACTS, CATALOG).parts_factor


def dear_visit(vin: str, at: datetime) -> ServiceVisitRecord:
    item = ServiceItem("scheduled", None, "Scheduled service", 0.0)
    usd = catalog_usd(item, CATALOG, FACTS.powertrain)
    assert usd is not None
    amount = round(usd * PER_USD * DEAR, 2)
    return ServiceVisitRecord(
        f"inv-{vin}",
        vin,
        at,
        20_000_000,
        FACTS.dealer_id,
        FACTS.currency,
        (replace(item, amount=amount),),
    )


def stream() -> tuple[list[Rec], list[object]]:
    """A frame a day of every car; each customer's visit on day 1, three hours before its frame
    that day, read after it; the newcomer never visits."""
    records: list[Rec] = []
    items: list[object] = []
    offsets = {"f": 0, "s": 0}
    odo = dict.fromkeys(VINS, 22_000_000.0)
    for day in range(DAYS):
        at = datetime_to_ms(START + timedelta(days=day))
        for vin in VINS:
            odos = (round(odo[vin]), round(odo[vin] + 40_000.0))
            odo[vin] += 40_000.0
            items.append(FrameReadings(vin, (at, at + 1_800_000), odos, (None, None)))
            records.append(Rec("telemetry.frames", 0, offsets["f"]))
            offsets["f"] += 1
        if day == 1:
            for vin in VINS[:-1]:
                items.append(dear_visit(vin, START + timedelta(days=1, hours=-3)))
                records.append(Rec("vehicle.services", 0, offsets["s"]))
                offsets["s"] += 1
    return records, items


RECORDS, ITEMS = stream()


def fold(
    cuts: list[int], end: int = len(ITEMS)
) -> tuple[dict[str, bytes], list[str], dict[int, PartitionState]]:
    """Fold the first ``end`` records in batches cut at ``cuts``, as the runner does."""
    memories: dict[str, VehicleMemory | None] = {}
    ids: list[str] = []
    states: dict[int, PartitionState] = {}
    for a, b in itertools.pairwise([0, *sorted(c for c in set(cuts) if c < end), end]):
        batch = ITEMS[a:b]
        frames = [(i, x) for i, x in enumerate(batch) if isinstance(x, FrameReadings)]
        visits = [(i, x) for i, x in enumerate(batch) if isinstance(x, ServiceVisitRecord)]
        decoded = Decoded(
            tuple(x for _, x in frames),  # type: ignore[misc]
            tuple(x for _, x in visits),  # type: ignore[misc]
            (),
            {},
            frame_at=tuple(i for i, _ in frames),
            visit_at=tuple(i for i, _ in visits),
        )
        for seg in process_records(RECORDS[a:b], decoded, memories, FACTS_OF, CATALOG, states):
            memories.update(seg.outcome.memories)
            ids += [s.signal_id for s in seg.outcome.signals]
            states.update(seg.states)
    stored = {v: m.to_bytes() for v, m in memories.items() if m is not None}
    return stored, ids, states


WHOLE = fold([])


def test_a_car_with_no_invoice_is_billed_at_its_dealer_s_pooled_level() -> None:
    stored, _, states = WHOLE
    pool = states[0].prices.levels().get(FACTS.dealer_id)
    assert pool is not None and pool.lines == CUSTOMERS
    assert pool.factor == pytest.approx(math.exp(CUSTOMERS * math.log(DEAR) / (CUSTOMERS + 3)))
    newcomer = VehicleMemory.from_bytes(stored[NEWCOMER])
    assert newcomer.prices == PriceLevel()  # nothing of its own
    assert newcomer.dealer_prices == pool
    upkeep = newcomer.upkeep()
    assert upkeep.price_factor == pytest.approx(pool.factor)
    assert (upkeep.price_lines, upkeep.price_pooled) == (CUSTOMERS, True)  # said in its reason
    customer = VehicleMemory.from_bytes(stored[VINS[0]])
    assert customer.prices.lines == 1 and customer.unpooled == ()
    # one line of its own says less than its dealer's twelve
    own = math.exp(math.log(DEAR) / (1 + PRIOR_LINES))
    assert customer.upkeep().price_factor == pytest.approx(pool.factor) != pytest.approx(own)


def test_lines_join_their_dealer_s_pool_at_the_first_tick_more_than_a_week_later() -> None:
    visit_day = datetime_to_ms(START) // MS_PER_DAY + 1
    per_day = len(VINS)
    # the records up to the newcomer's last frame of the visit's day + 7: not pooled yet
    end = (visit_day - visit_day + 1 + LAG_DAYS + 1) * per_day + CUSTOMERS
    stored, _, states = fold([], end)
    assert states[0].shift.day == visit_day + LAG_DAYS
    assert states[0].prices.dealers == ()
    assert len(states[0].prices.pending) == CUSTOMERS  # handed over at each car's next frame
    assert VehicleMemory.from_bytes(stored[NEWCOMER]).dealer_prices is None
    assert VehicleMemory.from_bytes(stored[VINS[0]]).unpooled == ()
    # the next day's tick pools them
    stored, _, states = fold([], end + 1)
    assert states[0].shift.day == visit_day + LAG_DAYS + 1
    assert states[0].prices.pending == ()
    level = states[0].prices.levels().get(FACTS.dealer_id)
    assert level is not None and level.lines == CUSTOMERS


@settings(max_examples=5, deadline=None)
@given(st.lists(st.integers(1, len(ITEMS) - 1), max_size=10))
def test_the_signals_do_not_depend_on_how_batches_are_cut(cuts: list[int]) -> None:
    assert fold(cuts) == WHOLE


def test_a_frame_with_no_pool_in_force_prices_at_the_car_s_own_invoices() -> None:
    # a partition whose state was lost (deleted, or the topic repartitioned): the next frame's
    # forecast is at the newcomer's own prices (the catalog's), not at the pool it last used
    newcomer = VehicleMemory.from_bytes(WHOLE[0][NEWCOMER])
    assert newcomer.dealer_prices is not None
    at = datetime_to_ms(START + timedelta(days=DAYS + 1))
    assert newcomer.usage is not None
    odo = newcomer.usage.last_odometer_m
    frame = FrameReadings(NEWCOMER, (at, at + 60_000), (round(odo), round(odo) + 100), (None, None))
    decoded = Decoded((frame,), (), (), {}, frame_at=(0,))
    (segment,) = process_records(
        [Rec("telemetry.frames", 0, 10**6)], decoded, {NEWCOMER: newcomer}, FACTS_OF, CATALOG, {}
    )
    after = segment.outcome.memories[NEWCOMER]
    assert segment.outcome.evaluations == 1
    assert after.dealer_prices is None and after.upkeep().price_factor == 1.0
    (row,) = segment.outcome.vehicle_rows
    assert row.forecasts is not None
    reason = row.forecasts.service["items"][0]["reason"]
    assert reason.endswith("at the catalog's prices (no invoice from this dealer yet)"), reason

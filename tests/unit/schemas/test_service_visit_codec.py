"""The service-visit codec round-trips every visit and names bad bytes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.codec import CodecError
from schemas.services import ITEM_KINDS, ServiceItem, ServiceVisitCodec, ServiceVisitRecord

CODEC = ServiceVisitCodec()

items = st.builds(
    ServiceItem,
    kind=st.sampled_from(ITEM_KINDS),
    code=st.none() | st.sampled_from(["P0420", "brake_pads_front"]),
    description=st.text(max_size=20),
    amount=st.floats(min_value=0, max_value=10_000, allow_nan=False),
)
visits = st.builds(
    ServiceVisitRecord,
    visit_id=st.text(min_size=1, max_size=20),
    vin=st.text(alphabet="ABCDEFGHJKLMNPRSTUVWXYZ0123456789", min_size=17, max_size=17),
    # hypothesis takes naive bounds and attaches the zone itself
    visit_ts=st.datetimes(
        min_value=datetime(2000, 1, 1),  # noqa: DTZ001
        max_value=datetime(2100, 1, 1),  # noqa: DTZ001
        timezones=st.just(UTC),
    ).map(lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000)),
    odometer_m=st.integers(0, 2_000_000_000),
    dealer_id=st.text(min_size=1, max_size=10),
    currency=st.sampled_from(["USD", "EUR"]),
    items=st.lists(items, max_size=5).map(tuple),
)


@given(visits)
def test_a_visit_round_trips(visit: ServiceVisitRecord) -> None:
    assert CODEC.decode(CODEC.encode(visit)) == visit


def test_the_invoiced_amount_is_the_sum_of_the_items() -> None:
    visit = ServiceVisitRecord(
        "inv-1",
        "1HGCM82633A004352",
        datetime(2026, 1, 2, 9, tzinfo=UTC),
        42_000_000,
        "dealer-7",
        "USD",
        (
            ServiceItem("scheduled", None, "scheduled service", 260.0),
            ServiceItem("wear", "brake_pads_front", "front brake pads", 310.5),
            ServiceItem("repair", "P0420", "catalytic converter", 1304.0),
        ),
    )
    assert visit.invoiced_amount == 1874.5
    assert visit.covers("wear") == ("brake_pads_front",)
    assert visit.covers("repair") == ("P0420",)


def test_bad_bytes_are_a_codec_error() -> None:
    with pytest.raises(CodecError):
        CODEC.decode(b"\x02\xff")

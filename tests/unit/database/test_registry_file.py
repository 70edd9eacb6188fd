"""The registry file format: accepted rows, rejected rows with their line and reason, round trip."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from database.registry_file import (
    FIELDS,
    PURPOSES,
    Finance,
    RejectedRow,
    VehicleRecord,
    format_registry,
    parse_registry,
)

HEADER = ",".join(FIELDS)
GOOD = (
    "1HGCM82633A004352,Honda,Civic,2023,ice,2023-03-14,12.5,dealer-7,US,USD,loan,"
    "22000,6.9,60,2023-03-14,,true,false,,2023-03-14T10:00:00Z,31500.00,owner-1042"
)


def parse_csv(*lines: str) -> list[VehicleRecord | RejectedRow]:
    return list(parse_registry("\n".join((HEADER, *lines)) + "\n", json_lines=False))


def test_a_good_csv_row_is_accepted_with_units_converted() -> None:
    (record,) = parse_csv(GOOD)
    assert isinstance(record, VehicleRecord)
    assert record.delivery_odometer_m == 12_500
    assert record.finance == Finance(
        "loan", Decimal("22000"), Decimal("6.9"), 60, date(2023, 3, 14), Decimal(0)
    )
    assert record.consent == (("service_reminders", True), ("marketing_offers", False))
    assert record.consent_at == datetime(2023, 3, 14, 10, tzinfo=UTC)
    assert record.list_price == Decimal("31500.00")
    assert record.owner_id == "owner-1042"


def test_an_empty_owner_id_leaves_the_vehicle_its_own_owner() -> None:
    (csv_row,) = parse_csv(GOOD.replace(",owner-1042", ","))
    line = (
        '{"vin": "1HGCM82633A004352", "brand": "Honda", "model": "Civic", "model_year": 2023,'
        ' "powertrain": "ice", "delivery_date": "2023-03-14", "dealer_id": "d1", "owner_id": %s}\n'
    )
    named, empty, absent = parse_registry(
        line % '"crm:Jane.Doe@7"' + line % '""' + line % "null", json_lines=True
    )
    assert isinstance(csv_row, VehicleRecord) and csv_row.owner_id is None
    assert isinstance(named, VehicleRecord) and named.owner_id == "crm:Jane.Doe@7"
    assert isinstance(empty, VehicleRecord) and empty.owner_id is None
    assert isinstance(absent, VehicleRecord) and absent.owner_id is None


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (GOOD.replace("1HGCM82633A004352", "1HGCM82633A00435"), "vin"),
        (GOOD.replace(",ice,", ",diesel,"), "powertrain"),
        (GOOD.replace(",2023,", ",1850,"), "model_year"),
        (GOOD.replace("2023-03-14,12.5", "14/03/2023,12.5"), "delivery_date"),
        (GOOD.replace(",12.5,", ",-3,"), "delivery_odometer_km"),
        (GOOD.replace(",US,USD,", ",USA,USD,"), "market"),
        (GOOD.replace(",US,USD,", ",US,dollars,"), "currency"),
        (GOOD.replace(",loan,", ",barter,"), "finance_kind"),
        (GOOD.replace(",22000,", ",,"), "finance_amount"),
        (GOOD.replace(",60,", ",0,"), "finance_term_months"),
        (GOOD.replace(",true,false,", ",maybe,false,"), "consent_service_reminders"),
        (GOOD.replace("2023-03-14T10:00:00Z", "2023-03-14T10:00:00"), "consent_at"),
        (GOOD.replace(",dealer-7,", ",,"), "dealer_id"),
        (GOOD.replace(",31500.00", ",0"), "list_price"),
        (GOOD.replace(",31500.00", ",lots"), "list_price"),
        (GOOD + ",extra", "number of columns"),
        (GOOD.replace(",owner-1042", ",owner 1042"), "owner_id"),
        (GOOD.replace(",owner-1042", ",-owner"), "owner_id"),
        (GOOD.replace(",owner-1042", ",o" + "x" * 64), "owner_id"),
        (GOOD.replace(",owner-1042", ",propriétaire"), "owner_id"),
    ],
)
def test_a_bad_row_is_rejected_with_its_line_and_the_field_named(row: str, reason: str) -> None:
    results = parse_csv(GOOD, row, GOOD.replace("1HGCM82633A004352", "WVWZZZE12NP012345"))
    assert isinstance(results[0], VehicleRecord) and isinstance(results[2], VehicleRecord)
    rejected = results[1]
    assert isinstance(rejected, RejectedRow)
    assert rejected.line == 3
    assert reason in rejected.reason


def test_a_header_without_a_required_column_rejects_the_file_at_line_one() -> None:
    (rejected,) = parse_registry("vin,brand\n1HGCM82633A004352,Honda\n", json_lines=False)
    assert rejected == RejectedRow(1, "header lacks the column 'model'")


def test_json_lines_take_the_same_fields_and_name_bad_lines() -> None:
    text = (
        '{"vin": "1HGCM82633A004352", "brand": "Honda", "model": "Civic", "model_year": 2023,'
        ' "powertrain": "ice", "delivery_date": "2023-03-14", "dealer_id": "d1",'
        ' "consent_location": true}\n'
        "\n"
        "not json\n"
        "[1, 2]\n"
        '{"vin": "1HGCM82633A004352", "colour": "red"}\n'
    )
    good, bad_json, not_object, unknown = parse_registry(text, json_lines=True)
    assert isinstance(good, VehicleRecord)
    assert good.finance == Finance("cash") and good.market == "US" and good.currency == "USD"
    assert good.consent == (("location", True),)
    assert good.consent_at == datetime(2023, 3, 14, tzinfo=UTC)
    assert isinstance(bad_json, RejectedRow) and bad_json.line == 3
    assert not_object == RejectedRow(4, "not a JSON object")
    assert unknown == RejectedRow(5, "unknown field 'colour'")


def test_a_cash_row_with_finance_terms_is_rejected() -> None:
    row = GOOD.replace(",loan,", ",cash,")
    (rejected,) = parse_csv(row)
    assert isinstance(rejected, RejectedRow) and "cash" in rejected.reason


def test_a_balloon_at_least_the_amount_is_rejected() -> None:
    row = GOOD.replace(",2023-03-14,,true", ",2023-03-14,22000,true").replace(",loan,", ",pcp,")
    (rejected,) = parse_csv(row)
    assert isinstance(rejected, RejectedRow) and "finance_balloon" in rejected.reason


VINS = st.text(alphabet="ABCDEFGHJKLMNPRSTUVWXYZ0123456789", min_size=17, max_size=17)
MONEY = st.decimals(min_value=1, max_value=200_000, places=2)


@st.composite
def records(draw: st.DrawFn) -> VehicleRecord:
    delivery = draw(st.dates(min_value=date(2015, 1, 1), max_value=date(2026, 1, 1)))
    kind = draw(st.sampled_from(["cash", "loan", "lease", "pcp"]))
    if kind == "cash":
        finance = Finance("cash")
    else:
        amount = draw(MONEY)
        balloon = draw(st.decimals(min_value=0, max_value=amount - 1, places=2))
        finance = Finance(
            kind,
            amount,
            draw(st.decimals(min_value=0, max_value=30, places=3)),
            draw(st.integers(1, 120)),
            delivery,
            balloon,
        )
    consent = tuple((p, draw(st.booleans())) for p in PURPOSES if draw(st.booleans()))
    return VehicleRecord(
        vin=draw(VINS),
        brand=draw(st.sampled_from(["Toyota", "Kia", "BMW"])),
        model=draw(st.sampled_from(["Camry", "EV6", 'i4, "M50"'])),
        model_year=draw(st.integers(2015, 2026)),
        powertrain=draw(st.sampled_from(["ice", "hybrid", "ev"])),
        delivery_date=delivery,
        delivery_odometer_m=draw(st.integers(0, 500_000)) * 10,
        dealer_id=draw(st.sampled_from(["d1", "dealer-7"])),
        market=draw(st.sampled_from(["US", "GB", "DE"])),
        currency=draw(st.sampled_from(["USD", "GBP", "EUR"])),
        finance=finance,
        consent=consent,
        consent_at=datetime(2024, 5, 1, 9, 30, tzinfo=UTC),
        list_price=draw(st.none() | MONEY),
        owner_id=draw(
            st.none() | st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:@-]{0,63}", fullmatch=True)
        ),
    )


@given(st.lists(records(), max_size=5), st.booleans())
def test_what_is_written_reads_back_unchanged(rows: list[VehicleRecord], json_lines: bool) -> None:
    text = format_registry(rows, json_lines=json_lines)
    parsed = list(parse_registry(text, json_lines=json_lines))
    expected = [
        r
        if r.consent
        else VehicleRecord(**{**_fields(r), "consent_at": _midnight(r.delivery_date)})
        for r in rows
    ]
    assert parsed == expected


def _fields(r: VehicleRecord) -> dict[str, object]:
    return {name: getattr(r, name) for name in VehicleRecord.__slots__}


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)

"""The service-visits file: accepted visits in both forms, rejected rows with line and reason."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from kernel.rowfile import RejectedRow
from schemas.services import ServiceItem, ServiceVisitCodec, ServiceVisitRecord
from schemas.services_file import FIELDS, parse_services

HEADER = ",".join(FIELDS)
ITEMS = "scheduled::260;wear:brake_pads_front:212.5:Front pads;repair:P0420:1304.00"
GOOD = f"V-1,1HGCM82633A004352,2026-02-14T09:30:00+01:00,23456.7,DLR-001,USD,{ITEMS}"
NOW = datetime(2026, 3, 1, tzinfo=UTC)
EXPECTED = ServiceVisitRecord(
    visit_id="V-1",
    vin="1HGCM82633A004352",
    visit_ts=datetime(2026, 2, 14, 8, 30, tzinfo=UTC),
    odometer_m=23_456_700,
    dealer_id="DLR-001",
    currency="USD",
    items=(
        ServiceItem("scheduled", None, "scheduled service", 260.0),
        ServiceItem("wear", "brake_pads_front", "Front pads", 212.5),
        ServiceItem("repair", "P0420", "P0420", 1304.0),
    ),
)


def csv_rows(*rows: str) -> list[ServiceVisitRecord | RejectedRow]:
    return list(parse_services("\n".join((HEADER, *rows)) + "\n", json_lines=False, now=NOW))


def json_row(**changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "visit_id": "V-1",
        "vin": "1HGCM82633A004352",
        "visit_ts": "2026-02-14T08:30:00Z",
        "odometer_km": 23456.7,
        "dealer_id": "DLR-001",
        "currency": "USD",
        "items": [
            {"kind": "scheduled", "amount": 260},
            {
                "kind": "wear",
                "code": "brake_pads_front",
                "description": "Front pads",
                "amount": 212.5,
            },
            {"kind": "repair", "code": "P0420", "amount": 1304},
        ],
    }
    row.update(changes)
    return {k: v for k, v in row.items() if v is not ...}


def jsonl(*rows: dict[str, Any] | str) -> list[ServiceVisitRecord | RejectedRow]:
    text = "\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows)
    return list(parse_services(text, json_lines=True, now=NOW))


def test_a_csv_row_with_compact_items_is_accepted_in_utc_and_metres() -> None:
    assert csv_rows(GOOD) == [EXPECTED]


def test_the_same_visit_as_a_json_line_and_with_json_items_in_csv() -> None:
    assert jsonl(json_row()) == [EXPECTED]
    assert jsonl(json_row(items=ITEMS)) == [EXPECTED]
    items = json.dumps(json_row()["items"]).replace('"', '""')
    row = GOOD.replace(ITEMS, f'"{items}"')
    assert csv_rows(row) == [EXPECTED]


def test_accepted_visits_encode_on_the_topic_contract() -> None:
    (visit,) = csv_rows(GOOD)
    assert isinstance(visit, ServiceVisitRecord)
    codec = ServiceVisitCodec()
    assert codec.decode(codec.encode(visit)) == visit
    assert visit.invoiced_amount == 1776.5


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (GOOD.replace("1HGCM82633A004352", "1HGCM82633A00435"), "vin"),
        (GOOD.replace("1HGCM82633A004352", "1HGCM82633AO04352"), "vin"),
        (GOOD.replace("2026-02-14T09:30:00+01:00", "2026-02-14T09:30:00"), "no time zone"),
        (GOOD.replace("2026-02-14T09:30:00+01:00", "14/02/2026"), "visit_ts"),
        (GOOD.replace("2026-02-14T09:30:00+01:00", "2027-01-01T00:00:00Z"), "in the future"),
        (GOOD.replace("23456.7", "-5"), "odometer_km"),
        (GOOD.replace("23456.7", "lots"), "odometer_km"),
        (GOOD.replace("23456.7", "nan"), "odometer_km"),
        (GOOD.replace(",USD,", ",usd,"), "currency"),
        (GOOD.replace(",DLR-001,", ",,"), "dealer_id is missing"),
        (GOOD.replace("V-1,", ","), "visit_id is missing"),
        (GOOD.replace(ITEMS, ""), "items is missing"),
        (GOOD.replace(ITEMS, "scheduled::260;tyres::700"), "item 2: kind 'tyres'"),
        (GOOD.replace(ITEMS, "scheduled::260;wear::80"), "item 2: a wear item names its id"),
        (GOOD.replace(ITEMS, "wear:Brake Pads:80"), "item 1: a wear item names its id"),
        (GOOD.replace(ITEMS, "repair:P04X0:100"), "item 1: a repair names its DTC"),
        (GOOD.replace(ITEMS, "repair::100"), "item 1: a repair names its DTC"),
        (GOOD.replace(ITEMS, "scheduled::-1"), "item 1: amount"),
        (GOOD.replace(ITEMS, "scheduled::1e9"), "item 1: amount"),
        (GOOD.replace(ITEMS, "scheduled::"), "item 1: amount is missing"),
        (GOOD.replace(ITEMS, "scheduled:260"), "item 1 'scheduled:260' is not kind:code:amount"),
        (GOOD.replace(ITEMS, '"[1, 2]"'), "item 1 is not an object"),
        (GOOD.replace(ITEMS, '"[{""kind"": ""other"", ""amount"": 5, ""x"": 1}]"'), "unknown"),
        (GOOD.replace(ITEMS, '"[oops"'), "items is not a JSON array"),
        (GOOD.replace(ITEMS, '"[]"'), "items is empty"),
        (GOOD + ",extra", "different number of columns"),
    ],
)
def test_a_bad_csv_row_is_rejected_with_its_line_and_reason(row: str, reason: str) -> None:
    result = csv_rows(GOOD.replace("V-1", "V-0"), row)
    assert isinstance(result[0], ServiceVisitRecord)
    assert isinstance(result[1], RejectedRow), result[1]
    assert result[1].line == 3
    assert reason in result[1].reason


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("{not json", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        (json_row(odometer_km=True), "odometer_km"),
        (json_row(vin=12345678901234567), "vin must be text"),
        (json_row(items={"kind": "scheduled"}), "items must be a JSON array"),
        (json_row(items=[{"kind": "scheduled", "code": 5, "amount": 1}]), "code must be text"),
        (json_row(items=[{"kind": "other", "amount": "ten"}]), "item 1: amount"),
        (json_row(garage="x"), "unknown field 'garage'"),
        (json_row(currency=...), "currency is missing"),
    ],
)
def test_a_bad_json_line_is_rejected_with_its_line_and_reason(
    row: dict[str, Any] | str, reason: str
) -> None:
    result = jsonl(json_row(visit_id="first"), "", row)
    assert isinstance(result[0], ServiceVisitRecord)
    rejected = result[1]
    assert isinstance(rejected, RejectedRow), rejected
    assert rejected.line == 3
    assert reason in rejected.reason


def test_a_repeated_visit_id_rejects_the_later_row() -> None:
    result = csv_rows(GOOD, GOOD.replace("DLR-001", "DLR-002"))
    assert result[0] == EXPECTED
    assert result[1] == RejectedRow(3, "visit_id 'V-1' repeats line 2")


def test_a_header_without_a_column_rejects_the_file_at_line_1() -> None:
    text = HEADER.replace(",items", "") + "\n" + GOOD.rsplit(",", 1)[0] + "\n"
    assert list(parse_services(text, json_lines=False)) == [
        RejectedRow(1, "header lacks the column 'items'")
    ]


def test_the_documented_example_reads_the_same_in_both_forms() -> None:
    doc = (Path(__file__).parents[3] / "docs" / "services.md").read_text()
    csv_text = doc.split("```csv\n", 1)[1].split("```", 1)[0]
    json_text = doc.split("```json\n", 1)[1].split("```", 1)[0]
    from_csv = list(parse_services(csv_text, json_lines=False, now=NOW))
    assert len(from_csv) == 2 and all(isinstance(v, ServiceVisitRecord) for v in from_csv)
    assert list(parse_services(json_text, json_lines=True, now=NOW)) == from_csv

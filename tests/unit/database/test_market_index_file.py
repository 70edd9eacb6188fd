"""The market value index file: accepted rows, and each rejected row's line and reason."""

from __future__ import annotations

from datetime import date

import pytest

from database.market_index import MarketIndex, parse_market_index
from kernel.rowfile import RejectedRow

HEADER = "market,as_of,factor,source\n"


def parsed(text: str, *, json_lines: bool = False) -> list[MarketIndex | RejectedRow]:
    return list(parse_market_index(text, json_lines=json_lines))


def test_csv_and_json_lines_give_the_same_indices() -> None:
    csv = HEADER + "US,2026-06-01,0.93,auction index\nGB,2026-05-01,1.04,trade guide\n"
    lines = (
        '{"market": "US", "as_of": "2026-06-01", "factor": 0.93, "source": "auction index"}\n'
        '{"market": "GB", "as_of": "2026-05-01", "factor": "1.04", "source": "trade guide"}\n'
    )
    expected = [
        MarketIndex("US", date(2026, 6, 1), 0.93, "auction index"),
        MarketIndex("GB", date(2026, 5, 1), 1.04, "trade guide"),
    ]
    assert parsed(csv) == expected
    assert parsed(lines, json_lines=True) == expected


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("us,2026-06-01,0.93,x", "market 'us'"),
        ("US,01/06/2026,0.93,x", "as_of '01/06/2026'"),
        ("US,2026-06-01,0,x", "factor '0'"),
        ("US,2026-06-01,7.5,x", "factor '7.5'"),
        ("US,2026-06-01,cheap,x", "factor 'cheap'"),
        ("US,2026-06-01,nan,x", "factor 'nan'"),
        ("US,2026-06-01,0.93,", "source is empty"),
    ],
)
def test_a_bad_row_is_rejected_with_its_line_and_first_problem(row: str, reason: str) -> None:
    good = "GB,2026-05-01,1.04,trade guide\n"
    result = parsed(HEADER + good + row + "\n")
    assert result[0] == MarketIndex("GB", date(2026, 5, 1), 1.04, "trade guide")
    rejected = result[1]
    assert isinstance(rejected, RejectedRow) and rejected.line == 3
    assert rejected.reason.startswith(reason)


def test_a_header_without_a_column_or_a_line_with_an_unknown_field_is_rejected() -> None:
    assert parsed("market,as_of,factor\nUS,2026-06-01,0.9\n") == [
        RejectedRow(1, "header lacks the column 'source'")
    ]
    line = '{"market": "US", "as_of": "2026-06-01", "factor": 0.9, "source": "x", "k": 1}\n'
    assert parsed(line, json_lines=True) == [RejectedRow(1, "unknown field 'k'")]
    assert parsed(
        '{"market": "US", "as_of": "2026-06-01", "factor": true, "source": "x"}\n', json_lines=True
    )[0] == RejectedRow(1, "factor True: a number from 0.2 to 5.0")

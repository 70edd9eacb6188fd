"""Stream event ids and the stream's window (pure): ids round-trip exactly and refuse page
cursors; the window reads again over the overlap, leaves out what it sent, and its ids only grow."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dealers.cursor import (
    BadCursor,
    decode_cursor,
    decode_event_id,
    encode_cursor,
    encode_event_id,
)
from dealers.stream import StreamOptions, Window

T = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
OVERLAP = timedelta(seconds=5)


def test_event_ids_round_trip_to_the_microsecond() -> None:
    for at, alert_id in ((T, "VIN:service_due:1:early"), (T - timedelta(days=20000), ""),
                         (T, "ü/\"quoted\"\n")):  # fmt: skip
        token = encode_event_id(at, alert_id)
        assert token.isascii() and "=" not in token and "\n" not in token
        assert decode_event_id(token) == (at, alert_id)


def test_event_ids_and_page_cursors_are_not_interchangeable() -> None:
    cursor = encode_cursor(T, "A-1")
    event_id = encode_event_id(T, "A-1")
    assert decode_cursor(cursor) == (T, "A-1")
    with pytest.raises(BadCursor):
        decode_event_id(cursor)
    with pytest.raises(BadCursor):
        decode_cursor(event_id)


@pytest.mark.parametrize(
    "text",
    ["", "x", "%%%", "garbage", "é", "A" * 2000,
     encode_cursor(T, "A")[:-3],
     "WyJzIiwxLjUsIkEiXQ",  # ["s",1.5,"A"]
     "WyJzIiwxMDAwMDAwMDAwMDAwMDAwMDAwMCwiQSJd",  # a time out of range
     "WyJ4IiwxLCJBIl0"],  # ["x",1,"A"]
)  # fmt: skip
def test_anything_else_is_refused(text: str) -> None:
    with pytest.raises(BadCursor):
        decode_event_id(text)


def test_positions_no_store_can_hold_are_refused() -> None:
    """An alert id with NUL (not storable in PostgreSQL: its error was a 500) and an event id
    before the epoch (the stream's overlap taken from Python's first day overflowed)."""
    for encode, decode in ((encode_cursor, decode_cursor), (encode_event_id, decode_event_id)):
        with pytest.raises(BadCursor):
            decode(encode(T, "A-\x00"))
    first_day = datetime(1, 1, 1, tzinfo=UTC)
    assert decode_cursor(encode_cursor(first_day, "A")) == (first_day, "A")
    with pytest.raises(BadCursor):
        decode_event_id(encode_event_id(first_day, "A"))


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        encode_event_id(datetime(2026, 3, 1), "A")  # noqa: DTZ001


def test_a_resumed_window_reads_strictly_after_its_position() -> None:
    w = Window.after((T, "A-1"), OVERLAP)
    assert w.lower() == (T, "A-1") and w.exclude() == []
    w.add(T + timedelta(seconds=1), "A-2")
    assert w.lower() == (T, "A-1")  # never below where it started
    w.add(T + timedelta(seconds=10), "A-3")
    assert w.lower() == (T + timedelta(seconds=5), "")
    assert w.exclude() == ["A-3"]  # A-2 is below the window now


def test_a_window_from_now_leaves_out_what_was_committed_before() -> None:
    known = {"old": T - timedelta(seconds=60), "recent": T - timedelta(seconds=2)}
    w = Window.from_now(T, known, OVERLAP)
    assert w.lower() == (T - OVERLAP, "")
    assert w.exclude() == ["recent"]


def test_event_ids_stand_for_the_greatest_position_sent() -> None:
    w = Window.after((T, ""), OVERLAP)
    later = w.add(T + timedelta(seconds=3), "B")
    late = w.add(T + timedelta(seconds=1), "A")  # committed late, stored before B
    assert late == later
    assert decode_event_id(late) == (T + timedelta(seconds=3), "B")
    assert sorted(w.exclude()) == ["A", "B"]


def test_stream_options_are_checked() -> None:
    for bad in ({"poll_s": 0}, {"keepalive_s": -1}, {"overlap_s": -0.1}, {"batch": 0}):
        with pytest.raises(ValueError):
            StreamOptions(**bad)  # type: ignore[arg-type]

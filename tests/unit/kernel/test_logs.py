"""Stage logs: JSON lines with UTC times, and repeats of one kind held back with a count."""

from __future__ import annotations

import json
import logging
import sys

from kernel.logs import JsonFormatter, RepeatFilter, TextFormatter


def _record(
    msg: str, *args: object, level: int = logging.ERROR, name: str = "aiokafka"
) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, args, None)


class _Clock:
    def __init__(self) -> None:
        self.now_s = 0.0

    def __call__(self) -> float:
        return self.now_s


def test_the_first_of_a_kind_passes_then_one_per_interval_with_the_count_held_back() -> None:
    clock = _Clock()
    repeats = RepeatFilter(10.0, clock=clock)
    shown = []
    for n in range(600):  # 60 a second for 10 s, as aiokafka during an outage
        clock.now_s = n / 60
        record = _record("Unable connect to node with id %s: %s", 111, "refused")
        if repeats.filter(record):
            shown.append(record.getMessage())
    clock.now_s = 10.0
    last = _record("Unable connect to node with id %s: %s", 111, "refused")
    assert repeats.filter(last)
    assert shown == ["Unable connect to node with id 111: refused"]
    assert last.getMessage() == (
        "Unable connect to node with id 111: refused [599 more like this held back in 10 s]"
    )


def test_kinds_are_counted_apart_and_info_always_passes() -> None:
    repeats = RepeatFilter(10.0, clock=_Clock())
    assert repeats.filter(_record("a %s", 1))
    assert repeats.filter(_record("b %s", 1))
    assert repeats.filter(_record("a %s", 1, name="journeygate.store"))
    assert not repeats.filter(_record("a %s", 2))
    assert all(repeats.filter(_record("batch %s", n, level=logging.INFO)) for n in range(50))


def test_json_lines_carry_utc_time_level_logger_message_and_exception() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord(
            "journeygate.store", logging.ERROR, __file__, 1, "failed %d", (3,), sys.exc_info()
        )
    record.created = 1772366400.25  # 2026-03-01T12:00:00.250Z
    doc = json.loads(JsonFormatter().format(record))
    assert doc["time"] == "2026-03-01T12:00:00.250Z"
    assert doc["level"] == "ERROR" and doc["logger"] == "journeygate.store"
    assert doc["message"] == "failed 3"
    assert "ValueError: boom" in doc["exception"] and "Traceback" in doc["exception"]
    plain = _record("no exception")
    assert "exception" not in json.loads(JsonFormatter().format(plain))


def test_text_lines_are_in_utc_too() -> None:
    record = _record("hello")
    record.created = 1772366400.0
    assert TextFormatter().format(record) == "2026-03-01T12:00:00.000Z ERROR aiokafka: hello"

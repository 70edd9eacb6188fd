"""The inbox page's pure parts: the odometer chart's series and forecast, the warranty timeline,
the bill, the list's filters in a URL, session tokens, and the rate limiter's buckets per client
address (forgotten once full)."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from dealers import ratelimit
from dealers.inbox import Filters
from dealers.ratelimit import RateLimiter
from dealers.sessions import hash_token, looks_like_token, new_token, same_token
from dealers.vehicle_view import bill_of, chart_series, usage_of, warranty_rows

AS_OF = datetime(2026, 2, 28, 18, tzinfo=UTC)
USAGE = {"km_per_day": 40.0, "daily_sd_km": 15.0, "km_per_day_sd": 2.0}


def state(**extra: Any) -> dict[str, Any]:
    return {"as_of_ts": AS_OF, "predicted_as_of_ts": AS_OF, "odometer_m": 42_000_000,
            "usage": dict(USAGE), **extra}  # fmt: skip


def test_the_chart_aligns_daily_readings_and_the_forecast_on_one_axis() -> None:
    assert chart_series([], None) is None
    assert chart_series([], {"usage": None}) is None
    days = [(date(2026, 2, 27), 41_960_000), (date(2026, 2, 28), 42_000_000)]
    only_history = chart_series(days, None)
    assert only_history is not None
    assert only_history["x"] == [1_772_150_400, 1_772_236_800]  # 00:00 UTC of each day
    assert only_history["odometer_km"] == [41_960.0, 42_000.0]
    assert only_history["p50_km"] == [None, None]

    chart = chart_series(days, state(), horizon_days=30)
    assert chart is not None
    assert len(chart["x"]) == 2 + 31 and chart["x"] == sorted(set(chart["x"]))
    ahead = [i for i, v in enumerate(chart["p50_km"]) if v is not None]
    assert len(ahead) == 31
    first, last = ahead[0], ahead[-1]
    assert chart["x"][first] == int(AS_OF.timestamp())
    assert chart["p10_km"][first] == chart["p50_km"][first] == chart["p90_km"][first] == 42_000
    assert chart["p50_km"][last] == pytest.approx(42_000 + 40 * 30, abs=0.1)
    assert chart["p10_km"][last] < chart["p50_km"][last] < chart["p90_km"][last]
    assert all(chart["odometer_km"][i] is None for i in ahead)


def test_usage_needs_every_figure_finite_and_not_negative() -> None:
    assert usage_of(state()) is not None
    for bad in ({}, {**USAGE, "km_per_day": None}, {**USAGE, "daily_sd_km": -1.0},
                {**USAGE, "km_per_day_sd": float("nan")}, "40"):  # fmt: skip
        assert usage_of({"usage": bad}) is None


def coverage(**fields: Any) -> dict[str, Any]:
    return {"coverage": "traction_battery", "expiry_p10": "2027-01-01",
            "expiry_p50": "2027-02-01", "expiry_p90": "2027-03-01", "binds": "time",
            "days_remaining": 338, "km_remaining": 4000.0, "expired": False,
            "time_end": "2027-02-01", "limit_km": 46000.0, **fields}  # fmt: skip


def test_the_warranty_timeline_dates_the_distance_limit() -> None:
    rows = warranty_rows(
        [coverage(), coverage(binds="distance", expiry_p50="2026-05-01"),
         coverage(limit_km=None, km_remaining=None), coverage(km_remaining=0.0, expired=True),
         "not a coverage"],
        "2023-04-01",
        state(),
    )  # fmt: skip
    assert len(rows) == 4
    by_time, by_distance, unlimited, reached = rows
    assert by_time.coverage == "traction battery" and by_time.start == "2023-04-01"
    # the median of the time to drive 4,000 km at 40 km a day: 100 days after the as-of time
    assert by_time.distance_date == (AS_OF + timedelta(days=100)).date().isoformat()
    assert by_time.limit_km == 46000.0 and by_time.days_remaining == 338
    assert by_distance.distance_date == "2026-05-01"
    assert (unlimited.distance_date, unlimited.distance_note) == (None, "unlimited")
    assert unlimited.limit_km is None
    assert (reached.distance_note, reached.expired) == ("reached", True)
    no_usage = warranty_rows([coverage()], "2023-04-01", state(usage=None))
    assert no_usage[0].distance_note == "not forecast"
    standing = warranty_rows([coverage()], "2023-04-01", state(usage={**USAGE, "km_per_day": 0}))
    assert standing[0].distance_note == "not forecast"
    assert warranty_rows(None, "2023-04-01", None) == []


def test_the_bill_reads_its_lines_and_tolerates_missing_fields() -> None:
    assert bill_of(None) is None and bill_of([]) is None
    bill = bill_of(
        {"currency": "EUR", "bill_low": 100.0, "bill_expected": 120.5, "bill_high": 150.0,
         "due_p50": "2026-04-02", "binds": "time",
         "items": [{"kind": "repair", "code": "P0420", "description": "Catalyst",
                    "low": 0.0, "expected": 0.0, "high": 0.0, "covered": True,
                    "coverage": "powertrain", "reason": "code active"},
                   {"description": "Wipers"}, None]}
    )  # fmt: skip
    assert bill is not None
    assert (bill.currency, bill.expected, bill.due_p10, bill.binds) == ("EUR", 120.5, None, "time")
    assert [line.description for line in bill.lines] == ["Catalyst", "Wipers"]
    assert bill.lines[0].covered and bill.lines[0].code == "P0420"
    assert bill.lines[1].expected is None and not bill.lines[1].covered


def test_the_filters_go_back_into_the_url_without_their_defaults() -> None:
    assert Filters.of([]).url() == "/inbox"
    assert Filters.of([("state", "new"), ("state", "acknowledged")]).url() == "/inbox"
    f = Filters.of([("type", " service_due "), ("state", "expired"), ("state", "hidden"),
                    ("state", "new"), ("vehicle", "1hgcm82633a000001"), ("csrf", "x")])  # fmt: skip
    assert f == Filters("service_due", ("new", "expired"), "1HGCM82633A000001")
    assert f.url() == "/inbox?type=service_due&state=new&state=expired&vehicle=1HGCM82633A000001"
    assert Filters.of([("state", "hidden")]).states == ("new", "acknowledged")
    odd = Filters.of([("type", "a&b=<c>"), ("vehicle", "")])
    assert odd.url() == "/inbox?type=a%26b%3D%3Cc%3E" and odd.vin is None


def test_session_tokens_are_random_and_stored_as_sha256() -> None:
    tokens = {new_token() for _ in range(200)}
    assert len(tokens) == 200 and all(looks_like_token(t) for t in tokens)
    token = tokens.pop()
    assert hash_token(token) == hashlib.sha256(token.encode()).digest()
    assert same_token(token, token) and not same_token(token, new_token())
    for bad in ("", "x" * 42, "x" * 44, "jg_" + "x" * 43, "x" * 42 + "!", "x" * 42 + "\x00"):
        assert not looks_like_token(bad)


def test_the_limiter_counts_client_addresses_and_forgets_full_buckets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [0.0]
    limiter = RateLimiter(1.0, 2, clock=lambda: now[0])
    login = ("sign-in", "192.0.2.1")
    assert [limiter.take(login) for _ in range(3)] == [0.0, 0.0, 1.0]
    assert limiter.take(7) == 0.0  # a key id has its own bucket
    monkeypatch.setattr(ratelimit, "_PRUNE_AT", 2)
    now[0] = 0.5
    limiter.take(("sign-in", "192.0.2.2"))  # none has refilled yet: all kept
    assert len(limiter._buckets) == 3
    now[0] = 10.0
    limiter.take(("sign-in", "192.0.2.3"))  # every older bucket has refilled: forgotten
    assert list(limiter._buckets) == [("sign-in", "192.0.2.3")]
    assert limiter.take(login) == 0.0

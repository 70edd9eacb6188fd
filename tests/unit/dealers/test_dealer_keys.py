"""Dealer API keys, page cursors and the rate limiter, without I/O."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone

import pytest

from dealers.cursor import BadCursor, decode_cursor, encode_cursor
from dealers.keys import (
    PREFIX,
    generate_key,
    hash_key,
    looks_like_key,
    same_hash,
    valid_dealer_id,
)
from dealers.ratelimit import RateLimiter


def test_a_key_has_the_prefix_and_32_random_bytes() -> None:
    keys = {generate_key() for _ in range(500)}
    assert len(keys) == 500
    for key in keys:
        assert key.startswith(PREFIX) and PREFIX == "jg_"
        assert len(key) == 3 + 43
        assert looks_like_key(key)
    # every position of the random part varies (no fixed or counter-like part)
    for i in range(3, 46):
        assert len({k[i] for k in keys}) > 8


def test_the_hash_is_sha256_of_the_key_and_compares_in_constant_time() -> None:
    key = generate_key()
    digest = hash_key(key)
    assert digest == hashlib.sha256(key.encode()).digest()
    assert len(digest) == 32
    assert same_hash(digest, hash_key(key))
    assert not same_hash(digest, hash_key(generate_key()))


@pytest.mark.parametrize(
    "text",
    ["", "jg_", "jg_short", "xx_" + "a" * 43, "jg_" + "a" * 42, "jg_" + "a" * 44,
     "jg_" + "a" * 42 + "=", "jg_" + "a" * 42 + " ", "Bearer jg_" + "a" * 43],
)  # fmt: skip
def test_text_without_the_shape_of_a_key_is_refused(text: str) -> None:
    assert not looks_like_key(text)


@pytest.mark.parametrize(
    ("text", "ok"),
    [("DLR-1", True), ("dealer_9.x", True), ("", False), ("-x", False), ("a b", False),
     ("x" * 64, True), ("x" * 65, False), ("DLR-1'; --", False)],
)  # fmt: skip
def test_dealer_ids(text: str, ok: bool) -> None:
    assert valid_dealer_id(text) is ok


def test_a_cursor_round_trips_to_the_microsecond_in_any_zone() -> None:
    ts = datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=UTC)
    for at in (ts, ts.astimezone(timezone(timedelta(hours=-5)))):
        cursor = encode_cursor(at, "1HGCM82633A004352:service_due:17:early")
        assert "=" not in cursor and "|" not in cursor
        created, alert_id = decode_cursor(cursor)
        assert created == ts and created.tzinfo is not None
        assert alert_id == "1HGCM82633A004352:service_due:17:early"


def test_a_cursor_needs_an_aware_time() -> None:
    with pytest.raises(ValueError):
        encode_cursor(datetime(2026, 3, 1), "a")  # noqa: DTZ001


@pytest.mark.parametrize(
    "text",
    ["", "!!!", "bm90IGpzb24", "WzEsMl0", "WyJhIiwiYiJd", "W3RydWUsImEiXQ", "e30", "x" * 2000,
     "WzFlMzAwLCJhIl0"],
)  # fmt: skip
def test_anything_else_is_a_bad_cursor(text: str) -> None:
    with pytest.raises(BadCursor):
        decode_cursor(text)


def test_the_bucket_allows_a_burst_then_refills_at_the_rate() -> None:
    now = [100.0]
    limiter = RateLimiter(rate=2.0, burst=3, clock=lambda: now[0])
    assert [limiter.take(1) for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = limiter.take(1)
    assert wait == pytest.approx(0.5)
    assert limiter.retry_after(wait) == "1"
    assert limiter.take(2) == 0.0  # another key has its own bucket
    now[0] += 0.5
    assert limiter.take(1) == 0.0
    assert limiter.take(1) > 0
    now[0] += 100
    assert [limiter.take(1) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take(1) > 0  # the bucket holds at most the burst


def test_the_limiter_refuses_a_nonsense_configuration() -> None:
    with pytest.raises(ValueError):
        RateLimiter(rate=0, burst=1)
    with pytest.raises(ValueError):
        RateLimiter(rate=1, burst=0)

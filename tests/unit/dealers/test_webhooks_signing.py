"""Webhook signatures (checked against an independent HMAC computation), the backoff's bounds
and the checks of URLs and secrets."""

from __future__ import annotations

import hashlib
import hmac
import re

import pytest

from dealers.webhooks import (
    backoff_s,
    generate_secret,
    secret_problem,
    signature_header,
    url_problem,
    verify_signature,
)

SECRET = "whsec_0123456789abcdef0123456789abcdef"
BODY = b'{"alert_id":"A:service_due:1:early","priority":50}'


def test_signature_header_is_hmac_sha256_of_timestamp_dot_body() -> None:
    header = signature_header(SECRET, BODY, 1_772_323_200)
    expected = hmac.new(
        SECRET.encode(), b"1772323200." + BODY, digestmod=hashlib.sha256
    ).hexdigest()
    assert header == f"t=1772323200,v1={expected}"
    # The same vector computed with `openssl dgst -sha256 -hmac` (docs/api.md).
    assert expected == "38e892ed7fbe500d3218084b30e19a7425ec71a5f26a4a1a750bb9eef96bbaed"
    assert re.fullmatch(r"t=\d+,v1=[0-9a-f]{64}", header)


def test_verify_accepts_the_signature_and_refuses_changes() -> None:
    now = 1_772_323_200
    header = signature_header(SECRET, BODY, now)
    assert verify_signature(SECRET, BODY, header, now=now + 10)
    assert not verify_signature(SECRET, BODY + b" ", header, now=now)
    assert not verify_signature(SECRET + "x", BODY, header, now=now)
    assert not verify_signature(SECRET, BODY, header, now=now + 301)  # too old: a replay
    assert not verify_signature(SECRET, BODY, header.replace("t=", "t=1"), now=now)
    assert not verify_signature(SECRET, BODY, "v1=" + "0" * 64, now=now)
    assert not verify_signature(SECRET, BODY, "", now=now)


@pytest.mark.parametrize("attempt", [1, 2, 3, 5, 9, 20, 100, 10_000])
def test_backoff_is_full_jitter_between_zero_and_the_capped_exponential(attempt: int) -> None:
    ceiling = min(300.0, 1.0 * 2 ** min(attempt - 1, 62))
    assert backoff_s(attempt, rng=lambda: 0.0) == 0.0
    assert backoff_s(attempt, rng=lambda: 0.999999) == pytest.approx(ceiling * 0.999999)
    for _ in range(200):
        assert 0.0 <= backoff_s(attempt) <= ceiling


def test_backoff_grows_then_stays_at_the_cap() -> None:
    top = [backoff_s(n, base_s=1.0, cap_s=300.0, rng=lambda: 1.0) for n in range(1, 12)]
    assert top[:9] == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0]
    assert top[9:] == [300.0, 300.0]
    assert backoff_s(3, base_s=0.5, cap_s=1.5, rng=lambda: 1.0) == 1.5


def test_secrets_and_urls() -> None:
    made = generate_secret()
    assert made.startswith("whsec_") and len(made) == 6 + 43 and made != generate_secret()
    assert secret_problem(made) is None
    assert secret_problem("short") is not None
    assert secret_problem("has a space in the middle!") is not None
    assert url_problem("https://dealer.example/hooks/jg?x=1") is None
    assert url_problem("http://127.0.0.1:8080/") is None
    for bad in ("ftp://dealer.example/", "dealer.example/hook", "https://", "http://h:99999/"):
        assert url_problem(bad) is not None, bad

"""The webhook sender's Prometheus metrics (``journeygate webhooks``): its deliveries by outcome
and its requests' time. Labels are bounded (``outcome``); never a dealer, URL or alert."""

from __future__ import annotations

from collections.abc import Mapping

from kernel.metrics import counter, histogram

STAGE = "webhooks"
OUTCOMES = ("delivered", "retry", "dead")

_deliveries = counter(
    STAGE,
    "deliveries_total",
    "Deliveries recorded, by outcome: delivered (a 2xx answer), retry (a failure, tried again"
    " after a backoff) or dead (out of attempts, or withheld because the alert was hidden).",
    ("outcome",),
)
_request_seconds = histogram(STAGE, "request_seconds", "Time of a delivery request to its answer.")
_store_failures = counter(
    STAGE, "store_failures_total", "Rounds that failed on the store (tried again)."
)
for _outcome in OUTCOMES:
    _deliveries.labels(outcome=_outcome)


def recorded(counts: Mapping[str, int]) -> None:
    for outcome in OUTCOMES:
        if counts.get(outcome):
            _deliveries.labels(outcome=outcome).inc(counts[outcome])


def request_took(seconds: float) -> None:
    _request_seconds.observe(seconds)


def store_failed() -> None:
    _store_failures.inc()

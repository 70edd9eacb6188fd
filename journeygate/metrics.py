"""Prometheus conventions shared by every stage's metrics module.

Names are ``journeygate_<stage>_<what>_<unit>`` with ``_total`` on counters; labels are bounded
(never a VIN). Each stage defines its metrics in its own ``metrics`` module through the helpers
below, so a stage's code calls a handful of methods, not the client library.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 5, 10, 50, 100, 500, 1000, 5000, 10000)


def counter(stage: str, name: str, doc: str, labels: tuple[str, ...] = ()) -> Counter:
    return Counter(f"journeygate_{stage}_{name}", doc, labels)


def gauge(stage: str, name: str, doc: str, labels: tuple[str, ...] = ()) -> Gauge:
    return Gauge(f"journeygate_{stage}_{name}", doc, labels)


def histogram(
    stage: str, name: str, doc: str, buckets: tuple[float, ...] = LATENCY_BUCKETS_S
) -> Histogram:
    return Histogram(f"journeygate_{stage}_{name}", doc, buckets=buckets)

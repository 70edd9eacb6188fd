"""Prometheus conventions shared by every stage's metrics module.

Names are ``journeygate_<stage>_<what>_<unit>`` with ``_total`` on counters; labels are bounded
(never a VIN). Each stage defines its metrics in its own ``metrics`` module through the helpers
below, so a stage's code calls a handful of methods, not the client library.

Each stage's metrics live in that stage's own :func:`registry`, not in the client library's
global one: a process serves only the registry of the stage it runs (:func:`served_registry`),
whatever other stages' modules it happened to import.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence

import numpy as np
from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
)
from prometheus_client.metrics_core import HistogramMetricFamily
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 5, 10, 50, 100, 500, 1000, 5000, 10000)
# Event time to an output: from a second to a day (a device's offline buffer, a replay).
EVENT_LATENCY_BUCKETS_S = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0,
                           3600.0, 21600.0, 86400.0)  # fmt: skip
# The "le" label of a bucket, written as prometheus_client writes it.
_le_label: Callable[[float], str] = floatToGoString


_registries: dict[str, CollectorRegistry] = {}
_registries_lock = threading.Lock()


def registry(stage: str) -> CollectorRegistry:
    """The registry that holds ``stage``'s metrics (the same one on every call)."""
    with _registries_lock:
        found = _registries.get(stage)
        if found is None:
            found = _registries[stage] = CollectorRegistry()
        return found


_stage_registry = registry  # for code where a parameter named ``registry`` hides the function


def served_registry(stage: str) -> CollectorRegistry:
    """What a process running ``stage`` serves: that stage's metrics and the process's own
    (CPU, memory, garbage collector, Python version), nothing of any other stage."""
    served = CollectorRegistry()
    # A registry is a collector; registered without describe(), its names are not checked here
    # (they were when they were registered in the stage's registry).
    served.register(registry(stage))
    for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
        served.register(collector)
    return served


def counter(stage: str, name: str, doc: str, labels: tuple[str, ...] = ()) -> Counter:
    return Counter(f"journeygate_{stage}_{name}", doc, labels, registry=registry(stage))


def gauge(stage: str, name: str, doc: str, labels: tuple[str, ...] = ()) -> Gauge:
    return Gauge(f"journeygate_{stage}_{name}", doc, labels, registry=registry(stage))


def histogram(
    stage: str, name: str, doc: str, buckets: tuple[float, ...] = LATENCY_BUCKETS_S
) -> Histogram:
    return Histogram(f"journeygate_{stage}_{name}", doc, buckets=buckets, registry=registry(stage))


class BatchHistogram(Collector):
    """A histogram observed a batch at a time: one lock and one vector bucketing per batch.

    Exposed exactly as a ``prometheus_client`` :class:`~prometheus_client.Histogram` of the
    same name and buckets would be (``_bucket``, ``_count``, ``_sum``), for hot paths where a
    lock and a bucket search per observation cost more than the work being measured.
    Registered in ``registry``, by default the stage's (:func:`registry`).
    """

    def __init__(
        self,
        stage: str,
        name: str,
        doc: str,
        buckets: tuple[float, ...] = LATENCY_BUCKETS_S,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.name = f"journeygate_{stage}_{name}"
        self.doc = doc
        self._bounds = np.asarray(buckets, dtype=np.float64)
        self._counts = np.zeros(len(buckets) + 1, dtype=np.int64)  # the last one: +Inf
        self._sum = 0.0
        self._lock = threading.Lock()
        (registry if registry is not None else _stage_registry(stage)).register(self)

    def observe_many(self, values: Sequence[float]) -> None:
        if not values:
            return
        array = np.asarray(values, dtype=np.float64)
        # Bucket i counts bounds[i-1] < v <= bounds[i] ("le"); past the last bound: +Inf.
        counts = np.bincount(
            np.searchsorted(self._bounds, array, side="left"), minlength=len(self._counts)
        )
        total = float(array.sum())
        with self._lock:
            self._counts += counts
            self._sum += total

    def collect(self) -> Iterator[HistogramMetricFamily]:
        with self._lock:
            cumulative = np.cumsum(self._counts).tolist()
            total = self._sum
        family = HistogramMetricFamily(self.name, self.doc)
        bounds = [_le_label(b) for b in self._bounds.tolist()] + ["+Inf"]
        family.add_metric([], list(zip(bounds, cumulative, strict=True)), total)
        yield family

    def describe(self) -> Iterator[HistogramMetricFamily]:
        yield HistogramMetricFamily(self.name, self.doc)


class PartitionLag:
    """``journeygate_<stage>_lag_records{topic,partition}``: records between a consumer's
    committed position and the end of each partition it reads (the end as its last fetch saw
    it)."""

    def __init__(self, stage: str) -> None:
        self._gauge = gauge(
            stage,
            "lag_records",
            "Records between the committed offset and the partition end, per partition.",
            ("topic", "partition"),
        )

    def committed(
        self, offsets: Mapping[tuple[str, int], int], end: Callable[[str, int], int | None]
    ) -> None:
        for (topic, partition), next_offset in offsets.items():
            last = end(topic, partition)
            if last is not None:
                self._gauge.labels(topic, str(partition)).set(max(0, last - next_offset))

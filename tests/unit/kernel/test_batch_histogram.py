"""A histogram observed a batch at a time is exposed as prometheus_client's own would be."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from kernel.metrics import LATENCY_BUCKETS_S, BatchHistogram

values = st.floats(min_value=0, max_value=20, allow_nan=False)


@given(st.lists(st.lists(values, max_size=50), max_size=6))
def test_batches_expose_what_one_observation_at_a_time_would(batches: list[list[float]]) -> None:
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    batch = BatchHistogram("bridge", "x_seconds", "Doc.", registry=ours)
    single = Histogram(
        "journeygate_bridge_x_seconds", "Doc.", buckets=LATENCY_BUCKETS_S, registry=theirs
    )
    for values_of_batch in batches:
        batch.observe_many(values_of_batch)
        for v in values_of_batch:
            single.observe(v)
    ours_text = generate_latest(ours).decode().splitlines()
    theirs_text = [
        line for line in generate_latest(theirs).decode().splitlines() if "_created" not in line
    ]
    assert _rounded(ours_text) == _rounded(theirs_text)


def test_a_value_on_a_bound_counts_in_that_bucket() -> None:
    registry = CollectorRegistry()
    h = BatchHistogram("bridge", "y_seconds", "Doc.", buckets=(0.5, 1.0), registry=registry)
    h.observe_many([0.5, 1.0, 1.5])
    assert registry.get_sample_value("journeygate_bridge_y_seconds_bucket", {"le": "0.5"}) == 1
    assert registry.get_sample_value("journeygate_bridge_y_seconds_bucket", {"le": "1.0"}) == 2
    assert registry.get_sample_value("journeygate_bridge_y_seconds_bucket", {"le": "+Inf"}) == 3
    assert registry.get_sample_value("journeygate_bridge_y_seconds_count") == 3
    assert registry.get_sample_value("journeygate_bridge_y_seconds_sum") == 3.0


def _rounded(lines: list[str]) -> list[str]:
    """The exposition with the sums rounded (summing in another order may differ in the last
    digits)."""
    out = []
    for line in lines:
        if "_sum " in line:
            name, value = line.rsplit(" ", 1)
            line = f"{name} {round(float(value), 6)}"
        out.append(line)
    return out

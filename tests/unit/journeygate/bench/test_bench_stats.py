"""The benchmark's arithmetic: runs from probes, medians, ratios, combined ceilings."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from journeygate.bench.stats import (
    NotEnoughProgress,
    Probe,
    Run,
    active_run,
    combined,
    figure,
    percentile,
    ratio,
    whole_run,
)


def probes_of(points: list[tuple[float, int, float]]) -> list[Probe]:
    return [Probe(wall, done, cpu) for wall, done, cpu in points]


def test_run_rates_per_wall_second_per_cpu_second_and_cost_per_unit() -> None:
    run = Run(count=1000, wall_s=0.5, cpu_s=0.25)
    assert run.rate_per_s == 2000
    assert run.per_cpu_s == 4000
    assert run.cpu_us == 250


def test_active_run_is_the_steady_part_from_10_to_90_percent() -> None:
    probes = probes_of(
        [
            (0.0, 0, 0.0),
            (1.0, 0, 0.9),
            (1.5, 100, 1.2),
            (2.0, 300, 1.5),
            (2.5, 600, 1.9),
            (2.8, 900, 2.1),
            (3.0, 1000, 2.2),
            (4.0, 1000, 2.21),
        ]
    )
    assert active_run(probes, 1000) == Run(800, pytest.approx(1.3), pytest.approx(0.9))


def test_work_in_flight_at_both_ends_of_the_steady_part_cancels_out() -> None:
    """A stage that holds 200 units done but not yet visible until the end, at 10 µs each: the
    steady part sees exactly its cost; from the first visible unit to the last, the CPU of the
    200 in flight at the start is left out."""
    cost_s, in_flight = 10e-6, 200
    points = [(0.0, 0, 0.0)]
    for step in range(1, 101):
        visible = max(0, step * 100 - in_flight)
        points.append((step * 0.01, visible, step * 100 * cost_s))
    points.append((1.02, 10_000, 100 * 100 * cost_s))  # the last 200 become visible
    probes = probes_of(points)
    assert active_run(probes, 10_000).cpu_us == pytest.approx(10.0)
    assert whole_run(probes, 10_000).cpu_us < 9.9


def test_a_steady_part_too_short_to_measure_gives_way_to_the_whole_run() -> None:
    """Quick runs: a window of 0.1 s may see no CPU tick at all."""
    probes = probes_of(
        [
            (0.0, 0, 0.0),
            (0.1, 100, 0.05),
            (0.15, 300, 0.06),
            (0.2, 600, 0.06),
            (0.25, 900, 0.07),
            (0.3, 1000, 0.08),
        ]
    )
    assert active_run(probes, 1000) == Run(900, pytest.approx(0.2), pytest.approx(0.03))


def test_work_in_too_few_steps_runs_from_the_first_finished_work_to_all_of_it() -> None:
    probes = probes_of([(0.0, 0, 0.0), (1.0, 0, 0.9), (1.5, 500, 1.2), (3.0, 1000, 2.2)])
    assert active_run(probes, 1000) == Run(500, 1.5, pytest.approx(1.0))


def test_active_run_of_work_that_stalled_short_ends_at_the_last_probe() -> None:
    probes = probes_of([(0.0, 0, 0.0), (1.0, 10, 0.5), (2.0, 950, 1.5), (3.0, 950, 1.5)])
    assert active_run(probes, 1000) == Run(940, 2.0, 1.0)


def test_a_whole_run_goes_from_the_first_finished_work_to_all_of_it() -> None:
    """A pipeline drain has no steady part: its window is the whole of the work."""
    probes = probes_of(
        [
            (0.0, 0, 0.0),
            (1.0, 100, 1.0),
            (2.0, 300, 1.5),
            (3.0, 900, 2.5),
            (4.0, 1000, 3.0),
            (5.0, 1000, 3.1),
        ]
    )
    assert whole_run(probes, 1000) == Run(900, 3.0, 2.0)


def test_work_finished_between_two_probes_is_measured_from_the_start_of_the_part() -> None:
    """A quick part can finish all its work between two probes: measured, never an error."""
    probes = probes_of([(0.0, 0, 0.0), (0.2, 0, 0.1), (0.4, 8000, 0.3), (0.6, 8000, 0.3)])
    assert whole_run(probes, 8000) == Run(8000, 0.4, 0.3)
    assert active_run(probes, 8000) == Run(8000, 0.4, 0.3)


def test_a_window_without_a_cpu_tick_is_widened_to_the_start_of_the_part() -> None:
    """CPU time of another process advances in 10 ms ticks: a short window may show none."""
    probes = probes_of([(0.0, 0, 0.0), (0.2, 10, 0.05), (0.4, 100, 0.05), (0.6, 100, 0.05)])
    run = whole_run(probes, 100)
    assert run == Run(100, 0.4, 0.05)
    assert math.isfinite(run.per_cpu_s)


def test_a_single_probe_that_saw_everything_is_still_an_error() -> None:
    with pytest.raises(NotEnoughProgress):
        whole_run(probes_of([(0.4, 8000, 0.3)]), 8000)


def test_a_run_without_progress_is_an_error() -> None:
    with pytest.raises(NotEnoughProgress):
        active_run(probes_of([(0.0, 0, 0.0), (1.0, 0, 1.0)]), 10)
    with pytest.raises(NotEnoughProgress):
        active_run([], 10)


@given(
    st.lists(
        st.tuples(
            st.integers(min_value=1, max_value=10**6),
            st.floats(min_value=1e-3, max_value=100),
            st.floats(min_value=1e-3, max_value=100),
        ),
        min_size=1,
        max_size=9,
    )
)
def test_a_figure_reports_the_median_of_each_measure(
    triples: list[tuple[int, float, float]],
) -> None:
    runs = [Run(n, wall, cpu) for n, wall, cpu in triples]
    fig = figure("x", "msg", runs)
    for attr in ("rate_per_s", "per_cpu_s", "cpu_us"):
        values = sorted(getattr(r, attr) for r in runs)
        below = sum(1 for v in values if v < getattr(fig, attr))
        above = sum(1 for v in values if v > getattr(fig, attr))
        assert below <= len(values) // 2 and above <= len(values) // 2
    assert fig.runs == tuple(runs)


def test_ratio_is_per_cpu_second() -> None:
    fast = figure("ceiling", "msg", [Run(1000, 1.0, 0.01)])
    slow = figure("stage", "msg", [Run(1000, 1.0, 0.04)])
    assert ratio(slow, fast) == pytest.approx(0.25)


def test_combined_ceiling_adds_the_cpu_cost_of_each_part() -> None:
    a = figure("a", "row", [Run(1000, 0.001, 0.002)])  # 2 µs per row
    b = figure("b", "row", [Run(1000, 0.001, 0.003)])  # 3 µs per row
    both = combined("a + b", "row", [a, b])
    assert both.cpu_us == pytest.approx(5.0)
    assert both.per_cpu_s == pytest.approx(200_000)
    assert both.rate_per_s == pytest.approx(500_000)


@given(st.lists(st.floats(min_value=-1e6, max_value=1e6), min_size=1, max_size=50))
def test_percentiles_lie_within_the_values_and_grow_with_q(values: list[float]) -> None:
    qs = [0.0, 0.5, 0.95, 0.99, 1.0]
    results = [percentile(values, q) for q in qs]
    assert results[0] == min(values)
    assert results[-1] == max(values)
    assert all(x <= y + 1e-9 for x, y in itertools.pairwise(results))


def test_percentile_of_nothing_is_nan() -> None:
    assert math.isnan(percentile([], 0.5))

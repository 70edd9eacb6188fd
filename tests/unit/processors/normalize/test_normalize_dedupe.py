"""The per-VIN dedupe window: repeats dropped, gaps counted, memory bounded."""

from __future__ import annotations

import tracemalloc
from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from processors.normalize.dedupe import WINDOW_SEQS, DedupeWindow, Observation

VIN = "WVWZZZ1JZXW000001"
OTHER = "WVWZZZ1JZXW000002"


def test_exact_repeat_is_a_duplicate_and_a_new_seq_is_not() -> None:
    w = DedupeWindow()
    assert w.observe(VIN, "b1", 10) == Observation(duplicate=False, gap_seqs=0)
    assert w.observe(VIN, "b1", 10).duplicate
    assert w.observe(VIN, "b1", 11) == Observation(duplicate=False, gap_seqs=0)
    assert w.observe(VIN, "b1", 10).duplicate
    assert not w.observe(OTHER, "b1", 10).duplicate


def test_skipped_seqs_count_as_a_gap_and_a_late_arrival_fills_without_uncounting() -> None:
    w = DedupeWindow()
    w.observe(VIN, "b1", 1)
    assert w.observe(VIN, "b1", 5).gap_seqs == 3
    late = w.observe(VIN, "b1", 3)
    assert late == Observation(duplicate=False, gap_seqs=0)
    assert w.observe(VIN, "b1", 3).duplicate
    assert not w.observe(VIN, "b1", 2).duplicate


def test_repeats_older_than_the_window_pass_through() -> None:
    w = DedupeWindow()
    w.observe(VIN, "b1", 0)
    w.observe(VIN, "b1", WINDOW_SEQS - 1)
    assert w.observe(VIN, "b1", 0).duplicate  # 63 behind: still inside
    w.observe(VIN, "b1", WINDOW_SEQS)
    assert not w.observe(VIN, "b1", 0).duplicate  # 64 behind: outside, passed on
    w.observe(VIN, "b1", 10_000)
    assert not w.observe(VIN, "b1", WINDOW_SEQS).duplicate


def test_a_new_boot_starts_afresh_without_counting_a_gap() -> None:
    w = DedupeWindow()
    w.observe(VIN, "b1", 500)
    assert w.observe(VIN, "b2", 0) == Observation(duplicate=False, gap_seqs=0)
    assert not w.observe(VIN, "b2", 500).duplicate
    assert w.observe(VIN, "b2", 500).duplicate


def test_least_recently_seen_vin_is_forgotten_at_the_cap() -> None:
    w = DedupeWindow(max_vins=2)
    w.observe("A" * 17, "b", 1)
    w.observe("B" * 17, "b", 1)
    w.observe("A" * 17, "b", 2)  # A is now the most recent
    w.observe("C" * 17, "b", 1)  # evicts B
    assert len(w) == 2
    assert w.observe("A" * 17, "b", 2).duplicate
    assert not w.observe("B" * 17, "b", 1).duplicate  # forgotten


def test_clear_forgets_everything() -> None:
    w = DedupeWindow()
    w.observe(VIN, "b1", 1)
    w.clear()
    assert len(w) == 0
    assert not w.observe(VIN, "b1", 1).duplicate


@dataclass
class _Reference:
    """The documented behaviour, stated directly with unbounded sets."""

    boot: dict[str, str] = field(default_factory=dict)
    high: dict[str, int] = field(default_factory=dict)
    seen: dict[str, set[int]] = field(default_factory=dict)

    def observe(self, vin: str, boot_id: str, seq: int) -> Observation:
        if self.boot.get(vin) != boot_id:
            self.boot[vin], self.high[vin], self.seen[vin] = boot_id, seq, {seq}
            return Observation(False, 0)
        high = self.high[vin]
        if seq > high:
            self.high[vin] = seq
            self.seen[vin].add(seq)
            return Observation(False, seq - high - 1)
        if high - seq >= WINDOW_SEQS:
            return Observation(False, 0)
        if seq in self.seen[vin]:
            return Observation(True, 0)
        self.seen[vin].add(seq)
        return Observation(False, 0)


messages = st.lists(
    st.tuples(
        st.sampled_from(["V1", "V2", "V3"]), st.sampled_from(["b1", "b2"]), st.integers(0, 200)
    ),
    max_size=300,
)


@settings(max_examples=300)
@given(msgs=messages)
def test_window_matches_the_documented_reference(msgs: list[tuple[str, str, int]]) -> None:
    w, ref = DedupeWindow(), _Reference()
    for vin, boot, seq in msgs:
        assert w.observe(vin, boot, seq) == ref.observe(vin, boot, seq)


@given(seqs=st.permutations(range(40)))
def test_any_order_of_distinct_seqs_has_no_duplicates(seqs: list[int]) -> None:
    w = DedupeWindow()
    assert not any(w.observe(VIN, "b", s).duplicate for s in seqs)
    assert all(w.observe(VIN, "b", s).duplicate for s in seqs)


def test_memory_per_vin_is_small() -> None:
    w = DedupeWindow()
    n = 20_000
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(n):
            vin, boot = f"WVWZZZ1JZXW{i:06d}", f"boot-{i:08x}"
            w.observe(vin, boot, 2**40)
            w.observe(vin, boot, 2**40 + 70)
        per_vin = (tracemalloc.get_traced_memory()[0] - before) / n
    finally:
        tracemalloc.stop()
    assert per_vin < 320, per_vin

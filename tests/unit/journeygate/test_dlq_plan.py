"""What ``journeygate dlq replay`` sends, and what it skips (pure)."""

from __future__ import annotations

from dataclasses import replace

from journeygate.dlq import Filter, counts, marker, plan_replay
from kernel.deadletters import DeadLetter, DeadLetterLog
from kernel.kafka import Topics

TOPICS = Topics("raw", "dlq", "frames", "signals", "alerts", "services", "consent")
LETTER = DeadLetter(
    stage="normalize",
    reason="unknown_vin",
    detail="not registered",
    key=b"V",
    value=b"{}",
    mqtt_topic="vehicles/V/telemetry",
    source_topic="raw",
    source_partition=1,
    source_offset=9,
    original_sha256="",
    partition=0,
    offset=4,
    ts_ms=1_000,
    headers=(("ingest_ts_ms", b"5"), ("replayed_from", b"dlq:0:1"), ("replayed_ts_ms", b"7")),
)


def test_a_replay_keeps_the_original_headers_and_names_its_dead_letter_once() -> None:
    plan = plan_replay(DeadLetterLog([LETTER], frozenset()), Filter(), TOPICS, now_ms=42)
    [r] = plan.replays
    assert r.topic == "raw"
    assert (r.record.key, r.record.value) == (b"V", b"{}")
    assert r.record.headers == [
        ("ingest_ts_ms", b"5"),
        ("replayed_from", b"dlq:0:4"),
        ("replayed_ts_ms", b"42"),
    ]
    assert marker(LETTER).headers == [("dlq_replay_of", b"0:4")]


def test_replayed_cut_and_foreign_dead_letters_are_not_sent() -> None:
    cut = replace(LETTER, offset=5, cut=True)
    bridge = replace(LETTER, offset=6, stage="bridge", source_topic="vehicles/V/telemetry")
    other = replace(LETTER, offset=7, reason="out_of_range")
    log = DeadLetterLog([LETTER, cut, bridge, other], frozenset({"0:4"}))
    plan = plan_replay(log, Filter(), TOPICS, now_ms=0)
    assert [r.letter.offset for r in plan.replays] == [7]
    assert [(s.letter.offset, s.why.split(" ")[0]) for s in plan.skipped] == [(5, "its"), (6, "it")]
    assert plan.already == 1
    only = plan_replay(log, Filter(reason="unknown_vin", stage="normalize"), TOPICS, now_ms=0)
    assert (len(only.replays), only.already) == (0, 1)


def test_counts_by_stage_and_reason_with_replayed_and_newest() -> None:
    newer = replace(LETTER, offset=5, ts_ms=3_000)
    rows = counts([LETTER, newer, replace(LETTER, stage="bridge")], frozenset({"0:4"}))
    assert [(c.stage, c.reason, c.count, c.replayed, c.newest_ts_ms) for c in rows] == [
        ("bridge", "unknown_vin", 1, 1, 1_000),
        ("normalize", "unknown_vin", 2, 1, 3_000),
    ]

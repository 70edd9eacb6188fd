"""The verdict of ``journeygate status`` from what it read (pure)."""

from __future__ import annotations

from journeygate.status import Gaps, Limits, PartitionView, Readings, judge
from kernel.kafka import Topics

TOPICS = Topics(
    "raw", "dlq", "frames", "signals", "alerts", "services", "consent", "receipts", "acks"
)
NOW_MS = 1_800_000_000_000


def readings(**changes: object) -> Readings:
    base: dict[str, object] = {
        "now_ms": NOW_MS,
        "partitions": {
            ("raw", 0): PartitionView(10, None),
            ("frames", 0): PartitionView(8, NOW_MS - 30_000),
            ("frames", 1): PartitionView(4, NOW_MS - 900_000),
            ("services", 0): PartitionView(2, NOW_MS - 5_000),
            ("signals", 0): PartitionView(0, None),
            ("consent", 0): PartitionView(0, None),
        },
        "positions": {
            "normalize": {("raw", 0): 10},
            "store": {("frames", 0): 8, ("frames", 1): 1},
            "signals": {("frames", 0): 5, ("frames", 1): 4},
            "journey": {},
        },
        "last_commit_ms": {"store": NOW_MS - 2_000, "signals": None, "journey": None},
        "dead_letters": (),
        "rows": {"telemetry": 12},
        "newest_prediction_ms": NOW_MS - 60_000,
        "newest_alert_ms": None,
    }
    base.update(changes)
    return Readings(**base)  # type: ignore[arg-type]


def test_lag_is_what_waits_after_each_committed_position_and_the_oldest_wait_counts() -> None:
    status = judge(readings(), TOPICS, "p.", Limits(max_lag=100, max_wait_s=300))
    by = {s.name: s for s in status.stages}
    assert by["normalize"].lag == 0 and by["normalize"].waiting_s is None
    assert by["store"].lag == 3 and by["store"].waiting_s == 900.0  # frames:1 waits 15 min
    assert by["store"].unhealthy == ("a record has waited 900 s (limit 300)",)
    # signals: frames 0 from 5 (3 waiting, 30 s), never committed services (2, 5 s)
    assert (by["signals"].lag, by["signals"].waiting_s) == (5, 30.0)
    assert by["signals"].unhealthy == ()
    assert by["journey"].lag == 2 and by["journey"].group == "p.journeygate-journey"
    assert by["store"].last_commit_age_s == 2.0 and by["signals"].last_commit_age_s is None
    assert status.newest_prediction_age_s == 60.0 and status.newest_alert_age_s is None
    assert not status.healthy


def test_more_waiting_than_the_limit_is_unhealthy_and_within_limits_is_healthy() -> None:
    assert judge(readings(), TOPICS, "", Limits(max_lag=100, max_wait_s=1_000)).healthy
    status = judge(readings(), TOPICS, "", Limits(max_lag=4, max_wait_s=1_000))
    assert [s.name for s in status.stages if s.unhealthy] == ["signals"]
    assert status.stages[2].unhealthy == ("5 records waiting (limit 4)",)


def test_the_store_lags_on_receipts_too_the_relay_on_acks_and_gaps_are_reported() -> None:
    parts = {
        **readings().partitions,
        ("receipts", 0): PartitionView(5, NOW_MS - 10_000),
        ("acks", 0): PartitionView(7, NOW_MS - 1_000),
    }
    positions = {**readings().positions, "ack-relay": {("acks", 0): 3}}
    status = judge(
        readings(partitions=parts, positions=positions, gaps=Gaps(2, 40)),
        TOPICS,
        "",
        Limits(max_lag=100, max_wait_s=1_000),
    )
    by = {s.name: s for s in status.stages}
    assert by["store"].lag == 3 + 5 and by["ack-relay"].lag == 4
    assert by["ack-relay"].group == "journeygate-ack-relay"
    assert status.gaps == Gaps(2, 40) and status.healthy  # a device's loss is not the pipeline's

"""Network faults while a QoS 1 fleet publishes: each stage's link to each of its servers is
partitioned, or made slow and lossy, mid-stream; the Kafka-protocol broker goes away and comes
back; and two bridges and two normalizers share the work while one of each is SIGKILLed.
``journeygate simulate`` publishes, ``journeygate verify`` judges: nothing lost, nothing doubled.

The links run through fault proxies (journeygate/faultlab.py): the bridge's to the MQTT broker,
the store writer's to PostgreSQL, and every stage's to a Kafka-protocol broker of the test's own
that advertises its proxy, a fault of one stage's Kafka link scoped to that stage's connections.

The suite runs a representative part of the matrix (every link once, both kinds of fault); set
``JOURNEYGATE_TEST_FAULT_MATRIX=full`` for every link with every fault (``journeygate soak``
applies them all too, at random). Figures: docs/operations.md, "Network faults".
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pipeline_kit import stage_env
from test_verify_e2e import journeygate

from journeygate.embedded.procs import free_port
from journeygate.embedded.stack import StackEndpoints
from journeygate.faultlab import (
    KAFKA,
    LINKS_BY_NAME,
    FaultLab,
    Stages,
    Watcher,
    process_env,
    recovery_s,
    simulate_argv,
)
from journeygate.faultproxy import Fault
from kernel.settings import Settings
from simulator.truth.verdict import read_truth

pytestmark = pytest.mark.e2e

PARTITION_S = 5.0
LOSSY_S = 6.0
# A link bad enough to matter: 20-50 ms each way, one chunk in ten stalled 0.2-1 s, and each
# connection reset every 1.5 s on average.
LOSSY = Fault.lossy(
    delay_ms=20, jitter_ms=30, stall_probability=0.1, stall_ms=(200, 1000), reset_mean_s=1.5
)
# About 2,100 messages (some dead-lettered, some published twice) in about 10 s.
VEHICLES, DAYS, RATE_PER_S = 60, 6, 200.0
FAULT_AFTER_MESSAGES = 400

CI_CASES = [
    ("bridge-mqtt", "partition"),
    ("bridge-kafka", "lossy"),
    ("normalize-kafka", "partition"),
    ("store-kafka", "lossy"),
    ("store-postgres", "partition"),
]
FULL = os.environ.get("JOURNEYGATE_TEST_FAULT_MATRIX") == "full"
CASES = (
    [(link, kind) for link in LINKS_BY_NAME for kind in ("partition", "lossy")]
    if FULL
    else CI_CASES
)


@dataclass(frozen=True, slots=True)
class Outcome:
    verdict: dict[str, Any]
    recovery_s: float | None
    resets: int

    def summary(self) -> str:
        """One line for the log of the run: what docs/operations.md's matrix reports."""
        valid = self.verdict["valid"]
        recovered = "never" if self.recovery_s is None else f"{self.recovery_s:.1f} s"
        return (
            f"samples sent {valid['samples']}, stored once {valid['stored_once']}, lost"
            f" {valid['missing']}, doubled {valid['doubled']}, recovered in {recovered},"
            f" connections reset {self.resets}"
        )


@pytest.fixture
def lab(
    make_settings: Callable[..., Settings], servers: StackEndpoints, tmp_path: Path
) -> Iterator[tuple[FaultLab, Settings]]:
    """The test's own Kafka-protocol broker behind its proxy, proxies in front of the session's
    MQTT broker and PostgreSQL, and settings whose topics live on that broker."""
    faults = FaultLab(tmp_path / "lab", servers.mqtt_url, servers.database_url, seed=7).start()
    try:
        yield faults, make_settings(kafka_bootstrap=faults.kafka_bootstrap)
    finally:
        faults.close()


def run_with_fault(
    settings: Settings,
    stages: Stages,
    tmp_path: Path,
    apply: Callable[[], None],
    lift: Callable[[], None],
    hold_s: float,
    resets: Callable[[], int],
    survivors: tuple[str, ...] | None = None,
    after_feed: Callable[[], None] | None = None,
) -> Outcome:
    """Publish a fleet; after the first messages ``apply`` a fault, ``lift`` it ``hold_s``
    later; once the fleet is published, ``after_feed``; then judge with ``journeygate verify``
    and measure the recovery. The processes named in ``survivors`` (default: all) must stay
    alive."""

    def check_alive() -> None:
        for name in survivors or stages.names:
            assert stages.alive(name), f"{name} exited:\n{stages.child(name).log_tail()}"

    env = {**stage_env(settings)}
    truth = tmp_path / "truth.jsonl"
    port = free_port()
    argv = simulate_argv(
        vehicles=VEHICLES, days=DAYS, seed=3, rate_per_s=RATE_PER_S, truth=truth, metrics_port=port
    )
    with open(tmp_path / "simulate.log", "wb") as log:
        sim = subprocess.Popen(argv, env=process_env(env), stdout=log, stderr=subprocess.STDOUT)
        watcher = Watcher(settings.database_url, port).start()
        try:
            deadline = time.monotonic() + 60
            while watcher.watch.published_at(watcher.now()) < FAULT_AFTER_MESSAGES:
                assert sim.poll() is None, (tmp_path / "simulate.log").read_text()[-2000:]
                assert time.monotonic() < deadline, "the simulator published nothing"
                check_alive()
                time.sleep(0.05)
            apply()
            time.sleep(hold_s)
            check_alive()
            lift()
            lifted_t = watcher.now()
            assert sim.wait(120) == 0, (tmp_path / "simulate.log").read_text()[-2000:]
            if after_feed is not None:
                after_feed()
            done = journeygate(
                settings, "verify", "--truth", str(truth), "--json", "--wait-s", "120"
            )
            check_alive()
        finally:
            watch = watcher.stop()
            if sim.poll() is None:
                sim.kill()
    assert done.returncode in (0, 1), done.stderr
    verdict = json.loads(done.stdout)
    return Outcome(verdict, recovery_s(watch, read_truth(truth), lifted_t), resets())


def assert_nothing_lost_or_doubled(outcome: Outcome) -> None:
    v = outcome.verdict
    assert v["passed"] is True, v
    assert v["valid"]["stored_once"] == v["valid"]["samples"] > 0
    assert v["valid"]["missing"] == 0 and v["valid"]["doubled"] == 0
    assert v["malformed"]["dead_lettered"] == v["malformed"]["expected"]
    assert outcome.recovery_s is not None


def three_stages(lab: FaultLab, settings: Settings, log_dir: Path) -> Stages:
    base = stage_env(settings)
    stages = Stages(base, log_dir)
    lab.stages = stages
    for stage in ("bridge", "normalize", "store"):
        stages.add(stage, stage, lab.stage_env(stage, base))
    stages.wait_for_bridge("bridge")
    return stages


@pytest.mark.parametrize(("link_name", "kind"), CASES, ids=[f"{lk}-{k}" for lk, k in CASES])
def test_a_broken_link_loses_and_doubles_nothing(
    lab: tuple[FaultLab, Settings], tmp_path: Path, link_name: str, kind: str
) -> None:
    faults, settings = lab
    link = LINKS_BY_NAME[link_name]
    stages = three_stages(faults, settings, tmp_path / "logs")
    fault, hold_s = (Fault.cut(), PARTITION_S) if kind == "partition" else (LOSSY, LOSSY_S)
    proxy = faults.proxies[link.server]
    try:
        outcome = run_with_fault(
            settings,
            stages,
            tmp_path,
            lambda: faults.break_link(link, fault),
            faults.restore,
            hold_s,
            lambda: proxy.stats().resets,
        )
    finally:
        stages.stop_all()
    print(f"{link_name} {kind}: {outcome.summary()}")
    assert outcome.resets >= 1, "the fault never broke a connection"
    assert_nothing_lost_or_doubled(outcome)


def test_the_kafka_broker_going_away_and_back_mid_stream_loses_and_doubles_nothing(
    lab: tuple[FaultLab, Settings], tmp_path: Path
) -> None:
    """Every stage's Kafka connections broken at once and refused for the outage, as while the
    broker restarts (its log kept, as Kafka's on disk; see journeygate/faultlab.py)."""
    faults, settings = lab
    stages = three_stages(faults, settings, tmp_path / "logs")
    proxy = faults.proxies[KAFKA]
    try:
        outcome = run_with_fault(
            settings,
            stages,
            tmp_path,
            faults.kafka_outage,
            faults.restore,
            PARTITION_S,
            lambda: proxy.stats().resets,
        )
    finally:
        stages.stop_all()
    print(f"kafka broker outage: {outcome.summary()}")
    assert outcome.resets >= 3  # the connections of all three stages
    assert_nothing_lost_or_doubled(outcome)


BRIDGE_FORWARDED = "journeygate_bridge_forwarded_total"
NORMALIZE_CONSUMED = "journeygate_normalize_consumed_total"


def test_two_bridges_and_two_normalizers_share_the_work_and_lose_nothing_when_one_of_each_dies(
    settings: Settings, tmp_path: Path
) -> None:
    """Bridges on one shared subscription, normalizers in one consumer group: both of each take
    part, then one of each is SIGKILLed mid-stream. The surviving normalizer takes the dead
    one's partitions over. Mosquitto keeps handing the dead bridge its share of the messages
    (queued in its persistent session) until it comes back: the bridge is started again with
    its id once the fleet is published, and then nothing is lost or doubled."""
    base = {**stage_env(settings), "JOURNEYGATE_BRIDGE_SHARE_GROUP": "bridges"}
    stages = Stages(base, tmp_path / "logs")
    for n in (1, 2):
        stages.add(f"bridge-{n}", "bridge", {"JOURNEYGATE_BRIDGE_ID": f"{settings.bridge_id}-{n}"})
        stages.add(f"normalize-{n}", "normalize")
    stages.add("store", "store")
    for n in (1, 2):
        stages.wait_for_bridge(f"bridge-{n}")
    metric = {"bridge": BRIDGE_FORWARDED, "normalize": NORMALIZE_CONSUMED}
    at_kill: dict[str, float] = {}
    after: dict[str, float] = {}
    waiting: list[int] = []

    def handled(name: str) -> float:
        return stages.scrape(name).get(metric[stages.stage_of(name)], 0.0)

    def both_took_part_then_kill_one_of_each() -> None:
        deadline = time.monotonic() + 30
        while not all(v > 0 for v in at_kill.values()) or len(at_kill) < 4:
            assert time.monotonic() < deadline, f"the work was not shared: {at_kill}"
            time.sleep(0.1)
            at_kill.update(
                {n: handled(n) for n in ("bridge-1", "bridge-2", "normalize-1", "normalize-2")}
            )
        stages.kill("bridge-2")
        stages.kill("normalize-2")

    def bring_the_bridge_back() -> None:
        after.update({n: handled(n) for n in ("bridge-1", "normalize-1")})
        interim = journeygate(
            settings, "verify", "--truth", str(tmp_path / "truth.jsonl"), "--json", "--wait-s", "5"
        )
        waiting.append(json.loads(interim.stdout)["valid"]["missing"])
        stages.start("bridge-2")

    try:
        outcome = run_with_fault(
            settings,
            stages,
            tmp_path,
            both_took_part_then_kill_one_of_each,
            lambda: None,
            0.0,
            lambda: 0,
            survivors=("bridge-1", "normalize-1", "store"),
            after_feed=bring_the_bridge_back,
        )
    finally:
        stages.stop_all()
    print(
        f"2 bridges + 2 normalizers, one of each killed: {outcome.summary()}; handled at the"
        f" kill {at_kill}, by the survivors at the end of the feed {after}; samples waiting for"
        f" the dead bridge {waiting}"
    )
    assert after["bridge-1"] > at_kill["bridge-1"]
    assert after["normalize-1"] > at_kill["normalize-1"]
    assert_nothing_lost_or_doubled(outcome)

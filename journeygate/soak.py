"""``journeygate soak``: the whole pipeline under a fleet for a long while, with faults.

The run starts its own servers (PostgreSQL, Mosquitto, a Kafka-protocol broker behind a fault
proxy; see :mod:`journeygate.faultlab`), every stage as a process, and ``journeygate simulate``
publishing a fleet at a steady rate. Then, at random intervals drawn from the seed, it applies
one fault at a time and lifts it:

- **kill**: a stage process SIGKILLed, started again 1 to 5 s later;
- **kafka-outage**: every Kafka connection cut and refused for 3 to 10 s, the broker's state
  kept (as while Kafka restarts; the embedded broker's log is in memory only, so restarting its
  process would erase it: see :mod:`journeygate.faultlab`);
- **partition**, **slow**, **lossy**: one stage's link to one of its servers (the bridge's to
  MQTT or Kafka, the normalizer's to Kafka, the store writer's to Kafka or PostgreSQL) cut for 3
  to 10 s, or 100-300 ms slower each way, or lossy (:meth:`Fault.lossy`), for 5 to 15 s.

A stage that exits by itself is started again and reported (an "unplanned exit" fails the run).
When the time is up every link passes, the fleet stops, and the run waits for the pipeline to
catch up and judges it as ``journeygate verify`` does: samples sent, stored once, lost, doubled.
It also reports, per fault, the time to recover (from the fault lifted until the store held
every sample published before that, :func:`journeygate.faultlab.recovery_s`), and each
process's resident memory over time.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from database.migrate import ensure_database, migrate
from journeygate.embedded.mqtt import EmbeddedMqtt, find_mosquitto
from journeygate.embedded.postgres import EmbeddedPostgres
from journeygate.embedded.procs import Child, free_port
from journeygate.embedded.stack import DATABASE
from journeygate.faultlab import (
    LINKS,
    FaultLab,
    Link,
    Stages,
    Watch,
    Watcher,
    process_env,
    recovery_s,
    simulate_argv,
)
from journeygate.faultproxy import Fault
from kernel.errors import ConfigError, InfrastructureError
from kernel.kafka import ensure_topics
from kernel.settings import Settings, load_settings
from simulator.truth.read import read_truth
from simulator.truth.verify import wait_for_verdict

STAGES = ("bridge", "normalize", "store", "signals", "journey")
FAULT_KINDS = ("kill", "kafka-outage", "partition", "slow", "lossy")
MESSAGES_PER_VEHICLE_DAY = 5.5
"""About what the default scenario publishes (valid, repeated and malformed messages)."""
STAGE_DOWN_S = (1.0, 5.0)
OUTAGE_S = (3.0, 10.0)
DEGRADED_S = (5.0, 15.0)
SLOW_MS = (100.0, 300.0)
PLAN_TIMEOUT_S = 600.0
"""How long the simulator may take to plan the fleet before it publishes."""


@dataclass(frozen=True, slots=True)
class SoakOptions:
    minutes: float = 10.0
    seed: int = 1
    rate_per_s: float = 150.0
    vehicles: int = 300
    fault_interval_s: float = 30.0
    """Mean time from one fault's end to the next one's start (drawn between half and 1.5x)."""
    drain_timeout_s: float = 300.0
    rss_every_s: float = 10.0

    def __post_init__(self) -> None:
        checks = (
            ("--minutes", 0 < self.minutes <= 24 * 60, "above 0 and at most 1440"),
            ("--rate", 1 <= self.rate_per_s <= 20_000, "between 1 and 20,000 messages/s"),
            ("--vehicles", 2 <= self.vehicles <= 100_000, "between 2 and 100,000"),
            ("--fault-interval-s", 1 <= self.fault_interval_s <= 3600, "between 1 and 3600"),
            ("--drain-timeout-s", self.drain_timeout_s > 0, "above 0"),
            ("--rss-every-s", self.rss_every_s > 0, "above 0"),
        )
        for flag, ok, wanted in checks:
            if not ok:
                raise ConfigError(f"{flag} must be {wanted}")

    @property
    def seconds(self) -> float:
        return self.minutes * 60

    def days(self) -> int:
        """Simulated days that give the fleet enough messages for the run at its rate (with a
        margin: the run stops the fleet when its time is up)."""
        wanted = self.rate_per_s * self.seconds * 1.15 + 500
        return max(1, int(wanted / (MESSAGES_PER_VEHICLE_DAY * self.vehicles)) + 1)


@dataclass(slots=True)
class FaultRecord:
    at_s: float
    kind: str
    target: str
    detail: str
    duration_s: float = 0.0
    lifted_s: float = 0.0
    recovered_s: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "at_s": round(self.at_s, 1),
            "kind": self.kind,
            "target": self.target,
            "detail": self.detail,
            "duration_s": round(self.duration_s, 1),
            "recovered_s": None if self.recovered_s is None else round(self.recovered_s, 1),
        }


@dataclass(slots=True)
class Exit:
    at_s: float
    process: str
    status: int | None
    log_tail: str


@dataclass(slots=True)
class SoakReport:
    options: SoakOptions
    elapsed_s: float
    verdict: dict[str, Any]
    faults: list[FaultRecord]
    unplanned_exits: list[Exit]
    memory: dict[str, list[tuple[float, int]]]
    restarts: dict[str, int]
    load_avg: tuple[float, float]
    """The machine's 1-minute load average at the start and at the end."""
    cpus: int = field(default_factory=lambda: os.cpu_count() or 0)

    @property
    def passed(self) -> bool:
        return bool(self.verdict.get("passed")) and not self.unplanned_exits

    def memory_summary(self) -> list[dict[str, Any]]:
        rows = []
        for name, series in self.memory.items():
            values = [b for _, b in series]
            if not values:
                continue
            rows.append(
                {
                    "process": name,
                    "samples": len(values),
                    "first_bytes": values[0],
                    "peak_bytes": max(values),
                    "last_bytes": values[-1],
                    "restarts": self.restarts.get(name, 0),
                }
            )
        return rows

    def as_dict(self) -> dict[str, Any]:
        valid = self.verdict.get("valid", {})
        recovered = [f.recovered_s for f in self.faults if f.recovered_s is not None]
        return {
            "passed": self.passed,
            "minutes": self.options.minutes,
            "seed": self.options.seed,
            "rate_per_s": self.options.rate_per_s,
            "vehicles": self.options.vehicles,
            "elapsed_s": round(self.elapsed_s, 1),
            "machine": {"cpus": self.cpus, "load_avg_1m": list(self.load_avg)},
            "sent": {
                "messages": self.verdict.get("published_messages"),
                "valid_samples": valid.get("samples"),
            },
            "stored_once": valid.get("stored_once"),
            "lost": valid.get("missing"),
            "doubled": valid.get("doubled"),
            "dead_letters": {
                "expected": self.verdict.get("malformed", {}).get("expected"),
                "dead_lettered": self.verdict.get("malformed", {}).get("dead_lettered"),
            },
            "faults": [f.as_dict() for f in self.faults],
            "recovery_s": {
                "max": max(recovered, default=None),
                "median": sorted(recovered)[len(recovered) // 2] if recovered else None,
                "never": sum(f.recovered_s is None for f in self.faults),
            },
            "unplanned_exits": [
                {"at_s": round(e.at_s, 1), "process": e.process, "status": e.status}
                for e in self.unplanned_exits
            ],
            "memory": self.memory_summary(),
            "memory_samples": {
                name: [[round(t, 1), b] for t, b in series] for name, series in self.memory.items()
            },
            "verdict": self.verdict,
        }


# --- the run ------------------------------------------------------------------------------------


@contextlib.contextmanager
def soak_servers(root: Path, seed: int) -> Iterator[tuple[FaultLab, Settings, dict[str, int]]]:
    """PostgreSQL and Mosquitto, the lab's Kafka-protocol broker behind its proxy, the database
    migrated and the topics made; also the servers' process ids, for their memory."""
    if find_mosquitto() is None:
        raise InfrastructureError(
            "journeygate soak needs Mosquitto (the amqtt broker cannot take a killed bridge back)"
        )
    with contextlib.ExitStack() as stack:
        pg = EmbeddedPostgres(root / "postgres")
        broker = EmbeddedMqtt(root / "mqtt", prefer="mosquitto")
        for server in (pg, broker):
            stack.callback(server.stop)
            server.start()
        database_url = pg.url(DATABASE)
        ensure_database(database_url)
        migrate(database_url)
        lab = FaultLab(root / "lab", broker.url, database_url, seed=seed)
        stack.callback(lab.close)
        lab.start()
        settings = load_settings(
            mqtt_url=broker.url,
            kafka_bootstrap=lab.kafka_bootstrap,
            database_url=database_url,
            kafka_idempotence=False,
            bridge_id="soak-bridge",
        )
        asyncio.run(ensure_topics(settings))
        pids: dict[str, int] = {}
        for name, child in (
            ("postgres", pg.child),
            ("mosquitto", broker.child),
            ("tansu", lab.kafka.child),
        ):
            if child is not None:
                pids[name] = child.pid
        yield lab, settings, pids


def stage_settings_env(settings: Settings) -> dict[str, str]:
    return {
        "JOURNEYGATE_MQTT_URL": settings.mqtt_url,
        "JOURNEYGATE_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "JOURNEYGATE_KAFKA_IDEMPOTENCE": "false",
        "JOURNEYGATE_DATABASE_URL": settings.database_url,
        "JOURNEYGATE_BRIDGE_ID": settings.bridge_id,
    }


class Soak:
    """One soak run; :meth:`run` returns its report."""

    def __init__(
        self,
        options: SoakOptions,
        root: Path,
        say: Callable[[str], None] = lambda _: None,
    ) -> None:
        self.options = options
        self.root = root
        self.say = say
        self.rng = random.Random(options.seed)
        self.faults: list[FaultRecord] = []
        self.exits: list[Exit] = []
        self.restarts: dict[str, int] = {}
        self.killed: set[str] = set()

    def run(self) -> SoakReport:
        load_start = os.getloadavg()[0]
        started = time.monotonic()
        with soak_servers(self.root, self.options.seed) as (lab, settings, server_pids):
            base = stage_settings_env(settings)
            stages = Stages(base, self.root / "logs")
            lab.stages = stages
            try:
                for stage in STAGES:
                    stages.add(stage, stage, lab.stage_env(stage, base))
                stages.wait_for_bridge("bridge")
                report = self._drive(lab, settings, stages, server_pids, base)
            finally:
                stages.stop_all()
        report.elapsed_s = time.monotonic() - started
        report.load_avg = (load_start, os.getloadavg()[0])
        return report

    def _drive(
        self,
        lab: FaultLab,
        settings: Settings,
        stages: Stages,
        server_pids: dict[str, int],
        base: dict[str, str],
    ) -> SoakReport:
        o = self.options
        truth = self.root / "truth.jsonl"
        sim_port = free_port()
        argv = simulate_argv(
            vehicles=o.vehicles,
            days=o.days(),
            seed=o.seed,
            rate_per_s=o.rate_per_s,
            truth=truth,
            metrics_port=sim_port,
        )
        pids = {**server_pids, **{n: stages.pid(n) for n in stages.names}}
        watcher = Watcher(settings.database_url, sim_port, pids, every_s=0.5)
        watcher.rss_every_s = o.rss_every_s
        sim = Child("simulate", argv, log_path=self.root / "simulate.log", env=process_env(base))
        watcher.start()
        try:
            self.say(
                f"planning a fleet of {o.vehicles} vehicles over {o.days()} days to publish at"
                f" {o.rate_per_s:g} messages/s"
            )
            self._wait_for_publishing(sim, watcher)
            self.say(
                f"publishing for {o.minutes:g} min, a fault every ~{o.fault_interval_s:g} s"
                f" (seed {o.seed})"
            )
            end = time.monotonic() + o.seconds
            next_fault = time.monotonic() + self._interval()
            while time.monotonic() < end:
                self._check_simulator(sim)
                self._supervise(stages, watcher)
                # A fault only while there is time left to see it lifted and recovered from.
                if time.monotonic() >= next_fault and end - time.monotonic() > min(
                    20, o.seconds / 3
                ):
                    self._fault(lab, stages, watcher, end)
                    next_fault = time.monotonic() + self._interval()
                time.sleep(0.2)
            lab.restore()
            self._supervise(stages, watcher)
            self._check_simulator(sim)
            sim.ask_to_stop(signal.SIGINT)  # the fleet stops cleanly; its truth file ends
            try:
                sim.proc.wait(60)
            except subprocess.TimeoutExpired:
                raise InfrastructureError("the simulator did not stop within 60 s") from None
            self.say("fleet stopped; waiting for the pipeline to catch up")
            deadline = time.monotonic() + o.drain_timeout_s
            verdict = None
            while verdict is None or (not verdict.passed and time.monotonic() < deadline):
                self._supervise(stages, watcher)
                verdict = wait_for_verdict(settings, truth, min(10.0, o.drain_timeout_s))
        finally:
            watch = watcher.stop()
            sim.stop(timeout_s=5, sig=signal.SIGINT)
        document = verdict.as_dict()
        lines = read_truth(truth)
        document["published_messages"] = sum(1 for m in lines if m.get("type") == "message")
        self._recoveries(watch, lines)
        return SoakReport(
            options=o,
            elapsed_s=0.0,
            verdict=document,
            faults=self.faults,
            unplanned_exits=self.exits,
            memory=watch.rss,
            restarts=self.restarts,
            load_avg=(0.0, 0.0),
        )

    def _check_simulator(self, sim: Child) -> None:
        if not sim.alive():
            raise InfrastructureError(
                f"the simulator exited with status {sim.proc.returncode}: {sim.log_tail(3)}"
            )

    def _wait_for_publishing(self, sim: Child, watcher: Watcher) -> None:
        """Until the simulator has planned the fleet and published: the run's time starts then."""
        deadline = time.monotonic() + PLAN_TIMEOUT_S
        while watcher.watch.published_at(watcher.now()) == 0:
            self._check_simulator(sim)
            if time.monotonic() > deadline:
                raise InfrastructureError(
                    f"the simulator published nothing within {PLAN_TIMEOUT_S:.0f} s"
                )
            time.sleep(0.2)

    def _interval(self) -> float:
        return self.rng.uniform(0.5, 1.5) * self.options.fault_interval_s

    def _supervise(self, stages: Stages, watcher: Watcher) -> None:
        """Start again a stage that exited by itself, and note it."""
        for name, status in stages.exited():
            if name in self.killed:
                continue
            child = stages.child(name)
            self.exits.append(Exit(watcher.now(), name, status, child.log_tail(20)))
            self.say(f"UNPLANNED EXIT: {name} exited with status {status}; starting it again")
            self._restart(stages, watcher, name)

    def _restart(self, stages: Stages, watcher: Watcher, name: str) -> None:
        stages.start(name)
        self.restarts[name] = self.restarts.get(name, 0) + 1
        watcher.track(name, stages.pid(name))

    def _fault(self, lab: FaultLab, stages: Stages, watcher: Watcher, end: float) -> None:
        kind = self.rng.choice(FAULT_KINDS)
        room_s = max(1.0, (end - time.monotonic()) / 2)
        at_s = watcher.now()
        if kind == "kill":
            name = self.rng.choice(STAGES)
            down_s = min(room_s, self.rng.uniform(*STAGE_DOWN_S))
            record = FaultRecord(at_s, kind, name, f"SIGKILL, down {down_s:.1f} s")
            self.say(f"{at_s:7.1f} s  kill {name}")
            self.killed.add(name)
            stages.kill(name)
            time.sleep(down_s)
            self._restart(stages, watcher, name)
            self.killed.discard(name)
        else:
            if kind == "kafka-outage":
                hold_s = min(room_s, self.rng.uniform(*OUTAGE_S))
                record = FaultRecord(at_s, kind, "kafka", "every connection cut")
                self.say(f"{at_s:7.1f} s  Kafka outage for {hold_s:.1f} s")
                lab.kafka_outage()
            else:
                link: Link = self.rng.choice(LINKS)
                fault, hold_s = self._link_fault(kind, room_s)
                record = FaultRecord(at_s, kind, link.name, fault.describe())
                self.say(f"{at_s:7.1f} s  {link.name}: {fault.describe()} for {hold_s:.1f} s")
                lab.break_link(link, fault)
            self._hold(hold_s, stages, watcher)
            lab.restore()
        record.lifted_s = watcher.now()
        record.duration_s = record.lifted_s - at_s
        self.faults.append(record)

    def _link_fault(self, kind: str, room_s: float) -> tuple[Fault, float]:
        if kind == "partition":
            return Fault.cut(), min(room_s, self.rng.uniform(*OUTAGE_S))
        hold_s = min(room_s, self.rng.uniform(*DEGRADED_S))
        if kind == "slow":
            return Fault.delayed(round(self.rng.uniform(*SLOW_MS))), hold_s
        return Fault.lossy(reset_mean_s=round(self.rng.uniform(2.0, 8.0), 1)), hold_s

    def _hold(self, hold_s: float, stages: Stages, watcher: Watcher) -> None:
        until = time.monotonic() + hold_s
        while time.monotonic() < until:
            self._supervise(stages, watcher)
            time.sleep(min(0.2, max(0.0, until - time.monotonic())))

    def _recoveries(self, watch: Watch, lines: list[dict[str, Any]]) -> None:
        for record in self.faults:
            record.recovered_s = recovery_s(watch, lines, record.lifted_s)


def run_soak(options: SoakOptions, root: Path, say: Callable[[str], None]) -> SoakReport:
    """Run a soak under ``root`` (emptied first)."""
    if root.exists():
        import shutil

        shutil.rmtree(root)
    root.mkdir(parents=True)
    return Soak(options, root.resolve(), say).run()

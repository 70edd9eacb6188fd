"""The pipeline with its links breakable: stage processes by name, their servers behind fault
proxies, and the measures of a fault (how long the pipeline took to recover, memory over time).

Used by the network fault tests (``tests/e2e/test_fault_matrix.py``) and ``journeygate soak``.

- **Links.** Each stage's link to a server can be broken alone (:data:`LINKS`): the bridge
  reaches the MQTT broker, and the store writer PostgreSQL, through a proxy of their own (the
  other clients of those servers connect directly). Kafka clients connect to the address the
  broker advertises, so the lab runs a Kafka-protocol broker of its own that advertises its
  proxy: every Kafka client goes through that proxy, and a fault of one stage's Kafka link is
  scoped to the connections that stage's processes hold
  (:func:`journeygate.faultproxy.socket_owner`).
- **Kafka broker outage.** The embedded broker (Tansu) keeps its log in memory only, so
  restarting its process would also erase every topic, record and committed offset: not what a
  restart of Kafka, whose log is on disk, does. :meth:`FaultLab.kafka_outage` breaks every Kafka
  connection at once and refuses new ones for the outage, the broker's state kept: what each
  stage sees while a broker restarts.
- **Recovery.** After a fault is lifted, the pipeline has recovered once the store holds every
  sample of every valid message published before that moment (:func:`recovery_s`).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psutil

from database.inspect import store_counts
from journeygate.embedded.kafka import EmbeddedKafka
from journeygate.embedded.pipeline import STAGE_COMMANDS, PipelineProcesses, scrape_metrics
from journeygate.embedded.procs import Child, free_port
from journeygate.faultproxy import Fault, FaultProxy, Peer, ProxyThread, socket_owner
from kernel.errors import InfrastructureError

MQTT, KAFKA, POSTGRES = "mqtt", "kafka", "postgres"


@dataclass(frozen=True, slots=True)
class Link:
    """A stage's connection to one of its servers."""

    stage: str
    server: str

    @property
    def name(self) -> str:
        return f"{self.stage}-{self.server}"


LINKS = (
    Link("bridge", MQTT),
    Link("bridge", KAFKA),
    Link("normalize", KAFKA),
    Link("store", KAFKA),
    Link("store", POSTGRES),
)
LINKS_BY_NAME = {link.name: link for link in LINKS}


def via(url: str, port: int, host: str = "127.0.0.1") -> str:
    """``url`` with its host and port replaced (user and password kept)."""
    parts = urlsplit(url)
    user = parts.netloc.rpartition("@")[0]
    netloc = f"{user}@{host}:{port}" if user else f"{host}:{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    if parts.hostname is None or parts.port is None:
        raise InfrastructureError(f"{url}: no host and port")
    return parts.hostname, parts.port


# --- stage processes ------------------------------------------------------------------------


@dataclass(slots=True)
class _Instance:
    stage: str
    processes: PipelineProcesses


class Stages:
    """Stage processes by name (``bridge``, ``bridge-2``, ...), each with its own environment
    over a shared one, its log in ``log_dir/<name>/``."""

    def __init__(self, env: Mapping[str, str], log_dir: Path) -> None:
        self.env = dict(env)
        self.log_dir = log_dir
        self._instances: dict[str, _Instance] = {}
        self._lock = threading.Lock()

    @property
    def names(self) -> list[str]:
        return list(self._instances)

    def stage_of(self, name: str) -> str:
        return self._instances[name].stage

    def add(self, name: str, stage: str, env: Mapping[str, str] | None = None) -> None:
        """Start a process of ``stage`` named ``name``."""
        if stage not in STAGE_COMMANDS:
            raise ValueError(f"unknown stage {stage!r}")
        processes = PipelineProcesses({**self.env, **(env or {})}, self.log_dir / name)
        with self._lock:
            self._instances[name] = _Instance(stage, processes)
        self.start(name)

    def start(self, name: str) -> None:
        instance = self._instances[name]
        with self._lock:
            instance.processes.start(instance.stage)

    def kill(self, name: str) -> None:
        """SIGKILL, as in a crash."""
        instance = self._instances[name]
        instance.processes.kill(instance.stage)

    def child(self, name: str) -> Child:
        instance = self._instances[name]
        return instance.processes.children[instance.stage]

    def alive(self, name: str) -> bool:
        return self.child(name).alive()

    def pid(self, name: str) -> int:
        return self.child(name).pid

    def pids(self, names: Iterable[str]) -> list[int]:
        with self._lock:
            return [
                self._instances[n].processes.children[self._instances[n].stage].pid
                for n in names
                if n in self._instances
            ]

    def of_stage(self, stage: str) -> list[str]:
        return [n for n, i in self._instances.items() if i.stage == stage]

    def scrape(self, name: str) -> dict[str, float]:
        instance = self._instances[name]
        return instance.processes.scrape(instance.stage)

    def wait_for_bridge(self, name: str, timeout_s: float = 60.0) -> None:
        from journeygate.demo import wait_for_bridge

        wait_for_bridge(self._instances[name].processes, timeout_s)

    def exited(self) -> list[tuple[str, int | None]]:
        """Processes that are not running, with their exit status."""
        return [(n, self.child(n).proc.returncode) for n in self._instances if not self.alive(n)]

    def stop_all(self, timeout_s: float = 10.0) -> None:
        for instance in self._instances.values():
            for child in instance.processes.children.values():
                child.ask_to_stop()
        deadline = time.monotonic() + timeout_s
        for instance in self._instances.values():
            instance.processes.stop_all(max(deadline - time.monotonic(), 0.1))


# --- servers behind proxies -----------------------------------------------------------------


class FaultLab:
    """Proxies in front of the bridges' MQTT broker, the store writers' PostgreSQL and a
    Kafka-protocol broker of the lab's own that advertises its proxy (see the module docstring).
    """

    def __init__(self, root: Path, mqtt_url: str, database_url: str, *, seed: int = 0) -> None:
        """``mqtt_url`` and ``database_url`` name the servers the proxies forward to."""
        self.root = root
        self.mqtt_url = mqtt_url
        self.database_url = database_url
        self.seed = seed
        self.stages: Stages | None = None
        self._kafka_targets: tuple[str, ...] | None = None
        kafka_proxy_port = free_port()
        self.kafka = EmbeddedKafka(root / "kafka", advertised_port=kafka_proxy_port)
        self.proxies: dict[str, ProxyThread] = {}
        self._kafka_proxy_port = kafka_proxy_port

    def start(self) -> FaultLab:
        mqtt_host, mqtt_port = host_port(self.mqtt_url)
        pg_host, pg_port = host_port(self.database_url)
        for name, proxy in (
            (MQTT, FaultProxy(mqtt_host, mqtt_port, seed=self.seed, name=MQTT)),
            (POSTGRES, FaultProxy(pg_host, pg_port, seed=self.seed + 1, name=POSTGRES)),
            (
                KAFKA,
                FaultProxy(
                    self.kafka.host,
                    self.kafka.port,
                    listen_port=self._kafka_proxy_port,
                    scope=self._kafka_scope,
                    seed=self.seed + 2,
                    name=KAFKA,
                ),
            ),
        ):
            self.proxies[name] = ProxyThread(proxy).start()
        self.kafka.start()
        return self

    def close(self) -> None:
        for proxy in self.proxies.values():
            proxy.close()
        self.kafka.stop()

    @property
    def kafka_bootstrap(self) -> str:
        """Where every Kafka client of the lab connects: the proxy."""
        return f"127.0.0.1:{self._kafka_proxy_port}"

    def stage_env(self, stage: str, env: Mapping[str, str]) -> dict[str, str]:
        """``env`` (a stage's settings) with its breakable links sent through the proxies: Kafka
        for every process, the MQTT broker for a bridge, PostgreSQL for a store writer."""
        out = {**env, "JOURNEYGATE_KAFKA_BOOTSTRAP": self.kafka_bootstrap}
        if stage == "bridge":
            out["JOURNEYGATE_MQTT_URL"] = via(env["JOURNEYGATE_MQTT_URL"], self.proxies[MQTT].port)
        if stage == "store":
            out["JOURNEYGATE_DATABASE_URL"] = via(
                env["JOURNEYGATE_DATABASE_URL"], self.proxies[POSTGRES].port
            )
        return out

    def _kafka_scope(self, peer: Peer) -> bool:
        """Every Kafka connection during an outage; else those of the targeted stage."""
        if self._kafka_targets is None:
            return True
        pids = [] if self.stages is None else self.stages.pids(self._kafka_targets)
        return socket_owner(peer, pids) is not None

    def break_link(self, link: Link, fault: Fault) -> None:
        """Apply ``fault`` to ``link``: every process of its stage, on its server's proxy."""
        if link.server == KAFKA:
            if self.stages is None:
                raise RuntimeError("the lab has no stages to scope a Kafka link to")
            self._kafka_targets = tuple(self.stages.of_stage(link.stage))
        self.proxies[link.server].set_fault(fault)

    def kafka_outage(self, fault: Fault | None = None) -> None:
        """Break every Kafka connection at once (default: cut), as while a broker restarts."""
        self._kafka_targets = None
        self.proxies[KAFKA].set_fault(fault or Fault.cut())

    def restore(self) -> None:
        """Every link passes again."""
        for proxy in self.proxies.values():
            proxy.restore()


# --- watching the pipeline ------------------------------------------------------------------


def metric_total(port: int, name: str) -> float | None:
    """The sum over its labels of metric ``name`` of the process serving ``port``; None if the
    process does not serve it (yet)."""
    values = [v for k, v in scrape_metrics(port).items() if k == name or k.startswith(name + "{")]
    return sum(values) if values else None


PUBLISHED_METRIC = "journeygate_simulator_messages_published_total"


@dataclass(slots=True)
class Watch:
    """Series sampled while the pipeline runs: samples stored, messages published, and the
    resident memory of named processes."""

    stored: list[tuple[float, int]] = field(default_factory=list)
    published: list[tuple[float, int]] = field(default_factory=list)
    rss: dict[str, list[tuple[float, int]]] = field(default_factory=dict)

    def published_at(self, t: float) -> int:
        """Messages the simulator had reported published by ``t`` (a lower bound: it reports
        every few hundred)."""
        best = 0
        for when, n in self.published:
            if when > t:
                break
            best = n
        return best


class Watcher:
    """Samples a :class:`Watch` on a thread until stopped."""

    def __init__(
        self,
        database_url: str,
        simulator_port: int | None,
        processes: Mapping[str, int] | None = None,
        *,
        every_s: float = 0.25,
        rss_every_s: float = 5.0,
    ) -> None:
        self.database_url = database_url
        self.simulator_port = simulator_port
        self.processes: dict[str, int] = dict(processes or {})
        self.every_s = every_s
        self.rss_every_s = rss_every_s
        self.watch = Watch()
        self.origin = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="faultlab-watch", daemon=True)

    def now(self) -> float:
        """Seconds since the watcher was made (the time base of its series)."""
        return time.monotonic() - self.origin

    def track(self, name: str, pid: int) -> None:
        """Sample ``pid``'s memory as ``name`` from now on (a restarted process: its new pid)."""
        self.processes[name] = pid

    def start(self) -> Watcher:
        self._thread.start()
        return self

    def stop(self) -> Watch:
        self._stop.set()
        self._thread.join(10)
        return self.watch

    def _run(self) -> None:
        next_rss = 0.0
        while not self._stop.is_set():
            t = self.now()
            with contextlib.suppress(Exception):
                self.watch.stored.append((t, store_counts(self.database_url).samples))
            if self.simulator_port is not None:
                published = metric_total(self.simulator_port, PUBLISHED_METRIC)
                if published is not None:
                    self.watch.published.append((t, int(published)))
            if t >= next_rss:
                next_rss = t + self.rss_every_s
                for name, pid in list(self.processes.items()):
                    with contextlib.suppress(psutil.Error):
                        rss = int(psutil.Process(pid).memory_info().rss)
                        self.watch.rss.setdefault(name, []).append((t, rss))
            self._stop.wait(self.every_s)


def stored_samples_of_first(truth_lines: Sequence[Mapping[str, Any]], published: int) -> int:
    """Samples the store must hold once the first ``published`` messages of the plan (truth
    lines ``n`` < ``published``) are through: those of the valid ones."""
    return sum(
        int(m["samples"])
        for m in truth_lines
        if m.get("type") == "message" and m.get("expect") == "stored" and int(m["n"]) < published
    )


def recovery_s(
    watch: Watch, truth_lines: Sequence[Mapping[str, Any]], lifted_t: float
) -> float | None:
    """Seconds from ``lifted_t`` (a fault lifted) until the store held every sample of the
    messages published by then; None if it never did while watched."""
    expected = stored_samples_of_first(truth_lines, watch.published_at(lifted_t))
    for t, stored in watch.stored:
        if t >= lifted_t and stored >= expected:
            return t - lifted_t
    return None


# --- the simulator as a process -------------------------------------------------------------


def simulate_argv(
    *,
    vehicles: int,
    days: int,
    seed: int,
    rate_per_s: float,
    truth: Path,
    metrics_port: int,
    services: bool = False,
) -> list[str]:
    """``journeygate simulate`` publishing a fleet at a steady rate. Devices forget a message at
    its PUBACK (``--acks ignore``): what the pipeline then stores is owed to its own hop-by-hop
    guarantees, not to devices sending again."""
    return [
        sys.executable,
        "-m",
        "journeygate",
        "simulate",
        "--vehicles",
        str(vehicles),
        "--days",
        str(days),
        "--seed",
        str(seed),
        "--rate",
        f"{rate_per_s:g}",
        "--truth",
        str(truth),
        "--acks",
        "ignore",
        "--services" if services else "--no-services",
        "--metrics-port",
        str(metrics_port),
    ]


def process_env(env: Mapping[str, str]) -> dict[str, str]:
    return {**os.environ, **env}

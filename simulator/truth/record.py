"""The record of what a run sent and what really happened: JSON lines (docs/simulator.md).

One ``header``; the world's lines (dealers, vehicles, trajectories, events, where each vehicle
stands, its hidden future); a ``service_published`` line per service-history visit published
before the telemetry; one ``message`` line per publish (written as it is handed to the client); a
``service_published`` line per visit of the period; one ``end`` line. Line
rendering is pure (and, except for the end line, reproducible from the scenario, seed and
``now``); :class:`TruthWriter` only appends rendered lines to a file.
"""

from __future__ import annotations

import contextlib
import hashlib
from datetime import timedelta
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from kernel.errors import ConfigError
from simulator.publishing.downlink import DownlinkCounts
from simulator.publishing.plan import KIND_DUPLICATE, KIND_MALFORMED, Outgoing, Plan
from simulator.publishing.services import Delivered
from simulator.scenario.files import PublishSection, Scenario
from simulator.scenario.kinds import EXPECTATIONS
from simulator.truth.lines import line
from simulator.truth.vehicles import world_lines
from simulator.world.usage import to_ms

__all__ = [
    "TruthWriter",
    "end_line",
    "header_line",
    "message_line",
    "service_published_line",
    "world_lines",
]

TRUTH_FORMAT = "journeygate-simulator-truth"
TRUTH_VERSION = 5
EXPECT_STORED = "stored"
EXPECT_ABSORBED = "absorbed"
EXPECT_DEAD_LETTER = "dead_letter"


def header_line(
    plan: Plan, scenario: Scenario, publish: PublishSection, mqtt_topic_root: str, source: str
) -> bytes:
    market = plan.market
    horizon_end = plan.now.date() + timedelta(days=plan.params.horizon_days)
    return line(
        {
            "type": "header",
            "format": TRUTH_FORMAT,
            "version": TRUTH_VERSION,
            "scenario_source": source,
            "seed": plan.params.seed,
            "now": plan.now.isoformat(),
            "start": plan.start.isoformat(),
            "mqtt_topic_root": mqtt_topic_root,
            "max_payload_bytes": plan.params.max_payload_bytes,
            "future_tolerance_ms": plan.params.future_tolerance_ms,
            "scenario": scenario.as_json(),
            "publish": publish.model_dump(mode="json"),
            "vehicles": len(plan.fleet),
            "planned_messages": len(plan.messages),
            "horizon_days": plan.params.horizon_days,
            "horizon_end": horizon_end.isoformat(),
            "market": market.code if market is not None else "US",
            "currency": market.currency if market is not None else "USD",
            "currency_per_usd": market.factor if market is not None else 1.0,
            "dealers": len(plan.dealers),
        }
    )


def message_line(n: int, m: Outgoing) -> bytes:
    """Line ``n`` of the publish list (``n`` is the position in the plan)."""
    out: dict[str, Any] = {
        "type": "message",
        "n": n,
        "due_ms": m.publish_ms,
        "topic_vin": m.topic_vin,
        "kind": m.kind,
        "vin": m.vin,
        "boot_id": m.boot_id,
        "seq": m.seq,
        "samples": m.sample_count,
        "first_ts_ms": m.first_ts_ms,
        "last_ts_ms": m.last_ts_ms,
        "bytes": len(m.payload),
        "sha256": hashlib.sha256(m.payload).hexdigest(),
    }
    if m.odometer_m is not None:
        out["odometer_m"] = m.odometer_m
    if m.kind == KIND_DUPLICATE:
        out["expect"] = EXPECT_ABSORBED
        out["duplicate_of"] = m.duplicate_of
        return line(out)
    out["expect"] = EXPECT_DEAD_LETTER if m.kind == KIND_MALFORMED else EXPECT_STORED
    if m.fault is not None:
        expect = EXPECTATIONS[m.fault]
        out.update(fault=m.fault, expect_stage=expect.stage, expect_reason=expect.reason)
        if m.variant is not None:
            out["variant"] = m.variant
    if m.device is not None:
        out.update(_device_notes(m))
    return line(out)


def _device_notes(m: Outgoing) -> dict[str, Any]:
    assert m.device is not None
    device = m.device
    notes: dict[str, Any] = {}
    if m.tags:
        notes["faults"] = list(m.tags)
    if device.skew_ms:
        notes["clock_skew_ms"] = device.skew_ms
        notes["true_first_ts_ms"] = device.readings[0].true_ts_ms
        notes["true_last_ts_ms"] = device.readings[-1].true_ts_ms
    if device.glitches:
        notes["glitches"] = [
            {
                "sample_idx": g.sample_idx,
                "kind": g.kind,
                "reported_m": g.reported_m,
                "true_m": g.true_m,
            }
            for g in device.glitches
        ]
    if device.overtaken_by:
        notes["overtaken_by"] = device.overtaken_by
    return notes


def end_line(
    *,
    published: int,
    acknowledged: int,
    planned: int,
    interrupted: bool,
    elapsed_s: float,
    services_published: int | None = None,
    history_published: int | None = None,
    consent_published: int | None = None,
    rejected: int = 0,
    downlink: DownlinkCounts | None = None,
) -> bytes:
    """The last line: what was published, and (devices that honour acknowledgements) what the
    acknowledgements did: ``resent`` publishes, ``unconfirmed`` messages at the end,
    ``dropped_unconfirmed`` from full device outboxes."""
    acks: dict[str, int] | None = None
    if downlink is not None:
        acks = {
            "received": downlink.acks,
            "confirmed": downlink.confirmed,
            "resent": downlink.resent,
            "unconfirmed": downlink.unconfirmed,
            "dropped_unconfirmed": downlink.dropped,
        }
    return line(
        {
            "type": "end",
            "published": published,
            "acknowledged": acknowledged,
            "rejected": rejected,
            "planned": planned,
            "interrupted": interrupted,
            "services_published": services_published,
            "history_published": history_published,
            "consent_published": consent_published,
            "acks": acks,
            "elapsed_s": round(elapsed_s, 3),
        }
    )


def service_published_line(d: Delivered, *, history: bool = False) -> bytes:
    """A visit Kafka acknowledged on ``vehicle.services``, as it was published; ``history``: a
    visit of the service history before the period."""
    r = d.record
    return line(
        {
            "type": "service_published",
            "visit_id": r.visit_id,
            "vin": r.vin,
            "ts_ms": to_ms(r.visit_ts),
            "at": r.visit_ts.isoformat(),
            "odometer_m": r.odometer_m,
            "dealer_id": r.dealer_id,
            "currency": r.currency,
            "items": [
                {"kind": i.kind, "code": i.code, "description": i.description, "amount": i.amount}
                for i in r.items
            ],
            "invoiced_amount": r.invoiced_amount,
            "history": history,
            "topic": d.topic,
            "partition": d.partition,
            "offset": d.offset,
        }
    )


class TruthWriter:
    """Appends truth lines to ``path`` (nothing when ``path`` is None)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._file: IO[bytes] | None = None

    def __enter__(self) -> TruthWriter:
        if self.path is not None:
            try:
                self._file = self.path.open("wb")
            except OSError as exc:
                raise ConfigError(f"cannot write truth file {self.path}: {exc.strerror}") from None
        return self

    def write(self, line: bytes) -> None:
        if self._file is not None:
            try:
                self._file.write(line)
            except OSError as exc:  # a full disk, a file system gone read-only
                self._abandon()
                raise self._failed(exc) from None

    def _failed(self, exc: OSError) -> ConfigError:
        return ConfigError(f"cannot write truth file {self.path}: {exc.strerror or exc}")

    def _abandon(self) -> None:
        """Close after a failed write; what is still buffered cannot be written either."""
        file, self._file = self._file, None
        if file is not None:
            with contextlib.suppress(OSError):
                file.close()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        file, self._file = self._file, None
        if file is None:
            return
        try:
            file.close()  # flushes the buffer: the disk may be full only now
        except OSError as failure:
            if exc is None:
                raise self._failed(failure) from None

"""The normalizer's batch logic: values in, values out, no I/O.

A batch goes through :func:`validate_batch`, then (after the runner has refreshed the registry
when :func:`should_refresh` says so) :func:`plan_batch`, which turns it into the exact records to
produce and the offsets to commit once they are all acknowledged.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Container, Iterable, Sequence
from dataclasses import dataclass

from kernel import headers as h
from kernel.acks import RECEIPT_DEAD_LETTER, RECEIPT_REPEAT, encode_receipt
from kernel.deadletters import Reason
from kernel.kafka import OutRecord, SourceRecord, header
from kernel.vin import is_well_formed
from processors.normalize.dedupe import DedupeWindow
from processors.normalize.validate import (
    Accepted,
    Outcome,
    Rejected,
    Rules,
    validate,
)
from schemas.codec import FrameCodec


# Not frozen: one is built per message, and a frozen dataclass's __init__ costs ~5x more.
@dataclass(slots=True)
class FrameOut:
    """A frame to produce on ``telemetry.frames``."""

    key: bytes
    value: bytes
    frame_id: str
    samples: int
    ingest_ts_ms: int
    event_ts_ms: int
    """The newest sample's event time."""


@dataclass(frozen=True, slots=True)
class DeadLetterOut:
    """A raw record to produce, unchanged, on ``telemetry.dlq``."""

    record: SourceRecord
    reason: Reason
    detail: str


Output = FrameOut | DeadLetterOut


@dataclass(frozen=True, slots=True)
class BatchPlan:
    """Everything a batch produces, in input order, and the offsets to commit afterwards."""

    outputs: tuple[Output, ...]
    next_offsets: dict[tuple[str, int], int]
    duplicates: int
    seq_gaps: int
    check_digit_warnings: int
    receipts: tuple[OutRecord, ...] = ()
    """For ``telemetry.receipts`` (kernel/acks.py), the store writer's acknowledgements: a
    message of the record key's vehicle that produced no frame (dead-lettered, or dropped as a
    repeat); produced once the outputs are acknowledged."""

    @property
    def frames(self) -> int:
        return sum(1 for o in self.outputs if isinstance(o, FrameOut))

    @property
    def samples(self) -> int:
        return sum(o.samples for o in self.outputs if isinstance(o, FrameOut))

    def dead_by_reason(self) -> Counter[Reason]:
        return Counter(o.reason for o in self.outputs if isinstance(o, DeadLetterOut))


def validate_batch(records: Sequence[SourceRecord], rules: Rules) -> list[Outcome]:
    """Validate every record of a batch (one outcome per record, same order)."""
    return [validate(record, rules) for record in records]


def unknown_vin_ingest_times(
    records: Sequence[SourceRecord], outcomes: Sequence[Outcome], known_vins: Container[str]
) -> list[int]:
    """When each valid message whose VIN is not in ``known_vins`` came in: its ``ingest_ts_ms``,
    or, for a dead letter replayed since (``journeygate dlq replay``), the replay's time, since
    the operator fixed the registry before replaying it."""
    times = []
    for record, o in zip(records, outcomes, strict=True):
        if isinstance(o, Accepted) and o.vin not in known_vins:
            replayed = header(record.headers, h.HEADER_REPLAYED_TS_MS)
            again = int(replayed) if replayed is not None and replayed.isdigit() else 0
            times.append(max(o.ingest_ts_ms, again))
    return times


def should_refresh(
    unknown_ingest_ts_ms: Iterable[int],
    loaded_at_ms: int | None,
    now_ms: int,
    min_interval_ms: int,
) -> bool:
    """Whether to reload the registry before judging a batch's unknown VINs.

    Reload when the registry was never loaded, or when some message with an unknown VIN was
    ingested at or after the last load started (its vehicle may have been registered since),
    provided the last load started at least ``min_interval_ms`` ago. A message ingested before
    the last load cannot belong to a vehicle registered before its ingest yet missing from that
    load, so it never causes a reload: unknown VINs cost at most one query per interval.
    """
    if loaded_at_ms is None:
        return True
    if now_ms - loaded_at_ms < min_interval_ms:
        return False
    return any(ts >= loaded_at_ms for ts in unknown_ingest_ts_ms)


def next_offsets(records: Iterable[SourceRecord]) -> dict[tuple[str, int], int]:
    """Per ``(topic, partition)``, the offset after the last record: what to commit."""
    result: dict[tuple[str, int], int] = {}
    for rec in records:
        tp = (rec.topic, rec.partition)
        result[tp] = max(result.get(tp, 0), rec.offset + 1)
    return result


def plan_batch(
    records: Sequence[SourceRecord],
    outcomes: Sequence[Outcome],
    known_vins: Container[str],
    window: DedupeWindow,
    codec: FrameCodec,
) -> BatchPlan:
    """Turn validated records into outputs: frames, dead letters; recent repeats dropped.

    ``window`` is updated with every registered valid message. A dead letter whose ``boot_id``
    and ``seq`` were read, and a dropped repeat, also get a receipt.
    """
    outputs: list[Output] = []
    receipts: list[OutRecord] = []
    duplicates = gaps = warnings = 0
    for record, outcome in zip(records, outcomes, strict=True):
        if isinstance(outcome, Rejected):
            outputs.append(DeadLetterOut(record, outcome.reason, outcome.detail))
            if outcome.boot_id is not None and outcome.seq is not None:
                _receipt(receipts, record, RECEIPT_DEAD_LETTER, outcome.seq, outcome.boot_id)
            continue
        vin = outcome.vin
        warnings += outcome.check_digit_warning
        if vin not in known_vins:
            detail = f"vin {vin} is not in the vehicles registry"
            outputs.append(DeadLetterOut(record, Reason.UNKNOWN_VIN, detail))
            _receipt(receipts, record, RECEIPT_DEAD_LETTER, outcome.seq, outcome.boot_id)
            continue
        seen = window.observe(vin, outcome.boot_id, outcome.seq)
        gaps += seen.gap_seqs
        if seen.duplicate:
            duplicates += 1
            _receipt(receipts, record, RECEIPT_REPEAT, outcome.seq, outcome.boot_id)
            continue
        value = codec.encode_values(
            vin,
            outcome.boot_id,
            outcome.seq,
            outcome.ingest_ts_ms,
            outcome.bridge_id,
            outcome.sample_values(),
        )
        outputs.append(
            FrameOut(
                key=vin.encode(),
                value=value,
                frame_id=outcome.frame_id,
                samples=len(outcome.samples),
                ingest_ts_ms=outcome.ingest_ts_ms,
                event_ts_ms=max(s.ts_ms for s in outcome.samples),
            )
        )
    return BatchPlan(
        outputs=tuple(outputs),
        next_offsets=next_offsets(records),
        duplicates=duplicates,
        seq_gaps=gaps,
        check_digit_warnings=warnings,
        receipts=tuple(receipts),
    )


def _receipt(
    into: list[OutRecord], record: SourceRecord, kind: str, seq: int, boot_id: str
) -> None:
    """A receipt for the vehicle of the record key (the MQTT topic's: the device's identity),
    if the key is a VIN."""
    key = record.key
    if key is not None and is_well_formed(key.decode("ascii", "replace")):
        into.append(OutRecord(key, encode_receipt(kind, seq, boot_id), []))

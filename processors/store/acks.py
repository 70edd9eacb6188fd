"""Pure side of the store writer's acknowledgements: receipts in, records of telemetry.acks out.

The store writer is the one place that knows what is durable. In the transaction that stores a
batch it merges, per vehicle and boot, the sequence numbers the batch handled (the frames' and
the normalizer's dead letters', from :func:`decode_receipts`) into ``telemetry_acks``, and the
same statement says what that calls for (:mod:`processors.store.db`): a :class:`BatchAcks`, the
lines of ``telemetry.acks`` (``"<VIN> <seq> <boot_id>"``, kernel/acks.py) of the vehicles and
boots whose contiguous mark now covers some of what the batch handled, and the gaps that opened
and filled. :class:`PendingAcks` keeps those lines until the next send, once an interval, and
cuts them into records.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kernel.acks import AckFormatError, Receipt, decode_receipt
from kernel.kafka import SourceRecord
from processors.store.logic import Rejected

MAX_RECORD_BYTES = 512 * 1024
"""A record of telemetry.acks holds at most this many bytes of lines (well within a request)."""


@dataclass(frozen=True, slots=True)
class BatchAcks:
    """What a batch's ``telemetry_acks`` rows call for."""

    lines: bytes
    """Acknowledgements to send, one line each (empty: none)."""
    gaps_opened: int = 0
    """Seqs found missing below a higher handled one."""
    gaps_filled: int = 0
    """Missing seqs handled now."""

    def with_lines(self, more: str) -> BatchAcks:
        if not more:
            return self
        joined = self.lines + b"\n" + more.encode("ascii") if self.lines else more.encode("ascii")
        return BatchAcks(joined, self.gaps_opened, self.gaps_filled)


NO_ACKS = BatchAcks(b"")


@dataclass(frozen=True, slots=True)
class Receipts:
    """The receipts of a batch, split by what they mean; unreadable ones are dead letters."""

    covering: tuple[Receipt, ...]
    """Messages the normalizer dead-lettered: handled."""
    repeats: tuple[Receipt, ...]
    """Messages the normalizer dropped as repeats: the device is waiting for a confirmation."""
    rejected: tuple[Rejected, ...]


def decode_receipts(records: Sequence[SourceRecord]) -> Receipts:
    """Every record of ``telemetry.receipts`` in a batch, as receipts or dead letters."""
    covering: list[Receipt] = []
    repeats: list[Receipt] = []
    rejected: list[Rejected] = []
    for rec in records:
        try:
            receipt = decode_receipt(rec.key, rec.value)
        except AckFormatError as exc:
            rejected.append(Rejected(rec, "undecodable", f"receipt: {exc}"))
            continue
        (covering if receipt.covers else repeats).append(receipt)
    return Receipts(tuple(covering), tuple(repeats), tuple(rejected))


class PendingAcks:
    """Lines of acknowledgements waiting to be sent, sent once ``interval_s`` has passed since
    the last send. A vehicle's boot may have several lines (one per batch of the interval): the
    bridge publishes the highest of what it reads at once, and a device keeps the highest."""

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self._blobs: list[bytes] = []
        self._last_sent_s: float | None = None

    def __len__(self) -> int:
        return len(self._blobs)

    def add(self, lines: bytes) -> None:
        if lines:
            self._blobs.append(lines)

    def due(self, now_s: float) -> bool:
        """Whether there is something to send and the interval since the last send is over."""
        if not self._blobs:
            return False
        last = self._last_sent_s
        return last is None or now_s - last >= self.interval_s

    def take(self, now_s: float) -> list[bytes]:
        """The values of the records to send now (at most :data:`MAX_RECORD_BYTES` each, cut at
        line ends), forgotten here; the interval starts again at ``now_s``. Give back those
        whose send failed with :meth:`add`."""
        blobs, self._blobs = self._blobs, []
        self._last_sent_s = now_s
        records: list[bytes] = []
        for blob in blobs:
            records.extend(_cut(blob, MAX_RECORD_BYTES))
        return records


def _cut(blob: bytes, limit: int) -> list[bytes]:
    """``blob`` in pieces of at most ``limit`` bytes, cut at line ends (a line is far shorter)."""
    pieces: list[bytes] = []
    while len(blob) > limit:
        end = blob.rfind(b"\n", 0, limit + 1)
        if end <= 0:
            end = blob.find(b"\n", limit)
            if end < 0:
                break
        pieces.append(blob[:end])
        blob = blob[end + 1 :]
    if blob:
        pieces.append(blob)
    return pieces

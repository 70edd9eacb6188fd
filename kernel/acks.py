"""End-to-end acknowledgement: the records and the downlink that tell a device what is safe.

Three small contracts, each written and read by different processes (docs/architecture.md,
"End-to-end acknowledgement"; the device's side in docs/payload.md, "Acknowledgement"):

- a **receipt** (``telemetry.receipts``, normalizer → store writer) says that a device message
  reached the normalizer and produced no frame: it was dead-lettered (:data:`RECEIPT_DEAD_LETTER`:
  durably handled, it counts as covered) or dropped as a repeat (:data:`RECEIPT_REPEAT`: the
  device sent it again, so it is waiting for a confirmation). Key: the VIN of the record (the
  MQTT topic's, the device's identity); value: ``"<kind> <seq> <boot_id>"`` in ASCII (a
  ``boot_id`` holds no space);
- **acks** (``telemetry.acks``, store writer → bridge): one record, without a key, carries the
  acknowledgements of many vehicles, one per line, ``"<VIN> <seq> <boot_id>"`` in ASCII
  (:func:`encode_ack_lines`); the bridge publishes each as a downlink payload on
  ``{root}/{VIN}/ack``. A record per vehicle would cost the store writer and the bridge a Kafka
  record each, for a line of 40 bytes. A vehicle's acknowledgements may go out of order (a
  device keeps the highest);
- the **downlink payload** is JSON ``{"v": 1, "boot_id": B, "seq": N}``: every message of this
  vehicle with ``boot_id`` B and a ``seq`` from 0 to N is durably handled (stored, or
  dead-lettered), so the device may forget it.

Pure: values in, values out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import orjson

from kernel.vin import VIN_REGEX, is_well_formed

ACK_LEAF = "ack"
ACK_VERSION = 1
RECEIPT_DEAD_LETTER = "dead_letter"
RECEIPT_REPEAT = "repeat"
RECEIPT_KINDS = (RECEIPT_DEAD_LETTER, RECEIPT_REPEAT)
BOOT_ID_PATTERN = re.compile(r"[A-Za-z0-9._:-]{1,64}")
"""A ``boot_id`` as the device payload allows it (docs/payload.md)."""
SEQ_MAX = 2**53 - 1


class AckFormatError(ValueError):
    """A receipt or downlink payload that does not follow its contract."""


@dataclass(frozen=True, slots=True)
class Receipt:
    """A device message the normalizer handled without producing a frame."""

    vin: str
    boot_id: str
    seq: int
    kind: str

    @property
    def covers(self) -> bool:
        """Whether the message is durably handled (dead-lettered) rather than only repeated."""
        return self.kind == RECEIPT_DEAD_LETTER


@dataclass(frozen=True, slots=True)
class Ack:
    """Messages ``(vin, boot_id, 0..seq)`` are durably handled."""

    vin: str
    boot_id: str
    seq: int


def ack_topic(root: str, vin: str) -> str:
    """The downlink topic of one vehicle's acknowledgements."""
    return f"{root}/{vin}/{ACK_LEAF}"


def ack_subscription(root: str) -> str:
    """The filter of every vehicle's acknowledgements (a fleet simulator on shared connections)."""
    return f"{root}/+/{ACK_LEAF}"


def ack_topic_vin(root: str, topic: str) -> str | None:
    """The VIN of ``{root}/{VIN}/ack``, or None for any other topic."""
    match = re.fullmatch(f"{re.escape(root)}/({VIN_REGEX})/{ACK_LEAF}", topic)
    return match.group(1) if match else None


def encode_receipt(kind: str, seq: int, boot_id: str) -> bytes:
    """The value of a receipt (its key is the VIN)."""
    return f"{kind} {seq} {boot_id}".encode("ascii")


def decode_receipt(key: bytes | None, value: bytes | None) -> Receipt:
    """A receipt record; :class:`AckFormatError` if it is not one."""
    if key is None or value is None:
        raise AckFormatError("a receipt needs a key and a value")
    try:
        vin = key.decode("ascii")
        kind, seq_text, boot_id = value.decode("ascii").split(" ")
    except (UnicodeDecodeError, ValueError):
        raise AckFormatError(f"not a receipt: {value[:80]!r}") from None
    if kind not in RECEIPT_KINDS:
        raise AckFormatError(f"unknown receipt kind {kind[:40]!r}")
    return Receipt(vin, *_checked(vin, boot_id, seq_text), kind)


def encode_ack_lines(acks: Iterable[tuple[str, str, int]]) -> bytes:
    """The value of a ``telemetry.acks`` record: ``(vin, boot_id, seq)`` one per line."""
    return "\n".join(f"{vin} {seq} {boot_id}" for vin, boot_id, seq in acks).encode("ascii")


def decode_ack_lines(value: bytes | None) -> tuple[list[Ack], int]:
    """The acknowledgements of a ``telemetry.acks`` record, and how many lines were not one."""
    acks: list[Ack] = []
    bad = 0
    for line in (value or b"").split(b"\n"):
        try:
            vin, seq_text, boot_id = line.decode("ascii").split(" ")
            acks.append(Ack(vin, *_checked(vin, boot_id, seq_text)))
        except (UnicodeDecodeError, ValueError):
            bad += 1
    return acks, bad


def encode_ack(boot_id: str, seq: int) -> bytes:
    """The downlink payload acknowledging ``seq`` 0 to ``seq`` of boot ``boot_id``."""
    return orjson.dumps({"v": ACK_VERSION, "boot_id": boot_id, "seq": seq})


def decode_ack(vin: str, payload: bytes) -> Ack:
    """A downlink payload received on ``vin``'s ack topic; :class:`AckFormatError` if it is not
    one (a device ignores it)."""
    try:
        doc = orjson.loads(payload)
    except orjson.JSONDecodeError:
        raise AckFormatError("not JSON") from None
    if not isinstance(doc, dict) or doc.get("v") != ACK_VERSION:
        raise AckFormatError(f"not an acknowledgement v{ACK_VERSION}")
    boot_id, seq = doc.get("boot_id"), doc.get("seq")
    if not isinstance(boot_id, str) or isinstance(seq, bool) or not isinstance(seq, int):
        raise AckFormatError("boot_id must be a string and seq an integer")
    return Ack(vin, *_checked(vin, boot_id, str(seq)))


def _checked(vin: str, boot_id: str, seq_text: str) -> tuple[str, int]:
    if not is_well_formed(vin):
        raise AckFormatError(f"bad VIN {vin[:40]!r}")
    if BOOT_ID_PATTERN.fullmatch(boot_id) is None:
        raise AckFormatError(f"bad boot_id {boot_id[:80]!r}")
    if not seq_text.isdigit() or int(seq_text) > SEQ_MAX:
        raise AckFormatError(f"bad seq {seq_text[:40]!r}")
    return boot_id, int(seq_text)

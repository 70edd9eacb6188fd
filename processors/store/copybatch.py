"""A whole batch of Avro ``TelemetryFrame`` records to binary COPY rows at once, with numpy. Pure.

:func:`processors.store.copybin.frame_copy` walks one frame in Python: about fifteen
microseconds per sample on a small machine, most of the store writer's CPU. Here every field of
every frame in a batch is decoded as one vector operation: the frames are laid end to end in one
byte array, a position per frame steps through the fields in schema order (a varint is read for
all frames from a 10-byte window at each position, a double is 8 bytes reversed, a union branch
is one byte), the samples of frames with several are taken in rounds, and the rows of each
layout (the same text lengths and NULLs) are written as one two-dimensional block, a column slice
per field: byte for byte what :func:`frame_copy` writes, in the same order. Like
:func:`frame_copy`, it steps through a sample as :data:`schemas.sample.SAMPLE` declares it (the
runs of doubles derived from it, the rest checked against it by the unit tests).

Only the common shape goes this way: text that is printable ASCII, varints of at most 9 bytes,
times and indexes within PostgreSQL's ranges, union branches 0 or 2, a null or empty DTC list,
the samples in one array block of at most :data:`MAX_SAMPLES`. Any other frame, including every
malformed one, is left to :func:`frame_copy` (the caller's fallback), which decodes it or says
why not.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from processors.store.copybin import (
    DOUBLES_END,
    DOUBLES_MID,
    EMPTY_TEXT_ARRAY,
    INT_MAX,
    INT_MIN,
    MS_MAX,
    MS_MIN,
    PG_EPOCH_MS,
    TUPLE_HEAD,
    CopyRows,
)

MAX_SAMPLES = 64
"""Frames with more samples than this are left to the per-frame decoder."""
_PAD = 16  # zero bytes after the last frame: a 10-byte window never reads past the array
_WINDOW = np.arange(10, dtype=np.int64)
_SHIFTS = (np.arange(10, dtype=np.uint64) * np.uint64(7)).astype(np.uint64)
_REVERSED8 = np.arange(8, 0, -1, dtype=np.int64)  # a union double's bytes, last first
_NULL = np.frombuffer(b"\xff\xff\xff\xff", dtype=np.uint8)
_LEN8 = np.frombuffer(b"\x00\x00\x00\x08", dtype=np.uint8)
_LEN4 = np.frombuffer(b"\x00\x00\x00\x04", dtype=np.uint8)
_HEAD = np.frombuffer(TUPLE_HEAD, dtype=np.uint8)
_EMPTY_CODES = np.frombuffer(EMPTY_TEXT_ARRAY, dtype=np.uint8)

Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]
Bytes = npt.NDArray[np.uint8]


@dataclass(frozen=True, slots=True)
class BatchCopy:
    """The rows of the frames decoded here, and the indexes of the frames left to the caller."""

    rows: CopyRows
    rest: tuple[int, ...]


class _Cursor:
    """One position per frame in the batch's bytes, and whether each frame still decodes."""

    def __init__(self, buf: Bytes, pos: Ints, end: Ints, ok: Bools) -> None:
        self.buf, self.pos, self.end, self.ok = buf, pos, end, ok

    def _advance(self, to: Ints) -> None:
        past = to > self.end
        self.ok &= ~past
        self.pos = np.where(past, self.end, to)

    def varint(self) -> Ints:
        """The zig-zag long at each position (frames with a longer varint fail)."""
        window = self.buf[self.pos[:, None] + _WINDOW]
        last = window < 0x80
        used = last.argmax(axis=1) + 1
        self.ok &= last.any(axis=1) & (used <= 9)
        parts = np.where(
            _WINDOW[None, :] < used[:, None],
            (window & 0x7F).astype(np.uint64) << _SHIFTS,
            np.uint64(0),
        )
        raw = parts.sum(axis=1, dtype=np.uint64)
        value: Ints = (raw >> np.uint64(1)).astype(np.int64)
        value ^= -(raw & np.uint64(1)).astype(np.int64)
        self._advance(self.pos + used)
        return value

    def string(self) -> tuple[Ints, Ints]:
        """Start and length of the string at each position."""
        size = self.varint()
        start = self.pos
        room = self.end - start
        self.ok &= (size >= 0) & (size <= room)
        size = np.clip(size, 0, room)  # where it failed: still within the bytes
        self.pos = start + size
        return start, size

    def byte(self) -> Ints:
        value = self.buf[self.pos].astype(np.int64)
        self._advance(self.pos + 1)
        return value

    def branch(self) -> Bools:
        """A union's branch: True for the value (2), False for null (0); others fail."""
        value = self.byte()
        self.ok &= (value == 0) | (value == 2)
        present: Bools = value == 2
        return present

    def double(self) -> tuple[Bools, Bytes]:
        """An optional double: presence, and its 8 bytes big-endian."""
        present = self.branch()
        raw = self.buf[self.pos[:, None] + _REVERSED8 - 1]
        self._advance(np.where(present, self.pos + 8, self.pos))
        return present, raw

    def optional_long(self) -> tuple[Bools, Ints]:
        present = self.branch()
        value = self.varint_where(present)
        return present, value

    def varint_where(self, mask: Bools) -> Ints:
        """A varint where ``mask`` holds; elsewhere nothing is read (0)."""
        before_pos, before_ok = self.pos, self.ok.copy()
        value = self.varint()
        self.pos = np.where(mask, self.pos, before_pos)
        self.ok = np.where(mask, self.ok, before_ok)
        return np.where(mask, value, 0)

    def select(self, keep: Ints) -> _Cursor:
        return _Cursor(self.buf, self.pos[keep], self.end[keep], self.ok[keep].copy())


def batch_copy(values: Sequence[bytes]) -> BatchCopy:
    """The binary COPY rows of every frame of the common shape; the rest by index."""
    if not values:
        return BatchCopy(CopyRows(b"", 0), ())
    sizes = np.fromiter((len(v) for v in values), dtype=np.int64, count=len(values))
    end = np.cumsum(sizes)
    start = end - sizes
    buf = np.frombuffer(b"".join(values) + bytes(_PAD), dtype=np.uint8)
    cur = _Cursor(buf, start.copy(), end, np.ones(len(values), dtype=np.bool_))

    def ascii_text(begin: Ints, length: Ints) -> None:
        chars = buf[_spans(begin, length)]
        unprintable = (chars < 0x20) | (chars >= 0x7F)
        owner = np.repeat(np.arange(len(length)), length)
        cur.ok &= np.bincount(owner[unprintable], minlength=len(length)) == 0

    cur.string()  # frame_id: not a column
    vin_at, vin_len = cur.string()
    ascii_text(vin_at, vin_len)
    boot_at, boot_len = cur.string()
    ascii_text(boot_at, boot_len)
    seq = cur.varint()
    ingest_ms = cur.varint()
    cur.ok &= (ingest_ms >= MS_MIN) & (ingest_ms <= MS_MAX)
    cur.string()  # bridge_id: not a column
    count = cur.varint()
    cur.ok &= (count >= 1) & (count <= MAX_SAMPLES)

    rows = _Rows()
    frame_ok = cur.ok.copy()
    for k in range(int(count[cur.ok].max(initial=0))):
        active = np.flatnonzero(frame_ok & (count > k))
        sub = cur.select(active)
        rows.add(active, _sample(sub))
        frame_ok[active] &= sub.ok
        cur.pos[active] = sub.pos
    finished = frame_ok & (cur.buf[np.minimum(cur.pos, cur.end)] == 0) & (cur.pos < cur.end)
    frame_ok &= finished  # one block of samples, then the end of the array
    head = _Head(vin_at, vin_len, boot_at, boot_len, seq, ingest_ms)
    data, row_count = rows.copy(buf, head, frame_ok)
    rest = tuple(int(i) for i in np.flatnonzero(~frame_ok))
    return BatchCopy(CopyRows(data, row_count), rest)


@dataclass(frozen=True, slots=True)
class _Head:
    vin_at: Ints
    vin_len: Ints
    boot_at: Ints
    boot_len: Ints
    seq: Ints
    ingest_ms: Ints


@dataclass(frozen=True, slots=True)
class _Sample:
    index: Ints
    event_ms: Ints
    odometer: tuple[Bools, Ints]
    doubles: list[tuple[Bools, Bytes]]
    oil: tuple[Bools, Ints]
    codes: Bools


def _sample(cur: _Cursor) -> _Sample:
    index = cur.varint()
    cur.ok &= (index >= INT_MIN) & (index <= INT_MAX)
    event_ms = cur.varint()
    cur.ok &= (event_ms >= MS_MIN) & (event_ms <= MS_MAX)
    odometer = cur.optional_long()
    doubles = [cur.double() for _ in range(DOUBLES_MID)]
    oil = cur.optional_long()
    codes = cur.branch()
    empty = cur.varint_where(codes)
    cur.ok &= empty == 0  # a null or an empty list; a list with codes goes the slow way
    doubles += [cur.double() for _ in range(DOUBLES_END)]
    return _Sample(index, event_ms, odometer, doubles, oil, codes)


class _Rows:
    """Samples decoded round by round, written out as COPY tuples in (frame, sample) order."""

    def __init__(self) -> None:
        self.frames: list[Ints] = []
        self.samples: list[_Sample] = []

    def add(self, frames: Ints, sample: _Sample) -> None:
        self.frames.append(frames)
        self.samples.append(sample)

    def copy(self, buf: Bytes, head: _Head, frame_ok: Bools) -> tuple[bytes, int]:
        if not self.samples:
            return b"", 0
        frame = np.concatenate(self.frames)
        round_no = np.concatenate(
            [np.full(len(f), k, dtype=np.int64) for k, f in enumerate(self.frames)]
        )
        keep = frame_ok[frame]
        order = np.lexsort((round_no[keep], frame[keep]))
        pick = np.flatnonzero(keep)[order]
        frame = frame[pick]
        s = _concat(self.samples, pick)
        n = len(frame)
        if n == 0:
            return b"", 0
        vin_len, boot_len = head.vin_len[frame], head.boot_len[frame]
        fields: list[_Field] = [
            _always(n, 2, _const(_HEAD)),
            _Field(4 + vin_len, _text(buf, head.vin_at[frame], vin_len)),
            _Field(4 + boot_len, _text(buf, head.boot_at[frame], boot_len)),
            _always(n, 12, _int8(head.seq[frame])),
            _always(n, 8, _int4(s.index)),
            _always(n, 12, _int8((s.event_ms - PG_EPOCH_MS) * 1000)),
            _always(n, 12, _int8((head.ingest_ms[frame] - PG_EPOCH_MS) * 1000)),
            _optional(s.odometer[0], _int8(s.odometer[1])),
            *(_optional(present, _raw8(raw)) for present, raw in s.doubles[:DOUBLES_MID]),
            _optional(s.oil[0], _int8(s.oil[1])),
            _optional(s.codes, _const(_EMPTY_CODES), len(_EMPTY_CODES)),
            *(_optional(present, _raw8(raw)) for present, raw in s.doubles[DOUBLES_MID:]),
        ]
        return _assemble(fields, n), n


@dataclass(frozen=True, slots=True)
class _Field:
    """One column of every row: its size per row in bytes (length word included) and how to
    fill it; an optional field's size is 4 where it is NULL."""

    sizes: Ints
    fill: Filler
    optional: bool = False


Rows = Ints | slice
Filler = Callable[[Bytes, Rows], None]
"""Fills a block of rows by the field's size with the field of rows ``rows`` (all: a slice)."""


def _assemble(fields: list[_Field], n: int) -> bytes:
    """The COPY tuples of ``n`` rows, in order.

    Rows of one layout (the same size of every field: the same text lengths, the same NULLs)
    are written as one two-dimensional block, a column slice per field; a batch usually has one
    layout, which is then the output as it is. Several layouts are placed by row offsets.
    """
    sizes = np.stack([f.sizes for f in fields])  # fields by rows
    layout_of = _layouts(sizes)
    blocks: list[tuple[Ints, Bytes]] = []
    for number in range(int(layout_of.max()) + 1):
        rows = np.flatnonzero(layout_of == number)
        widths = sizes[:, rows[0]]
        block = np.empty((len(rows), int(widths.sum())), dtype=np.uint8)
        column = 0
        for field, width in zip(fields, widths.tolist(), strict=True):
            part = block[:, column : column + width]
            if field.optional and width == 4:
                part[:] = _NULL
            else:
                field.fill(part, slice(None) if len(rows) == n else rows)
            column += width
        blocks.append((rows, block))
    if len(blocks) == 1:
        return blocks[0][1].tobytes()
    row_size = sizes.sum(axis=0)
    at = np.cumsum(row_size) - row_size
    out = np.empty(int(row_size.sum()), dtype=np.uint8)
    for rows, block in blocks:
        out[at[rows][:, None] + np.arange(block.shape[1])] = block
    return out.tobytes()


def _layouts(sizes: Ints) -> Ints:
    """A number per row (column of ``sizes``), the same for rows with the same sizes: 0..k-1."""
    layout = np.zeros(sizes.shape[1], dtype=np.int64)
    for row in sizes:
        if row.min() == row.max():
            continue  # the same size in every row: no split
        _, codes = np.unique(row, return_inverse=True)
        _, layout = np.unique(layout * (int(codes.max()) + 1) + codes, return_inverse=True)
    return layout.reshape(-1)


def _const(value: Bytes) -> Filler:
    def fill(block: Bytes, rows: Rows) -> None:
        block[:] = value

    return fill


def _fixed(length: Bytes, body: Bytes) -> Filler:
    """A length word and a fixed-size body per row (``body``: one row of bytes per row)."""

    def fill(block: Bytes, rows: Rows) -> None:
        block[:, :4] = length
        block[:, 4:] = body[rows]

    return fill


def _int8(values: Ints) -> Filler:
    return _fixed(_LEN8, values.astype(">i8").view(np.uint8).reshape(-1, 8))


def _int4(values: Ints) -> Filler:
    return _fixed(_LEN4, values.astype(">i4").view(np.uint8).reshape(-1, 4))


def _raw8(raw: Bytes) -> Filler:
    return _fixed(_LEN8, raw)


def _spans(begin: Ints, length: Ints) -> Ints:
    """The indexes of every byte of the spans ``begin[i] .. begin[i] + length[i]``, in order."""
    total = int(length.sum())
    within = np.arange(total) - np.repeat(np.cumsum(length) - length, length)
    spans: Ints = np.repeat(begin, length) + within
    return spans


def _text(buf: Bytes, begin: Ints, length: Ints) -> Filler:
    """Text of one length per layout: its length word, then its bytes."""

    def fill(block: Bytes, rows: Rows) -> None:
        block[:, :4] = length[rows].astype(">i4").view(np.uint8).reshape(-1, 4)
        width = block.shape[1] - 4
        if width:
            block[:, 4:] = buf[begin[rows][:, None] + np.arange(width)]

    return fill


def _always(rows: int, size: int, fill: Filler) -> _Field:
    return _Field(np.full(rows, size, dtype=np.int64), fill)


def _optional(present: Bools, fill: Filler, size: int = 12) -> _Field:
    """A field that is NULL (4 bytes) where not ``present``."""
    return _Field(np.where(present, size, 4).astype(np.int64), fill, optional=True)


def _concat(samples: list[_Sample], pick: Ints) -> _Sample:
    """The rounds' samples as one, in the order ``pick``."""

    def cat(parts: Sequence[npt.NDArray[Any]]) -> npt.NDArray[Any]:
        return np.concatenate(parts)[pick]

    return _Sample(
        index=cat([s.index for s in samples]),
        event_ms=cat([s.event_ms for s in samples]),
        odometer=(cat([s.odometer[0] for s in samples]), cat([s.odometer[1] for s in samples])),
        doubles=[
            (cat([s.doubles[i][0] for s in samples]), cat([s.doubles[i][1] for s in samples]))
            for i in range(DOUBLES_MID + DOUBLES_END)
        ],
        oil=(cat([s.oil[0] for s in samples]), cat([s.oil[1] for s in samples])),
        codes=cat([s.codes for s in samples]),
    )

"""Opaque positions (pure): page cursors and the event ids of the alert stream.

A page cursor is the (created_ts, alert_id) of the last alert of a page, encoded as unpadded
base64url of the JSON ``[microseconds since the epoch, alert_id]``, so a cursor is exact to
PostgreSQL's microsecond and does not depend on a time zone.

A stream event id is a (stored_at, alert_id) position of ``GET /v1/alerts/stream``, encoded the
same way from ``["s", microseconds since the epoch, alert_id]``: the tag keeps a page cursor
from being taken for an event id, and the other way round.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime, timedelta

import orjson

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_LEN = 1024
_EVENT_TAG = "s"


class BadCursor(ValueError):
    """The text is not a cursor (or an event id) of this API."""


def _micros(at: datetime) -> int:
    if at.tzinfo is None:
        raise ValueError("a position's time must be timezone-aware")
    return (at - _EPOCH) // timedelta(microseconds=1)


def _encode(value: list[object]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(value)).rstrip(b"=").decode("ascii")


def _decode(text: str) -> object:
    if not text or len(text) > _MAX_LEN or not text.isascii():
        raise BadCursor("not a cursor of this API")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        return orjson.loads(raw)
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        raise BadCursor("not a cursor of this API") from None


def _position(micros: object, alert_id: object) -> tuple[datetime, str]:
    # an alert id with NUL cannot be stored (PostgreSQL text), so no position has one
    if type(micros) is not int or not isinstance(alert_id, str) or "\x00" in alert_id:
        raise BadCursor("not a cursor of this API")
    try:
        return _EPOCH + timedelta(microseconds=micros), alert_id
    except OverflowError:
        raise BadCursor("not a cursor of this API") from None


def encode_cursor(created_ts: datetime, alert_id: str) -> str:
    return _encode([_micros(created_ts), alert_id])


def decode_cursor(text: str) -> tuple[datetime, str]:
    """The (created_ts, alert_id) of a cursor; :class:`BadCursor` for anything else."""
    value = _decode(text)
    if not isinstance(value, list) or len(value) != 2:
        raise BadCursor("not a cursor of this API")
    return _position(value[0], value[1])


def encode_event_id(stored_at: datetime, alert_id: str) -> str:
    """The stream event id of the position (stored_at, alert_id)."""
    return _encode([_EVENT_TAG, _micros(stored_at), alert_id])


def decode_event_id(text: str) -> tuple[datetime, str]:
    """The (stored_at, alert_id) of a stream event id; :class:`BadCursor` for anything else
    (a page cursor included)."""
    value = _decode(text)
    if not isinstance(value, list) or len(value) != 3 or value[0] != _EVENT_TAG:
        raise BadCursor("not an event id of this API")
    position = _position(value[1], value[2])
    # stored_at is the store's clock: never before the epoch (nor near Python's first day, from
    # which the stream could not take its overlap)
    if position[0] < _EPOCH:
        raise BadCursor("not an event id of this API")
    return position

"""Opaque page cursors (pure): the (created_ts, alert_id) of the last alert of a page.

Encoded as unpadded base64url of the JSON ``[microseconds since the epoch, alert_id]``, so a
cursor is exact to PostgreSQL's microsecond and does not depend on a time zone.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime, timedelta

import orjson

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_LEN = 1024


class BadCursor(ValueError):
    """The text is not a cursor of this API."""


def encode_cursor(created_ts: datetime, alert_id: str) -> str:
    if created_ts.tzinfo is None:
        raise ValueError("created_ts must be timezone-aware")
    micros = (created_ts - _EPOCH) // timedelta(microseconds=1)
    raw = orjson.dumps([micros, alert_id])
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_cursor(text: str) -> tuple[datetime, str]:
    """The (created_ts, alert_id) of a cursor; :class:`BadCursor` for anything else."""
    if not text or len(text) > _MAX_LEN:
        raise BadCursor("not a cursor of this API")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        value = orjson.loads(raw)
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        raise BadCursor("not a cursor of this API") from None
    if (
        not isinstance(value, list)
        or len(value) != 2
        or type(value[0]) is not int
        or not isinstance(value[1], str)
    ):
        raise BadCursor("not a cursor of this API")
    try:
        created = _EPOCH + timedelta(microseconds=value[0])
    except OverflowError:
        raise BadCursor("not a cursor of this API") from None
    return created, value[1]

"""Bytes to a JSON value: orjson on the fast path, the stdlib only to explain a failure.

orjson accepts strict RFC 8259 JSON in UTF-8 and refuses ``NaN``, ``Infinity`` and numbers that
overflow a double. When it fails, the payload is parsed again with the stdlib :mod:`json` module
and hooks that flag non-finite numbers, so a payload is classified ``non_finite_number`` or
``invalid_json`` by what the parser met, never by the text of an error message.
"""

from __future__ import annotations

import json
import math
from typing import Any

import orjson

from kernel.deadletters import Reason
from kernel.errors import DataError


class _NonFinite(Exception):
    """Raised by the fallback parser's hooks when a number is not a finite double."""

    def __init__(self, literal: str) -> None:
        super().__init__(literal)
        self.literal = literal


def decode_json(data: bytes | None) -> Any:
    """Parse a payload, raising :class:`DataError` ``invalid_json`` or ``non_finite_number``."""
    if data is None:
        raise DataError(Reason.INVALID_JSON, "record has no value")
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        pass
    literal = _find_non_finite(data)
    if literal is not None:
        raise DataError(Reason.NON_FINITE_NUMBER, f"number {literal[:40]} is not a finite double")
    raise DataError(Reason.INVALID_JSON, "not a UTF-8 JSON document")


def _find_non_finite(data: bytes) -> str | None:
    """The first non-finite number literal in ``data`` if the stdlib parser reaches one."""
    try:
        text = data.decode("utf-8")
        json.loads(
            text,
            parse_constant=_reject_constant,
            parse_float=_check_float,
            parse_int=_check_int,
        )
    except _NonFinite as exc:
        return exc.literal
    except (ValueError, RecursionError):
        return None
    return None


def _reject_constant(literal: str) -> float:
    raise _NonFinite(literal)


def _check_float(literal: str) -> float:
    value = float(literal)
    if math.isinf(value):
        raise _NonFinite(literal)
    return value


def _check_int(literal: str) -> float:
    if math.isinf(float(literal)):
        raise _NonFinite(literal)
    return 0.0

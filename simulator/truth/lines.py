"""One truth line: a JSON object and a newline."""

from __future__ import annotations

from typing import Any

import orjson


def line(obj: dict[str, Any]) -> bytes:
    return orjson.dumps(obj) + b"\n"

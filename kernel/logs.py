"""Logging of a stage process: text or JSON lines on stderr, times in UTC, repeats held back.

``JOURNEYGATE_LOG_FORMAT=json`` writes one JSON object per line (``time`` in UTC ISO 8601,
``level``, ``logger``, ``message``, and ``exception`` with the traceback text when there is one);
``text`` (the default) one readable line. ``JOURNEYGATE_LOG_LEVEL`` sets the level.

During an outage a client library may log the same failure dozens of times a second (aiokafka:
about 60 ERROR lines a second while Kafka is away). :class:`RepeatFilter` lets the first record
of a kind through, then at most one every ``interval_s`` carrying how many were held back.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

LOG_FORMATS = ("text", "json")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# Records of one kind (logger, level, message template) shown at most once per this many seconds.
REPEAT_INTERVAL_S = 10.0
# Kinds remembered at most; past that the oldest half is forgotten (templates are few, but a
# message formatted before logging is a kind of its own).
_MAX_KINDS = 1000


def utc_iso(created_s: float) -> str:
    """``created_s`` (seconds since the epoch) as UTC ISO 8601 with milliseconds and ``Z``."""
    moment = datetime.fromtimestamp(created_s, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC), level, logger, message, exception text."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, str] = {
            "time": utc_iso(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            doc["exception"] = record.exc_text
        if record.stack_info:
            doc["stack"] = self.formatStack(record.stack_info)
        return json.dumps(doc, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """``2026-03-01T12:00:00.123Z WARNING journeygate.store: message``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return utc_iso(record.created)


class _Kind:
    __slots__ = ("held", "shown_s")

    def __init__(self, shown_s: float) -> None:
        self.shown_s = shown_s
        self.held = 0


class RepeatFilter(logging.Filter):
    """Lets the first record of a kind (logger, level, message template) at ``min_level`` or
    above through, then holds back the others of that kind for ``interval_s``; the first one
    after that goes through saying how many were held back. Lower levels always pass."""

    def __init__(
        self,
        interval_s: float = REPEAT_INTERVAL_S,
        *,
        min_level: int = logging.WARNING,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.interval_s = interval_s
        self.min_level = min_level
        self._clock = clock
        self._kinds: dict[tuple[str, int, str], _Kind] = {}
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < self.min_level:
            return True
        key = (record.name, record.levelno, str(record.msg))
        now = self._clock()
        with self._lock:
            kind = self._kinds.get(key)
            if kind is not None and now - kind.shown_s < self.interval_s:
                kind.held += 1
                return False
            held = kind.held if kind is not None else 0
            if len(self._kinds) >= _MAX_KINDS:
                for old in list(self._kinds)[: _MAX_KINDS // 2]:
                    del self._kinds[old]
            self._kinds[key] = _Kind(now)
        if held:
            # Appended to the template (no '%' in it), so the record's arguments still apply.
            record.msg = f"{record.msg} [{held} more like this held back in {self.interval_s:g} s]"
        return True


class _StageHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler :func:`configure_logging` installs (and replaces when called again)."""


def configure_logging(level: str = "INFO", fmt: str = "text") -> None:
    """Log to stderr at ``level`` in ``fmt`` (``text`` or ``json``), repeats held back.

    Calling it again reconfigures. Like :func:`logging.basicConfig`, it leaves alone a root
    logger that already has handlers of another owner (a test runner capturing logs)."""
    root = logging.getLogger()
    ours = [h for h in root.handlers if isinstance(h, _StageHandler)]
    if len(ours) < len(root.handlers):
        return
    for old in ours:
        root.removeHandler(old)
    handler = _StageHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(RepeatFilter())
    root.addHandler(handler)
    root.setLevel(level)
    # The Kafka client logs every reconnection attempt at INFO; warnings and errors are kept.
    logging.getLogger("aiokafka").setLevel(max(logging.WARNING, root.level))

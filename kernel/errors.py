"""The root of journeygate's exception tree.

Callers act on types and attributes, never on message text:

- :class:`DataError` -- the input is bad; the message goes to the dead-letter topic with ``reason``.
- :class:`InfrastructureError` -- a server is down or refused; ``retriable`` says whether to retry.
- :class:`ConfigError` -- bad flags, settings or files; reported as one line and exit status 2.
"""

from __future__ import annotations


class JourneygateError(Exception):
    """Base of every error journeygate raises on purpose."""


class ConfigError(JourneygateError):
    """A setting, flag or file is invalid. The message is one line meant for the operator."""


class InfrastructureError(JourneygateError):
    """A broker or database failed. Never dead-lettered: the stage retries or stops."""

    retriable: bool = True

    def __init__(self, message: str, *, retriable: bool = True) -> None:
        super().__init__(message)
        self.retriable = retriable


class DataError(JourneygateError):
    """A message is invalid. ``reason`` is a stable machine-readable code (see docs/payload.md)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


def first_line(exc: BaseException) -> str:
    """The first line of ``exc``'s message (a driver's may add the query and a caret), or its
    type's name when it has none: what a one-line report shows."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__

"""Typed reading of parsed TOML, with errors that name the entry and the field.

A :class:`Table` wraps one TOML table. Its getters check type and range and raise
:class:`ReferenceDataError` naming the entry (``codes[12] (P0420)``, ``service.ice``) and the
field; :meth:`Table.close` rejects fields nobody read, so a misspelt optional field is an error
rather than a silent default.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any, NoReturn


class ReferenceDataError(ValueError):
    """One problem with one field of one entry; the loader adds the file."""

    def __init__(self, entry: str, field: str, problem: str) -> None:
        self.entry, self.field, self.problem = entry, field, problem
        head = " ".join(p for p in (entry, f"field {field}" if field else "") if p)
        super().__init__(f"{head}: {problem}" if head else problem)


class Table:
    """One TOML table being read; ``entry`` names it in errors ("" for the file's top level)."""

    def __init__(self, data: Any, entry: str = "") -> None:
        if not isinstance(data, dict):
            raise ReferenceDataError(entry, "", f"must be a table, got {data!r}")
        self.entry = entry
        self._data: dict[str, Any] = data
        self._read: set[str] = set()

    def fail(self, field: str, problem: str) -> NoReturn:
        raise ReferenceDataError(self.entry, field, problem)

    def has(self, key: str) -> bool:
        return key in self._data

    def names(self) -> list[str]:
        return list(self._data)

    def raw(self, key: str) -> Any:
        self._read.add(key)
        if key not in self._data:
            self.fail(key, "missing")
        return self._data[key]

    def text(self, key: str, *, choices: Sequence[str] = (), pattern: str = "") -> str:
        value = self.raw(key)
        if not isinstance(value, str) or not value.strip():
            self.fail(key, f"must be a non-empty string, got {value!r}")
        if choices and value not in choices:
            self.fail(key, f"must be one of {', '.join(choices)}, got {value!r}")
        if pattern and not re.fullmatch(pattern, value):
            self.fail(key, f"must match {pattern}, got {value!r}")
        return value

    def texts(self, key: str, *, choices: Sequence[str] = ()) -> tuple[str, ...]:
        values = self.raw(key)
        if not isinstance(values, list) or not values:
            self.fail(key, f"must be a non-empty list, got {values!r}")
        for v in values:
            if not isinstance(v, str) or (choices and v not in choices):
                allowed = f"one of {', '.join(choices)}" if choices else "a string"
                self.fail(key, f"each item must be {allowed}, got {v!r}")
        if len(set(values)) != len(values):
            self.fail(key, f"has duplicates: {values!r}")
        return tuple(values)

    def number(
        self,
        key: str,
        *,
        minimum: float | None = None,
        maximum: float | None = None,
        positive: bool = False,
        default: float | None = None,
    ) -> float:
        if default is not None and key not in self._data:
            self._read.add(key)
            return default
        value = self.raw(key)
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            self.fail(key, f"must be a finite number, got {value!r}")
        if positive and value <= 0:
            self.fail(key, f"must be > 0, got {value!r}")
        if minimum is not None and value < minimum:
            self.fail(key, f"must be >= {minimum:g}, got {value!r}")
        if maximum is not None and value > maximum:
            self.fail(key, f"must be <= {maximum:g}, got {value!r}")
        return float(value)

    def integer(self, key: str, *, minimum: int | None = None) -> int:
        value = self.raw(key)
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(key, f"must be an integer, got {value!r}")
        if minimum is not None and value < minimum:
            self.fail(key, f"must be >= {minimum}, got {value!r}")
        return value

    def optional_integer(self, key: str, *, minimum: int | None = None) -> int | None:
        if key not in self._data:
            self._read.add(key)
            return None
        return self.integer(key, minimum=minimum)

    def table(self, key: str) -> Table:
        value = self.raw(key)
        if not isinstance(value, dict):
            self.fail(key, f"must be a table, got {value!r}")
        return Table(value, f"{self.entry}.{key}" if self.entry else key)

    def tables(self, key: str, *label_keys: str) -> list[Table]:
        """An array of tables; each is named ``key[i] (label)`` after its ``label_keys``."""
        values = self.raw(key)
        if not isinstance(values, list) or not values:
            self.fail(key, "must be a non-empty array of tables")
        prefix = f"{self.entry}.{key}" if self.entry else key
        out = []
        for i, value in enumerate(values):
            label = " ".join(
                str(value[k]) for k in label_keys if isinstance(value, dict) and k in value
            )
            out.append(Table(value, f"{prefix}[{i}] ({label})" if label else f"{prefix}[{i}]"))
        return out

    def close(self) -> None:
        """Reject fields that were never read (misspelt or unknown)."""
        for key in self._data:
            if key not in self._read:
                self.fail(key, "unknown field")


def check_version(top: Table, expected: int) -> None:
    """The file's ``version`` must be the one this code reads."""
    version = top.integer("version")
    if version != expected:
        top.fail("version", f"this code reads version {expected}, got {version}")

"""Signals processor: pure forecasting math (usage, time to a distance, warranty, service, equity).

Everything here takes values and returns values: no I/O, no Kafka, no database. The runner keeps
one :class:`~processors.signals.usage.UsageState` per vehicle and calls these functions.

Its values (memories, estimates, forecasts, views) are slotted dataclasses that no statement
changes once built, not declared frozen, and the hot ones have their ``__init__`` written out
(``init=False``): under mypyc a dataclass's generated ``__init__`` stays interpreted, and a
frozen one's sets each field through ``object.__setattr__`` (see
:class:`~processors.signals.memory.VehicleMemory`).
``tests/unit/processors/signals/test_signals_unchanged.py`` checks that no statement assigns
their fields and that each written-out ``__init__`` sets every field with its default.
"""

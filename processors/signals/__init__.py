"""Signals processor: pure forecasting math (usage, time to a distance, warranty, service, equity).

Everything here takes values and returns values: no I/O, no Kafka, no database. The runner keeps
one :class:`~processors.signals.usage.UsageState` per vehicle and calls these functions.
"""

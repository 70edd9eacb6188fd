"""The dealer HTTP API: dealers and their keys, the alerts and vehicles they may read
(docs/api.md)."""

"""The journey processor's bench input: valid signals of the registered fleet, in time order,
about as many as asked, that make the journey open gates and raise alerts."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime

from journeygate.bench.journey_input import consent_rows, signal_records
from journeygate.bench.lab import fleet_row
from journeygate.bench.payloads import Fleet
from processors.journey.logic import Decoded, process_batch
from processors.journey.machine import input_ms
from processors.journey.rules import default_rules
from processors.journey.state import Consent, VehicleJourney
from reference.catalog import default_catalog
from schemas.signals import SignalCodec

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


def test_records_decode_in_time_order_for_the_registered_dealers() -> None:
    fleet = Fleet(40)
    records = list(signal_records(fleet, 4_000, now=NOW))
    assert 3_000 <= len(records) <= 5_000
    codec = SignalCodec()
    signals = [codec.decode_signal(value) for _, value, _ in records]
    assert [s.vin.encode() for s in signals] == [key for key, _, _ in records]
    times = [input_ms(s) for s in signals]
    assert times == sorted(times) and max(times) <= NOW.timestamp() * 1000
    catalog = default_catalog()
    markets = [catalog.market("US")]
    dealers = {
        fleet.vin(i): fleet_row(i, catalog.models, markets, date(2026, 6, 1))[7] for i in range(40)
    }
    assert all(s.dealer_id == dealers[s.vin] for s in signals)
    assert Counter(s.kind for s in signals).keys() == {"warranty", "service", "equity", "fault"}


def test_the_journey_raises_alerts_on_it() -> None:
    fleet = Fleet(20)
    signals = [SignalCodec().decode_signal(v) for _, v, _ in signal_records(fleet, 3_000, now=NOW)]
    states = {}
    for vin, purpose, granted, at, _ in consent_rows(fleet):
        j = states.setdefault(str(vin), VehicleJourney(str(vin)))
        j.consent[str(purpose)] = Consent(bool(granted), int(at.timestamp() * 1000))  # type: ignore[attr-defined]
    decoded = Decoded(
        tuple(signals),
        (),
        {},
        Counter(),
        {s.vin: 0 for s in signals},
        {0: max(input_ms(s) for s in signals)},
    )
    out = process_batch(decoded, states, default_rules())
    kinds = Counter(a.alert_type for a in out.alerts)
    assert kinds["service_due"] > 0 and kinds["warranty_ending"] > 0, kinds

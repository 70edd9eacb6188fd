"""Everything the signals processor remembers of one vehicle, and its bytes in ``signal_state``.

:class:`VehicleMemory` never changes once built; every input makes a new one (:mod:`.logic`). Its
bytes::

    offset  size  field
    0       1     layout version (1)
    1       2     n, little-endian: size of the usage state (0 before any odometer reading,
                  else processors.signals.usage_state.STATE_BYTES = 352)
    3       n     usage state (UsageState.to_bytes)
    3 + n   rest  compact JSON (orjson) of the other fields, keys below; empty ones left out

    a   newest event time of any input, ms        d   time of the newest DTC report, ms
    f   active codes [[code, since_ms], ...]     s   last service [ms, odometer_m, visit_id]
    v   last visit [ms, odometer_m, visit_id]     r   codes repaired at the last visit
    w   wear replaced [[item, ms, odometer_m]]    i   ids of the last 4 visits applied
    b   last predicted bill [as_of_ms, currency, low, expected, high]
    e   last evaluation [as_of_ms, odometer_m]    q   once-only quality reasons published
    x   dealer price level [lines, log_sum] (processors.signals.calibration)
    l   part life brackets [[item, low, high or null]] (processors.signals.wearlife)
    n   days the owner came after each of the last 4 services fell due (processors.signals.
        lateness; at most 26 bytes)
    k   odometer quality: [[reason, utc_day]]     last day each reason was published
    t   newest frame sample time, ms (the vehicle's telemetry clock)
    h   visits held until the telemetry reaches them: [[visit_id, vin, ms, odometer_m,
        dealer_id, currency, [[kind, code, description, amount], ...]], ...] in time order
    g   fleet usage shift: [the vehicle's ratio bin or null, the 28-day epoch it counts in,
        the shift in bins last used] (processors.signals.fleetshift)
    y   the dealer's pooled price level last used [lines, log_sum]
        (processors.signals.dealerprices)
    o   dealer visits' priced lines not yet handed to the partition's pool:
        [[utc_day, dealer_id, lines, log_sum], ...]
    p   last published: {"u": [ms, km_per_day], "w": [[coverage, ms, p50_day, expired]],
                         "s": [ms, p50_day, bill_expected, due_soon, overdue],
                         "e": [ms, equity_expected, value_expected]}

A vehicle with a service history and a few codes active takes about 1,100 bytes (the part
brackets about 250 of them); with 32 active codes it stays under 2 KB (1,834 bytes measured).
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import orjson

from processors.signals.calibration import PriceLevel, level_in_force
from processors.signals.dates import ms_to_datetime
from processors.signals.materiality import (
    LastEquity,
    LastService,
    LastUsage,
    LastWarranty,
    Published,
)
from processors.signals.upkeep import ServicePoint, Upkeep
from processors.signals.usage_state import UsageState
from processors.signals.wearlife import Bracket
from schemas.services import ServiceItem, ServiceVisitRecord

VERSION = 1
RECENT_VISITS = 4
_HEAD = struct.Struct("<BH")
NOTHING_PUBLISHED = Published()
"""A new memory's record of what was published: nothing (shared: never changed once built)."""
PRIOR_PRICES = PriceLevel()
"""A new memory's dealer price level: the catalog's (shared: never changed once built)."""


@dataclass(slots=True, init=False)
class PredictedBill:
    """The service bill of the vehicle's last evaluation: what a visit's invoice is scored on."""

    as_of_ms: int
    currency: str
    low: float
    expected: float
    high: float

    def __init__(
        self,
        as_of_ms: int,
        currency: str,
        low: float,
        expected: float,
        high: float,
    ) -> None:
        self.as_of_ms = as_of_ms
        self.currency = currency
        self.low = low
        self.expected = expected
        self.high = high


@dataclass(slots=True, init=False)
class VehicleMemory:
    """Never changed once built (every input makes a new one, and the runner caches them):
    treat it as frozen. It is not declared frozen because a frozen dataclass's ``__init__``
    stays interpreted Python under mypyc, setting each field through ``object.__setattr__``:
    :meth:`after_frame` cost 3.4 µs so, 0.7 µs compiled. Its ``__init__`` is written out
    (``init=False``) because the decorator's, frozen or not, is interpreted too, each field set
    by name through the class's descriptors; written out, it is compiled (every frame builds a
    memory; tests/unit/processors/signals/test_signals_unchanged.py checks it sets every field).
    Only :attr:`_cold`, a cache of what the fields encode to, is ever set after ``__init__``."""

    usage: UsageState | None = None
    as_of_ms: int = 0
    """Newest event time of any input (frame sample or visit): the predictions' as-of."""
    dtcs_ts_ms: int = 0
    faults: tuple[tuple[str, int], ...] = ()
    """Active codes and the time each was raised, sorted by code."""
    last_service: ServicePoint | None = None
    last_visit: ServicePoint | None = None
    last_repairs: tuple[str, ...] = ()
    wear: tuple[tuple[str, int, int], ...] = ()
    """(item, ms, odometer_m) of each wear item's last replacement at a visit, sorted."""
    visit_ids: tuple[str, ...] = ()
    bill: PredictedBill | None = None
    published: Published = field(default_factory=Published)
    evaluated: tuple[int, int] | None = None
    """(as_of_ms, odometer_m) of the last evaluation."""
    reported: tuple[str, ...] = ()
    quality_days: tuple[tuple[str, int], ...] = ()
    prices: PriceLevel = field(default_factory=PriceLevel)
    wear_life: tuple[tuple[str, Bracket], ...] = ()
    """Each part's life-factor bracket from the dealer's replacements, sorted by item."""
    lateness: tuple[int, ...] = ()
    """Days the owner came after each of their last services fell due, oldest first."""
    frames_ms: int = 0
    """Newest event time of a frame sample: the vehicle's telemetry clock (0 before any)."""
    held: tuple[ServiceVisitRecord, ...] = ()
    """Visits newer than the telemetry clock, in time order: each is applied when the
    vehicle's telemetry reaches its time (:meth:`~processors.signals.vehicle.VehicleSignals.
    apply_visit`), so that a visit read ahead of the frames it follows in life (a lagging or
    replaying processor, the service history before any telemetry) is applied where it
    belongs."""
    usage_bin: int | None = None
    """The vehicle's recent-to-lifetime ratio at its last evaluation on a frame, as a bin of its
    log (:func:`processors.signals.fleetshift.ratio_bin`; None without one): what it counts for
    in its partition's histogram."""
    usage_epoch: int = 0
    """The 28-day epoch (:func:`processors.signals.fleetshift.epoch_of`) of the evaluation that
    gave :attr:`usage_bin`: the one of its partition's histograms it counts in."""
    usage_shift: int = 0
    """The fleet's usage shift, in bins, that its last evaluation took off its recent rate: an
    evaluation on a visit alone uses it again (:mod:`.fleetshift`)."""
    dealer_prices: PriceLevel | None = None
    """The dealer's pooled price level its last evaluation on a frame had in force (None: none
    yet): an evaluation on a visit alone uses it again (:mod:`.dealerprices`)."""
    unpooled: tuple[tuple[int, str, int, float], ...] = ()
    """(UTC day, dealer id, lines, log_sum) of each dealer visit whose priced lines have not
    been handed to the partition's pool yet: they are at the vehicle's next frame."""
    _cold: bytes | None = field(default=None, init=False, repr=False, compare=False)
    """The JSON of the fields a frame does not change (:func:`_cold_fields`), once encoded: it is
    handed on by :meth:`after_frame`, so that a vehicle's state is encoded in full only after
    an evaluation, a visit or a restart (a new memory from anything else starts without it)."""

    def __init__(
        self,
        usage: UsageState | None = None,
        as_of_ms: int = 0,
        dtcs_ts_ms: int = 0,
        faults: tuple[tuple[str, int], ...] = (),
        last_service: ServicePoint | None = None,
        last_visit: ServicePoint | None = None,
        last_repairs: tuple[str, ...] = (),
        wear: tuple[tuple[str, int, int], ...] = (),
        visit_ids: tuple[str, ...] = (),
        bill: PredictedBill | None = None,
        published: Published = NOTHING_PUBLISHED,
        evaluated: tuple[int, int] | None = None,
        reported: tuple[str, ...] = (),
        quality_days: tuple[tuple[str, int], ...] = (),
        prices: PriceLevel = PRIOR_PRICES,
        wear_life: tuple[tuple[str, Bracket], ...] = (),
        lateness: tuple[int, ...] = (),
        frames_ms: int = 0,
        held: tuple[ServiceVisitRecord, ...] = (),
        usage_bin: int | None = None,
        usage_epoch: int = 0,
        usage_shift: int = 0,
        dealer_prices: PriceLevel | None = None,
        unpooled: tuple[tuple[int, str, int, float], ...] = (),
    ) -> None:
        self.usage = usage
        self.as_of_ms = as_of_ms
        self.dtcs_ts_ms = dtcs_ts_ms
        self.faults = faults
        self.last_service = last_service
        self.last_visit = last_visit
        self.last_repairs = last_repairs
        self.wear = wear
        self.visit_ids = visit_ids
        self.bill = bill
        self.published = published
        self.evaluated = evaluated
        self.reported = reported
        self.quality_days = quality_days
        self.prices = prices
        self.wear_life = wear_life
        self.lateness = lateness
        self.frames_ms = frames_ms
        self.held = held
        self.usage_bin = usage_bin
        self.usage_epoch = usage_epoch
        self.usage_shift = usage_shift
        self.dealer_prices = dealer_prices
        self.unpooled = unpooled
        self._cold = None

    def after_frame(
        self,
        usage: UsageState | None,
        as_of_ms: int,
        frames_ms: int,
        faults: tuple[tuple[str, int], ...],
        dtcs_ts_ms: int,
    ) -> VehicleMemory:
        """``replace(self, usage=..., as_of_ms=..., frames_ms=..., faults=..., dtcs_ts_ms=...)``,
        built directly: what every frame changes (:func:`dataclasses.replace` walks the
        fields and costs several times more)."""
        m = VehicleMemory(
            usage,
            as_of_ms,
            dtcs_ts_ms,
            faults,
            self.last_service,
            self.last_visit,
            self.last_repairs,
            self.wear,
            self.visit_ids,
            self.bill,
            self.published,
            self.evaluated,
            self.reported,
            self.quality_days,
            self.prices,
            self.wear_life,
            self.lateness,
            frames_ms,
            self.held,
            self.usage_bin,
            self.usage_epoch,
            self.usage_shift,
            self.dealer_prices,
            self.unpooled,
        )
        m._cold = self._cold  # the fields it was given are the hot ones
        return m

    def after_evaluation(
        self,
        published: Published,
        bill: PredictedBill,
        evaluated: tuple[int, int],
        usage_bin: int | None,
        usage_epoch: int,
        usage_shift: int,
        dealer_prices: PriceLevel | None,
    ) -> VehicleMemory:
        """``replace(self, published=..., bill=..., evaluated=..., usage_bin=...,
        usage_epoch=..., usage_shift=..., dealer_prices=...)``, built directly: what every
        evaluation changes (the cold fields' encoding is made again)."""
        return VehicleMemory(
            self.usage,
            self.as_of_ms,
            self.dtcs_ts_ms,
            self.faults,
            self.last_service,
            self.last_visit,
            self.last_repairs,
            self.wear,
            self.visit_ids,
            bill,
            published,
            evaluated,
            self.reported,
            self.quality_days,
            self.prices,
            self.wear_life,
            self.lateness,
            self.frames_ms,
            self.held,
            usage_bin,
            usage_epoch,
            usage_shift,
            dealer_prices,
            self.unpooled,
        )

    @property
    def active_codes(self) -> tuple[str, ...]:
        return tuple(code for code, _ in self.faults)

    @property
    def price_factor(self) -> float:
        """The dealer's prices relative to the catalog's, as its last evaluation priced them."""
        return level_in_force(self.prices, self.dealer_prices).factor

    def upkeep(self) -> Upkeep:
        """What the bill needs of the vehicle's upkeep, priced as its last evaluation was."""
        return self.priced_upkeep(self.dealer_prices)

    def priced_upkeep(self, dealer_prices: PriceLevel | None) -> Upkeep:
        """:meth:`upkeep` priced at ``dealer_prices`` (its dealer's pool in force; None: none)
        where that counts more lines than the vehicle's own invoices, else at its own."""
        level = level_in_force(self.prices, dealer_prices)
        return Upkeep(
            last_service=self.last_service,
            last_visit=self.last_visit,
            wear_replaced=MappingProxyType({item: (ts, odo) for item, ts, odo in self.wear}),
            active_faults=self.active_codes,
            price_factor=level.factor,
            price_lines=level.lines,
            price_pooled=level is not self.prices,
            wear_factors=MappingProxyType({i: b.estimate for i, b in self.wear_life}),
            wear_life=MappingProxyType(dict(self.wear_life)),
            lateness=self.lateness,
        )

    def to_bytes(self) -> bytes:
        usage = b"" if self.usage is None else self.usage.to_bytes()
        cold = self._cold
        if cold is None:
            cold = orjson.dumps(_cold_fields(self))
            self._cold = cold
        return (
            _HEAD.pack(VERSION, len(usage)) + usage + _joined(orjson.dumps(_hot_fields(self)), cold)
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> VehicleMemory:
        """Decode :meth:`to_bytes`; ValueError for another version or a damaged state."""
        if len(data) < _HEAD.size:
            raise ValueError("vehicle memory too short")
        version, n = _HEAD.unpack_from(data)
        if version != VERSION:
            raise ValueError(f"unsupported vehicle memory version {version}")
        start = _HEAD.size
        usage = UsageState.from_bytes(bytes(data[start : start + n])) if n else None
        try:
            tail = orjson.loads(data[start + n :])
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"damaged vehicle memory: {exc}") from exc
        return _from_tail(usage, tail)


def _point(p: ServicePoint | None) -> list[Any] | None:
    return None if p is None else [p.ts_ms, p.odometer_m, p.visit_id]


def _hot_fields(m: VehicleMemory) -> dict[str, Any]:
    """The fields every frame may change (:meth:`VehicleMemory.after_frame`), empty ones left
    out."""
    out: dict[str, Any] = {
        "a": m.as_of_ms,
        "d": m.dtcs_ts_ms,
        "f": [list(f) for f in m.faults],
        "t": m.frames_ms,
    }
    return {k: v for k, v in out.items() if v}


def _cold_fields(m: VehicleMemory) -> dict[str, Any]:
    """The other fields, empty ones left out."""
    pub = m.published
    published: dict[str, Any] = {
        "u": None if pub.usage is None else [pub.usage.as_of_ms, pub.usage.km_per_day],
        "w": [[w.coverage, w.as_of_ms, w.p50_day, w.expired] for w in pub.warranty],
        "s": None
        if pub.service is None
        else [
            pub.service.as_of_ms,
            pub.service.p50_day,
            pub.service.bill_expected,
            pub.service.due_soon,
            pub.service.overdue,
        ],
        "e": None
        if pub.equity is None
        else [pub.equity.as_of_ms, pub.equity.equity_expected, pub.equity.value_expected],
    }
    b = m.bill
    out: dict[str, Any] = {
        "s": _point(m.last_service),
        "v": _point(m.last_visit),
        "r": list(m.last_repairs),
        "w": [list(w) for w in m.wear],
        "i": list(m.visit_ids),
        "b": None if b is None else [b.as_of_ms, b.currency, b.low, b.expected, b.high],
        "e": None if m.evaluated is None else list(m.evaluated),
        "q": list(m.reported),
        "k": [list(k) for k in m.quality_days],
        "x": [m.prices.lines, m.prices.log_sum] if m.prices.lines else None,
        "l": [[i, b.low, _finite(b.high)] for i, b in m.wear_life],
        "n": list(m.lateness),
        "p": {k: v for k, v in published.items() if v},
        "h": [_held(v) for v in m.held],
        "g": None
        if m.usage_bin is None and not m.usage_shift
        else [m.usage_bin, m.usage_epoch, m.usage_shift],
        "y": None if m.dealer_prices is None else [m.dealer_prices.lines, m.dealer_prices.log_sum],
        "o": [list(u) for u in m.unpooled],
    }
    return {k: v for k, v in out.items() if v}


def _joined(hot: bytes, cold: bytes) -> bytes:
    """One JSON object of two encoded ones with no key in common."""
    if hot == b"{}":
        return cold
    if cold == b"{}":
        return hot
    return hot[:-1] + b"," + cold[1:]


def _held(v: ServiceVisitRecord) -> list[Any]:
    ms = round(v.visit_ts.timestamp() * 1000)
    items = [[i.kind, i.code, i.description, i.amount] for i in v.items]
    return [v.visit_id, v.vin, ms, v.odometer_m, v.dealer_id, v.currency, items]


def _to_held(raw: Any) -> ServiceVisitRecord:
    visit_id, vin, ms, odometer_m, dealer_id, currency, items = raw
    return ServiceVisitRecord(
        str(visit_id),
        str(vin),
        ms_to_datetime(int(ms)),
        int(odometer_m),
        str(dealer_id),
        str(currency),
        tuple(
            ServiceItem(str(k), None if c is None else str(c), str(d), float(a))
            for k, c, d, a in items
        ),
    )


def _finite(x: float) -> float | None:
    return None if math.isinf(x) else x


def _to_point(raw: Any) -> ServicePoint | None:
    return None if raw is None else ServicePoint(int(raw[0]), int(raw[1]), str(raw[2]))


def _from_tail(usage: UsageState | None, t: dict[str, Any]) -> VehicleMemory:
    p = t.get("p", {})
    u, s, e = p.get("u"), p.get("s"), p.get("e")
    published = Published(
        usage=None if u is None else LastUsage(int(u[0]), float(u[1])),
        warranty=tuple(
            LastWarranty(str(c), int(ms), int(day), bool(x)) for c, ms, day, x in p.get("w", [])
        ),
        service=None
        if s is None
        else LastService(int(s[0]), int(s[1]), float(s[2]), bool(s[3]), bool(s[4])),
        equity=None if e is None else LastEquity(int(e[0]), float(e[1]), float(e[2])),
    )
    b = t.get("b")
    ev = t.get("e")
    x = t.get("x")
    g = t.get("g") or (None, 0, 0)
    y = t.get("y")
    return VehicleMemory(
        usage=usage,
        as_of_ms=int(t.get("a", 0)),
        dtcs_ts_ms=int(t.get("d", 0)),
        faults=tuple((str(c), int(ms)) for c, ms in t.get("f", [])),
        last_service=_to_point(t.get("s")),
        last_visit=_to_point(t.get("v")),
        last_repairs=tuple(str(c) for c in t.get("r", [])),
        wear=tuple((str(i), int(ms), int(odo)) for i, ms, odo in t.get("w", [])),
        visit_ids=tuple(str(i) for i in t.get("i", [])),
        bill=None
        if b is None
        else PredictedBill(int(b[0]), str(b[1]), float(b[2]), float(b[3]), float(b[4])),
        published=published,
        evaluated=None if ev is None else (int(ev[0]), int(ev[1])),
        reported=tuple(str(r) for r in t.get("q", [])),
        quality_days=tuple((str(r), int(d)) for r, d in t.get("k", [])),
        prices=PriceLevel() if x is None else PriceLevel(int(x[0]), float(x[1])),
        wear_life=tuple(
            (str(i), Bracket(float(lo), math.inf if hi is None else float(hi)))
            for i, lo, hi in t.get("l", [])
        ),
        lateness=tuple(int(x) for x in t.get("n", [])),
        frames_ms=int(t.get("t", 0)),
        held=tuple(_to_held(h) for h in t.get("h", [])),
        usage_bin=None if g[0] is None else int(g[0]),
        usage_epoch=int(g[1]),
        usage_shift=int(g[2]),
        dealer_prices=None if y is None else PriceLevel(int(y[0]), float(y[1])),
        unpooled=tuple((int(d), str(i), int(n), float(x)) for d, i, n, x in t.get("o", [])),
    )

"""The scorer on a hand-built truth: each method's errors are the ones computed by hand."""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from kernel.errors import ConfigError
from reference.catalog import default_catalog
from simulator.scoring.report import score_document, score_table
from simulator.scoring.score import score, true_service_due
from simulator.scoring.truth import ScoringTruth, VehicleTruth, read_scoring_truth

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
FLAT = {
    "mean_daily_km": 100.0,
    "weekday_factors": [1.0] * 7,
    "month_factors": [1.0] * 12,
    "departure_hours": [6, 12],  # every trip of the day has left by `now` (12:00)
    "day_sigma": 0.5,
    "zero_day_probability_weekday": 0.1,
    "zero_day_probability_weekend": 0.1,
}


def vehicle(**now: Any) -> VehicleTruth:
    vt = VehicleTruth("1HGCM82633A004352")
    vt.facts = {
        "delivery_date": "2025-03-01",
        "delivery_odometer_m": 0,
        "odometer_start_m": 24_000_000,
        "powertrain": "ice",
        "finance": {"kind": "loan"},
    }
    vt.now = {
        "usage": FLAT,
        "age_years": 1.0,
        "msrp_usd": 30_000.0,
        "curve_value_usd": 24_000.0,
        "market_factor": 1.0,
        "payoff_usd": 20_000.0,
        "equity": 3_500.0,
        "service": {
            "due_date": "2026-09-01",
            "due_by": "time",
            "due_odometer_m": 40_000_000,
        },
        **now,
    }
    # the period: 61 days from 2025-12-31, at 100 km a day, after 24,000 km in 305 days
    vt.trajectory = {
        "first_day": "2025-12-31",
        "odometer_m": [24_000_000 + 100_000 * i for i in range(61)],
    }
    # the true odometer: 100 km a day from 30,000 km at the end of `now`'s day
    vt.future = {
        "first_day": "2026-03-02",
        "odometer_m": [30_000_000 + 100_000 * (i + 1) for i in range(180)],
        "warranty": [
            {
                "coverage": "basic",
                "limit_km": 36_000.0,
                "time_limit_date": "2028-03-01",
                "expires_on": "2026-04-30",
                "binding": "distance",
            }
        ],
    }
    vt.services = [
        {
            "where": "dealer",
            "bill_usd": 400.0,
            "items": [{"kind": "scheduled", "cost_usd": 400.0}],
        }
    ]
    return vt


def prediction() -> dict[str, Any]:
    return {
        "odometer_m": 30_000_000,
        "warranty": [
            {
                "coverage": "basic",
                "expiry_p10": "2026-04-20",
                "expiry_p50": "2026-05-05",
                "expiry_p90": "2026-05-20",
            }
        ],
        "service": {
            "due_p10": "2026-04-25",
            "due_p50": "2026-05-10",
            "due_p90": "2026-05-25",
            "due_date": "2026-09-01",
            "due_odometer_m": 40_000_000,
            "bill_expected": 440.0,
        },
        "equity": {"equity_expected": 2_000.0},
    }


def test_each_method_is_scored_on_the_same_vehicle() -> None:
    truth = ScoringTruth(NOW, 180, "USD", 1.0, {"1HGCM82633A004352": vehicle()})
    s = score(truth, {"1HGCM82633A004352": prediction()}, default_catalog())
    assert s.predicted == 1
    w = s.warranty["31-90"]
    # truth: 60 days; journeygate P50 65 days; naive: 6,000 km at 30,000 km / 365 days;
    # oracle: 6,000 km at 100 km a day = 60 days
    assert w["journeygate"].median_abs_days == 5
    assert w["naive"].median_abs_days == pytest.approx(6000 / (30000 / 365) - 60)
    assert w["oracle"].median_abs_days == 0
    assert s.coverage["warranty"] == (1, 1.0)
    # service: 10,000 km to go at 100 km a day: day 100 (2026-06-09); predicted 2026-05-10
    assert s.service_due["journeygate"].median_abs_days == 30
    assert s.service_due["oracle"].median_abs_days == 0
    assert s.coverage["service"] == (1, 0.0)
    assert s.bill["journeygate"] == (1, pytest.approx(10.0))
    assert s.bill_foreseeable["journeygate"] == (1, pytest.approx(10.0))
    assert s.equity_sign["journeygate"] == (1, 1.0)
    assert s.equity_sign["oracle"] == (1, 1.0)


def test_the_oracle_counts_the_rest_of_the_period_s_last_day() -> None:
    # trips leave between 06:00 and 18:00, so half of the last day's 100 km is still to drive at
    # 12:00: the true odometer is 30,050 km at the end of that day, then 100 km a day
    vt = vehicle(usage={**FLAT, "departure_hours": [6, 18]})
    assert vt.future is not None
    vt.future["odometer_m"] = [30_050_000 + 100_000 * (i + 1) for i in range(180)]
    vt.future["warranty"][0]["expires_on"] = "2026-04-30"  # 5,950 km after the day: 59.5 days
    truth = ScoringTruth(NOW, 180, "USD", 1.0, {vt.vin: vt})
    s = score(truth, {vt.vin: prediction()}, default_catalog())
    assert s.warranty["31-90"]["oracle"].median_abs_days == 0
    pred = prediction()
    pred["as_of_ts"], pred["usage"] = NOW, {"km_per_day": 100.0}
    d = score(truth, {vt.vin: pred}, default_catalog()).distance
    assert d["oracle"].median_abs_days == 0
    # without the rest of the day, the oracle would be a day late on every distance
    vt.now["usage"] = FLAT
    d = score(truth, {vt.vin: pred}, default_catalog()).distance
    assert d["oracle"].median_abs_days == 1


def test_an_overdue_service_is_scored_on_the_day_its_distance_was_passed() -> None:
    # the dealer's schedule fell due at 29,000 km, passed 2026-02-20 (at 100 km a day, every
    # trip of the last day gone by noon); journeygate says so, the oracle counts back 1,000 km
    # of expected distance (today's 100 and nine days before), the naive forecaster 1,000 km at
    # 30,000 km / 365 days a day
    vt = vehicle(service={"due_date": "2026-02-20", "due_by": "distance", "due_odometer_m": 29e6})
    pred = prediction()
    pred["service"] = {
        **pred["service"],
        "due_p10": "2026-02-19",
        "due_p50": "2026-02-20",
        "due_p90": "2026-02-21",
        "due_odometer_m": 29_000_000,
    }
    truth = ScoringTruth(NOW, 180, "USD", 1.0, {vt.vin: vt})
    s = score(truth, {vt.vin: pred}, default_catalog())
    assert s.service_due["journeygate"].median_abs_days == 0
    assert s.service_due["oracle"].median_abs_days == 0
    # the naive day: noon less 12.17 days is 2026-02-17 16:00, three days before the truth's
    assert s.service_due["naive"].median_abs_days == 3
    assert s.coverage["service"] == s.coverage["service_uncertain"] == (1, 1.0)
    # known to the day: inside, but no evidence of how wide the uncertain intervals are
    pred["service"] = {**pred["service"], "due_p10": "2026-02-20", "due_p90": "2026-02-20"}
    s = score(truth, {vt.vin: pred}, default_catalog())
    assert s.coverage["service"] == (1, 1.0)
    n, share = s.coverage["service_uncertain"]
    assert n == 0 and math.isnan(share)


def test_true_service_due_is_the_earlier_of_time_and_distance() -> None:
    today = date(2026, 3, 1)
    assert true_service_due(vehicle(), today) == 100
    early = vehicle(service={"due_date": "2026-04-01", "due_by": "time", "due_odometer_m": 9e9})
    assert true_service_due(early, today) == 31
    past = vehicle(service={"due_date": "2026-02-20", "due_by": "distance", "due_odometer_m": 0})
    assert true_service_due(past, today) == -9


def test_a_service_elsewhere_is_not_scored_against_the_dealer() -> None:
    vt = vehicle()
    vt.last_service_where = "independent"
    truth = ScoringTruth(NOW, 180, "USD", 1.0, {vt.vin: vt})
    s = score(truth, {vt.vin: prediction()}, default_catalog())
    assert s.service_due["journeygate"].n == 0
    assert s.warranty["31-90"]["journeygate"].n == 1


def test_the_distance_forecast_is_scored_on_every_vehicle_from_journeygate_s_own_origin() -> None:
    truth = ScoringTruth(NOW, 180, "USD", 1.0, {"1HGCM82633A004352": vehicle()})
    pred = prediction()
    # journeygate read 30,000 km at the end of the period's last day, and drives 80 km a day
    pred["as_of_ts"] = datetime(2026, 3, 2, tzinfo=UTC)
    pred["usage"] = {"km_per_day": 80.0}
    d = score(truth, {"1HGCM82633A004352": pred}, default_catalog()).distance
    # truth: 100 km a day, so day d's odometer is 30,000 + 100 d km: journeygate takes 1.25 d
    # days from the end of today, so it dates the distances on days 50, 69, 88 and 107 (errors
    # 10, 14, 18, 22); the oracle knows 100 km a day; the naive forecaster drives 30,000 km /
    # 365 days a day from noon: days 49, 67, 85 and 103 (errors 9, 12, 15, 18)
    assert d["journeygate"].n == 4
    assert d["journeygate"].median_abs_days == (14 + 18) / 2
    assert d["oracle"].median_abs_days == 0
    assert d["naive"].median_abs_days == (12 + 15) / 2
    # the ideal reader weighs 59 whole days of 100 km (2.344 each: a day's variance is
    # e^0.25 / 0.9 - 1 of its mean's square) against the lifetime's 78.69 km a day (43.95:
    # e^0.15² - 1), so 94.86 km a day: days 43, 58, 74 and 90
    assert d["ideal"].median_abs_days == (3 + 4) / 2
    # a reading half a day before the end of the period: half a day less to go, days 50, 69,
    # 87 and 106
    pred["as_of_ts"] = datetime(2026, 3, 1, 12, tzinfo=UTC)
    d = score(truth, {"1HGCM82633A004352": pred}, default_catalog()).distance
    assert d["journeygate"].median_abs_days == (14 + 17) / 2


def test_the_equity_oracle_reads_the_curve_at_the_true_market_level() -> None:
    # the curve says 24,000 against a payoff of 20,000; the market pays 20 % under the curve,
    # so the true equity (3,500 here, the car's own condition included) may be negative
    down = vehicle(market_factor=0.8, equity=-1_200.0)
    truth = ScoringTruth(NOW, 180, "USD", 1.0, {"1HGCM82633A004352": down})
    s = score(truth, {"1HGCM82633A004352": prediction()}, default_catalog())
    assert s.equity_sign["oracle"] == (1, 1.0)  # 24,000 * 0.8 - 20,000 < 0, as the truth
    assert s.equity_sign["journeygate"] == (1, 0.0)  # predicted +2,000


def test_the_foreseeable_bill_leaves_out_unrelated_repairs_and_codes_raised_later() -> None:
    catalog = default_catalog()
    vt = vehicle(active_dtcs=["P0420"])
    vt.services = [
        {
            "where": "dealer",
            "bill_usd": 1_000.0,
            "items": [
                {"kind": "scheduled", "cost_usd": 300.0},
                {"kind": "wear", "code": "wiper_blades", "cost_usd": 50.0},
                {"kind": "repair", "code": "P0420", "cost_usd": 250.0},  # active at now
                {"kind": "repair", "code": "P0171", "cost_usd": 300.0},  # raised after now
                {"kind": "other", "cost_usd": 100.0},
            ],
        }
    ]
    truth = ScoringTruth(NOW, 180, "USD", 1.0, {vt.vin: vt})
    pred = prediction()
    pred["service"]["bill_expected"] = 660.0
    s = score(truth, {vt.vin: pred}, catalog)
    assert s.bill["journeygate"] == (1, pytest.approx(34.0))  # 660 against 1,000
    assert s.bill_foreseeable["journeygate"] == (1, pytest.approx(10.0))  # against 600
    scheduled = catalog.service["ice"].price.expected
    wiper = next(w for w in catalog.wear if w.item == "wiper_blades").price.expected
    p0420, p0171 = (catalog.fault(code) for code in ("P0420", "P0171"))
    assert p0420 is not None and p0171 is not None
    oracle = scheduled + wiper + p0420.cost.expected
    assert s.bill_foreseeable["oracle"] == (1, pytest.approx(abs(oracle - 600) / 6))
    assert s.bill["oracle"] == (
        1,
        pytest.approx(abs(oracle + p0171.cost.expected - 1000) / 10),
    )


def test_the_table_and_the_document_show_both_bill_figures() -> None:
    truth = ScoringTruth(NOW, 180, "USD", 1.0, {"1HGCM82633A004352": vehicle()})
    s = score(truth, {"1HGCM82633A004352": prediction()}, default_catalog())
    doc = score_document(s)
    assert doc["bill_mape_pct"]["journeygate"] == {"n": 1, "value": 10.0}
    assert doc["bill_foreseeable_mape_pct"]["journeygate"] == {"n": 1, "value": 10.0}
    console = Console(record=True, width=200)
    console.print(score_table(s))
    text = console.export_text()
    assert "service bill: median abs % error vs the invoice" in text
    assert "against the invoice's foreseeable part" in text
    # the dates have the ideal reader's column; the bill and the equity leave it empty
    assert "ideal" in text and doc["service_due"]["ideal"]["n"] == 1
    assert "ideal" not in doc["bill_mape_pct"] and "ideal" not in doc["equity_sign"]


def test_each_date_figure_has_journeygate_s_error_over_each_reference_s() -> None:
    truth = ScoringTruth(NOW, 180, "USD", 1.0, {"1HGCM82633A004352": vehicle()})
    s = score(truth, {"1HGCM82633A004352": prediction()}, default_catalog())
    assert set(s.ratios) == {
        "warranty 0-30",
        "warranty 31-90",
        "warranty 91-180",
        "distance",
        "service due",
    }
    # warranty 31-90: journeygate 5 days off, the naive forecaster 6000 / (30000 / 365) - 60
    naive = s.ratios["warranty 31-90"]["naive"]
    assert naive.n == 1
    assert naive.value == pytest.approx(5 / (6000 / (30000 / 365) - 60))
    assert s.ratios["warranty 31-90"]["oracle"].value == math.inf  # the oracle is exact
    assert s.ratios["warranty 0-30"]["naive"].n == 0
    doc = score_document(s)["error_ratios"]["warranty 31-90"]
    assert doc["naive"]["n"] == 1 and doc["oracle"]["value"] is None  # infinite: null


def test_a_truth_file_older_than_the_oracle_s_departure_hours_is_refused_in_one_line(
    tmp_path: Path,
) -> None:
    old = tmp_path / "truth.jsonl"
    header = {"type": "header", "format": "journeygate-simulator-truth", "version": 4}
    old.write_text(json.dumps({**header, "now": NOW.isoformat()}) + "\n")
    with pytest.raises(ConfigError, match=r"is version 4: need 5 or later \(its vehicles'"):
        read_scoring_truth(old)

"""The dealer inbox page in a real browser: Debian's chromium (``/usr/bin/chromium``, installed
by ``deploy/test-packages.sh``, which ``make test`` runs) driven by Playwright, against the API
served by uvicorn over a real PostgreSQL. A dealer signs in with its key, sees its alerts,
acknowledges one (the store says so), opens a vehicle whose odometer chart uPlot draws (a canvas
of non-zero size with pixels on it, no script error, nothing the CSP refuses), gets 404 for
another dealer's vehicle, and at a phone's width (390 px) nothing overflows sideways.
Screenshots are left in ``.artifacts/inbox-*.png`` under the repository."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import uvicorn
from playwright.sync_api import Browser, ConsoleMessage, Page, ViewportSize, sync_playwright
from psycopg.types.json import Jsonb

from dealers.api import create_app
from dealers.store import add_dealer
from journeygate.embedded.procs import free_port
from kernel.settings import Settings

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / ".artifacts"
T0 = datetime(2026, 3, 1, tzinfo=UTC)
PHONE: ViewportSize = {"width": 390, "height": 844}


def vin(n: int) -> str:
    return f"1HGCM82633A{n:06d}"


@dataclass
class Api:
    base: str
    settings: Settings
    key_a: str

    def alert_state(self, alert_id: str) -> str:
        with psycopg.connect(self.settings.database_url) as conn:
            row = conn.execute("SELECT state FROM alerts WHERE alert_id = %s", (alert_id,))
            found = row.fetchone()
        assert found is not None
        return str(found[0])


def seed(conn: psycopg.Connection[Any]) -> tuple[str, str]:
    """Dealers A (vehicles 1, 2) and B (vehicle 3), alerts, vehicle 1's telemetry (120 days)
    and predictions; the two keys."""
    key_a = add_dealer(conn, "DLR-A", "Dealer A").key
    key_b = add_dealer(conn, "DLR-B", None).key
    for n, dealer in ((1, "DLR-A"), (2, "DLR-A"), (3, "DLR-B")):
        conn.execute(
            "INSERT INTO vehicles (vin, brand, model, model_year, powertrain, delivery_date,"
            " dealer_id, market, currency) VALUES (%s, 'Honda', 'Accord', 2023, 'ice',"
            " '2023-04-01', %s, 'US', 'USD')",
            (vin(n), dealer),
        )
        conn.execute(
            "INSERT INTO consent_changes (vin, purpose, granted, changed_at, source)"
            " VALUES (%s, 'service_reminders', true, %s, 'test')",
            (vin(n), T0 - timedelta(days=400)),
        )
    alerts = [
        ("A-warranty", vin(1), "DLR-A", "warranty_ending", "high", 90,
         "Basic warranty ends in 31 days (2026-04-01), at 45,000 km."),
        ("A-service", vin(1), "DLR-A", "service_due", "medium", 50,
         "Next service due about 02 Apr 2026, about USD 310.00."),
        ("A-other", vin(2), "DLR-A", "service_due", "low", 30, "Service due in two months."),
        ("B-1", vin(3), "DLR-B", "service_due", "medium", 50, "Another dealer's alert."),
    ]  # fmt: skip
    for alert_id, v, dealer, kind, severity, priority, reason in alerts:
        conn.execute(
            "INSERT INTO alerts (alert_id, episode_id, vin, dealer_id, alert_type, stage,"
            " purpose, severity, priority, created_ts, expires_ts, reason, action, figures)"
            " VALUES (%s, %s, %s, %s, %s, 'early', 'service', %s, %s, %s, %s, %s,"
            " 'Invite the owner to book the service.', '[]')",
            (alert_id, f"{alert_id}:ep", v, dealer, kind, severity, priority, T0,
             T0 + timedelta(days=30), reason),
        )  # fmt: skip
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO telemetry (vin, boot_id, seq, sample_idx, event_ts, ingest_ts,"
            " odometer_m) VALUES (%s, 'b1', %s, 0, %s, %s, %s)",
            [
                (vin(1), n, at, at, 37_600_000 + n * 40_000 + (n % 7) * 3_000)
                for n in range(120)
                for at in [T0 - timedelta(days=120 - n) + timedelta(hours=18)]
            ],
        )
    conn.execute(
        "INSERT INTO vehicle_state (vin, dealer_id, as_of_ts, odometer_m, usage, warranty,"
        " service, predicted_as_of_ts) VALUES (%s, 'DLR-A', %s, 42370000, %s, %s, %s, %s)",
        (vin(1), T0 - timedelta(hours=6),
         Jsonb({"odometer_m": 42370000, "km_per_day": 40.0, "km_per_day_sd": 2.0,
                "daily_sd_km": 15.0, "history_days": 120, "recent_days": 64}),
         Jsonb([{"coverage": "basic", "expiry_p10": "2026-04-01", "expiry_p50": "2026-04-01",
                 "expiry_p90": "2026-04-01", "binds": "time", "days_remaining": 31,
                 "km_remaining": 2630.0, "expired": False, "time_end": "2026-04-01",
                 "limit_km": 45000.0}]),
         Jsonb({"due_p10": "2026-03-20", "due_p50": "2026-04-02", "due_p90": "2026-04-20",
                "due_date": "2026-04-01", "due_odometer_m": 45000000, "binds": "distance",
                "due_soon": True, "overdue": False, "days_remaining": 32,
                "km_remaining": 2630.0, "forecast_odometer_m": 45000000, "currency": "USD",
                "bill_low": 250.0, "bill_expected": 310.0, "bill_high": 420.0,
                "items": [{"kind": "scheduled", "code": None, "description": "Annual service",
                           "low": 250.0, "expected": 310.0, "high": 420.0, "covered": False,
                           "coverage": "none", "reason": "every 12 months or 15,000 km"}]}),
         T0 - timedelta(hours=6)),
    )  # fmt: skip
    return key_a, key_b


@pytest.fixture
def api(settings: Settings) -> Iterator[Api]:
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        key_a, _ = seed(conn)
    port = free_port()
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the API did not start"
        time.sleep(0.02)
    try:
        yield Api(f"http://127.0.0.1:{port}", settings, key_a)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def overflow_px(page: Page) -> int:
    """How far the page reaches beyond the viewport sideways (0: nothing overflows)."""
    width: int = page.evaluate(
        "() => Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"
        " - document.documentElement.clientWidth"
    )
    return width


def shot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"inbox-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    return path


def test_a_dealer_signs_in_acknowledges_and_sees_a_vehicles_chart(api: Api) -> None:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: install Debian's chromium with `bash deploy/test-packages.sh`"
            " (`make test` runs it first); this test never downloads a browser"
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            walk_through(api, browser)
        finally:
            browser.close()


def walk_through(api: Api, browser: Browser) -> None:
    """Sign in, acknowledge, open a vehicle, look at a phone's width, try another's vehicle."""
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    # signing in
    page.goto(f"{api.base}/inbox")
    assert page.url == f"{api.base}/inbox/login"
    page.fill("#key", "jg_" + "x" * 43)
    page.click("form.login button")
    assert "That key is not valid." in page.inner_text("main")
    assert errors == ["Failed to load resource: the server responded with a status of 401"
                      " (Unauthorized)"]  # fmt: skip
    errors.clear()  # the only error expected: from here on, none
    page.fill("#key", api.key_a)
    page.click("form.login button")
    page.wait_for_url(f"{api.base}/inbox")
    ids = page.locator("li.alert").evaluate_all("els => els.map(e => e.dataset.alertId)")
    assert ids == ["A-warranty", "A-service", "A-other"]
    assert "Basic warranty ends in 31 days" in page.inner_text("li[data-alert-id=A-warranty]")

    # acknowledging one from a filtered list keeps the filter
    page.fill("input[name=vehicle]", vin(1))
    page.click("form.filters button")
    page.wait_for_url(f"{api.base}/inbox?type=&state=new&state=acknowledged&vehicle={vin(1)}")
    page.click("li[data-alert-id=A-service] form.ack button")
    page.wait_for_url(f"{api.base}/inbox?vehicle={vin(1)}")
    assert api.alert_state("A-service") == "acknowledged"
    assert page.inner_text("li[data-alert-id=A-service] .state") == "acknowledged"
    assert page.locator("li[data-alert-id=A-service] form.ack").count() == 0
    assert page.locator("li.alert").count() == 2
    shot(page, "alerts")

    # the vehicle page draws its chart
    page.click("li[data-alert-id=A-warranty] a.vin")
    page.wait_for_url(f"{api.base}/inbox/vehicles/{vin(1)}")
    canvas = page.wait_for_selector("#odometer-chart canvas")
    assert canvas is not None
    drawn = page.evaluate(
        """() => {
            const c = document.querySelector("#odometer-chart canvas");
            const data = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
            let inked = 0;
            for (let i = 3; i < data.length; i += 4) if (data[i] > 0) inked++;
            const box = c.getBoundingClientRect();
            return {width: box.width, height: box.height, inked: inked};
        }"""
    )
    assert drawn["width"] > 300 and drawn["height"] > 100, drawn
    assert drawn["inked"] > 1000, drawn
    assert "Annual service" in page.inner_text("table.bill")
    assert "45,000 km" in page.inner_text("table.warranty")
    shot(page, "vehicle")

    # at a phone's width nothing overflows sideways, and the chart fits
    page.set_viewport_size(PHONE)
    page.reload()
    page.wait_for_selector("#odometer-chart canvas")
    assert overflow_px(page) <= 0
    box = page.locator("#odometer-chart canvas").bounding_box()
    assert box is not None and 0 < box["width"] <= PHONE["width"]
    shot(page, "vehicle-390")
    page.goto(f"{api.base}/inbox")
    assert overflow_px(page) <= 0
    shot(page, "alerts-390")
    assert errors == []

    # another dealer's vehicle is not found
    response = page.goto(f"{api.base}/inbox/vehicles/{vin(3)}")
    assert response is not None and response.status == 404
    assert "No vehicle with this VIN is available to this dealer." in page.inner_text("main")
    assert overflow_px(page) <= 0
    context.close()

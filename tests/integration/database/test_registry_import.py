"""``journeygate registry import|export`` against a real PostgreSQL: upsert, rejects, consent."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from kernel.settings import Settings

pytestmark = pytest.mark.integration

HEADER = (
    "vin,brand,model,model_year,powertrain,delivery_date,delivery_odometer_km,dealer_id,market,"
    "currency,finance_kind,finance_amount,finance_apr_pct,finance_term_months,finance_start,"
    "finance_balloon,consent_service_reminders,consent_marketing_offers,consent_location,"
    "consent_at,list_price"
)
CIVIC = (
    "1HGCM82633A004352,Honda,Civic,2023,ice,2023-03-14,12.5,dealer-7,US,USD,loan,22000,6.9,60,"
    "2023-03-14,,true,false,,2023-03-14T10:00:00Z,27850.00"
)
EV6 = "KNDC3DLC5N5012345,Kia,EV6,2022,ev,2022-06-01,0,dealer-9,DE,EUR,cash,,,,,,true,true,true,,"


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    if args[:2] == ("registry", "import") and "--publish" not in args:
        args = (*args, "--no-publish")
    return subprocess.run(
        [sys.executable, "-m", "journeygate", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_import_upserts_accepted_rows_and_names_each_rejected_line(
    settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "fleet.csv"
    bad = CIVIC.replace("1HGCM82633A004352", "WVWZZZE12NP01234O")
    path.write_text("\n".join((HEADER, CIVIC, bad, EV6)) + "\n")
    result = run_cli("registry", "import", str(path), "--database-url", settings.database_url)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        f"{path}:3: rejected: vin 'WVWZZZE12NP01234O' is not 17 characters of [A-HJ-NPR-Z0-9]"
    ]
    assert "2 vehicles upserted, 1 rows rejected" in result.stdout
    with psycopg.connect(settings.database_url) as conn:
        rows = conn.execute(
            "SELECT vin, delivery_odometer_m, market, currency, finance_kind, finance_amount,"
            " list_price FROM vehicles ORDER BY vin"
        ).fetchall()
        consent = conn.execute(
            "SELECT vin, purpose, granted FROM consent_current ORDER BY vin, purpose"
        ).fetchall()
    assert [(r[0], r[1], r[2], r[3], r[4], float(r[5] or 0), r[6]) for r in rows] == [
        ("1HGCM82633A004352", 12_500, "US", "USD", "loan", 22000.0, Decimal("27850.00")),
        ("KNDC3DLC5N5012345", 0, "DE", "EUR", "cash", 0.0, None),
    ]
    assert consent == [
        ("1HGCM82633A004352", "marketing_offers", False),
        ("1HGCM82633A004352", "service_reminders", True),
        ("KNDC3DLC5N5012345", "location", True),
        ("KNDC3DLC5N5012345", "marketing_offers", True),
        ("KNDC3DLC5N5012345", "service_reminders", True),
    ]


def test_export_writes_what_import_reads_and_a_second_import_changes_nothing(
    settings: Settings, tmp_path: Path
) -> None:
    source = tmp_path / "fleet.csv"
    source.write_text("\n".join((HEADER, CIVIC, EV6)) + "\n")
    db = ("--database-url", settings.database_url)
    assert run_cli("registry", "import", str(source), *db).returncode == 0
    exported = tmp_path / "out.jsonl"
    result = run_cli("registry", "export", str(exported), *db)
    assert result.returncode == 0, result.stderr
    assert len(exported.read_text().splitlines()) == 2
    assert '"list_price":"27850.00"' in exported.read_text().splitlines()[0]
    with psycopg.connect(settings.database_url) as conn:
        before = conn.execute("SELECT count(*) FROM consent_changes").fetchone()
    again = run_cli("registry", "import", str(exported), *db)
    assert again.returncode == 0, again.stderr
    second = tmp_path / "again.jsonl"
    assert run_cli("registry", "export", str(second), *db).returncode == 0
    assert second.read_text() == exported.read_text()
    with psycopg.connect(settings.database_url) as conn:
        assert conn.execute("SELECT count(*) FROM consent_changes").fetchone() == before


def test_owner_id_is_imported_exported_and_a_bad_one_rejected_on_its_line(
    settings: Settings, tmp_path: Path
) -> None:
    db = ("--database-url", settings.database_url)
    path = tmp_path / "owners.csv"
    bad = EV6.replace("KNDC3DLC5N5012345", "WVWZZZE12NP012345")
    path.write_text(
        "\n".join((HEADER + ",owner_id", CIVIC + ",crm-1042", EV6 + ",", bad + ",crm 9")) + "\n"
    )
    result = run_cli("registry", "import", str(path), *db)
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip().splitlines() == [
        f"{path}:4: rejected: owner_id 'crm 9' is not 1-64 characters of letters, digits and"
        " ._:@- (starting with a letter or digit)"
    ]
    with psycopg.connect(settings.database_url) as conn:
        owners = conn.execute("SELECT vin, owner_id FROM vehicles ORDER BY vin").fetchall()
    assert owners == [("1HGCM82633A004352", "crm-1042"), ("KNDC3DLC5N5012345", None)]
    exported = tmp_path / "out.jsonl"
    assert run_cli("registry", "export", str(exported), *db).returncode == 0
    civic, ev6 = exported.read_text().splitlines()
    assert '"owner_id":"crm-1042"' in civic and "owner_id" not in ev6
    as_csv = run_cli("registry", "export", *db)
    assert as_csv.stdout.splitlines()[0].endswith(",list_price,owner_id")
    assert as_csv.stdout.splitlines()[1].endswith(",crm-1042")


def test_a_later_import_changes_consent_and_keeps_its_history(
    settings: Settings, tmp_path: Path
) -> None:
    db = ("--database-url", settings.database_url)
    first = tmp_path / "a.csv"
    first.write_text("\n".join((HEADER, CIVIC)) + "\n")
    assert run_cli("registry", "import", str(first), *db).returncode == 0
    withdrawn = CIVIC.replace(",true,false,,2023-03-14T10:00:00Z", ",false,,,2024-01-02T08:00:00Z")
    second = tmp_path / "b.csv"
    second.write_text("\n".join((HEADER, withdrawn)) + "\n")
    assert run_cli("registry", "import", str(second), *db).returncode == 0
    with psycopg.connect(settings.database_url) as conn:
        history = conn.execute(
            "SELECT granted FROM consent_changes WHERE purpose = 'service_reminders'"
            " ORDER BY changed_at"
        ).fetchall()
        current = conn.execute(
            "SELECT granted FROM consent_current WHERE purpose = 'service_reminders'"
        ).fetchone()
    assert history == [(True,), (False,)]
    assert current == (False,)


def test_an_unreadable_file_or_format_is_one_line(settings: Settings, tmp_path: Path) -> None:
    db = ("--database-url", settings.database_url)
    missing = run_cli("registry", "import", str(tmp_path / "none.csv"), *db)
    binary = tmp_path / "bin.csv"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    undecodable = run_cli("registry", "import", str(binary), *db)
    fmt = run_cli("registry", "export", "--format", "xml", *db)
    for result in (missing, undecodable, fmt):
        assert result.returncode == 2
        assert "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_market_indices_are_imported_and_each_vehicle_reads_its_markets_newest(
    settings: Settings, tmp_path: Path
) -> None:
    import asyncio

    from database.vehicle_facts import load_vehicle_facts

    fleet = tmp_path / "fleet.csv"
    fleet.write_text("\n".join((HEADER, CIVIC, EV6)) + "\n")
    imported = run_cli("registry", "import", str(fleet), "--database-url", settings.database_url)
    assert imported.returncode == 0, imported.stderr
    path = tmp_path / "index.csv"
    path.write_text(
        "market,as_of,factor,source\n"
        "US,2026-05-01,0.95,auction index\n"
        "US,2026-06-01,0.93,auction index\n"
        "US,2026-06-01,0,auction index\n"
    )
    result = run_cli("registry", "market-index", str(path), "--database-url", settings.database_url)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        f"{path}:4: rejected: factor '0': a number from 0.2 to 5.0"
    ]
    assert "2 market indices upserted, 1 rows rejected" in result.stdout

    async def facts() -> dict[str, float | None]:
        async with await psycopg.AsyncConnection.connect(settings.database_url) as conn:
            found = await load_vehicle_facts(conn, ["1HGCM82633A004352", "KNDC3DLC5N5012345"])
        return {vin: f.market_index for vin, f in found.items()}

    # the US vehicle reads the newest US index; no index for DE: none (the curves as they are)
    assert asyncio.run(facts()) == {"1HGCM82633A004352": 0.93, "KNDC3DLC5N5012345": None}

"""The dealer API against its own published OpenAPI document (schemathesis), on a real
PostgreSQL: for every operation, schema-valid and schema-violating requests with a real key never
get a 5xx, and every answer is documented (status code, content type, body, headers); what the
fuzzing found is pinned by the regression tests below it.

The examples are bounded and derandomized (the same cases at every run). ``GET
/v1/alerts/stream`` is left out: a stream that is accepted never ends, so a generated request
cannot be answered within a test; test_dealer_stream.py covers it over real HTTP, its problems
included.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import psycopg
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as run_settings
from schemathesis import GenerationMode
from test_dealer_api import (
    T0,
    World,
    add_alert,
    add_vehicle,
    assert_problem,
    auth,
    consent,
    ids,
    seed_vehicle_view,
    vin,
)

from dealers.api import create_app
from dealers.cursor import BadCursor, decode_cursor, encode_cursor
from dealers.store import add_dealer
from kernel.settings import Settings, load_settings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

MAX_EXAMPLES = 40
STREAM = "/v1/alerts/stream"
# Documentation only: the operations are those of the app as create_app builds it.
_DOC_APP = create_app(load_settings(database_url="postgresql://nobody@127.0.0.1:1/none"))
OPERATIONS = [
    f"{method.upper()} {path}"
    for path, methods in _DOC_APP.openapi()["paths"].items()
    for method in methods
    if path != STREAM
]
# A cursor is opaque: only one the API issued is valid, whatever the schema can say of it.
ISSUED_CURSOR = encode_cursor(T0 + timedelta(hours=1), "A-2")


@pytest.fixture
def world(settings: Settings) -> World:
    """Two dealers with keys, vehicles, alerts of each, and one vehicle's predictions and
    timeline."""
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        key_a = add_dealer(conn, "DLR-A", "Dealer A").key
        key_b = add_dealer(conn, "DLR-B", None).key
        for n, dealer in ((1, "DLR-A"), (2, "DLR-A"), (3, "DLR-B")):
            add_vehicle(conn, vin(n), dealer)
            consent(conn, vin(n), "service_reminders", True, -100)
        add_alert(conn, "A-1", vin(1), "DLR-A", T0)
        add_alert(conn, "A-2", vin(2), "DLR-A", T0 + timedelta(hours=1))
        add_alert(conn, "A-ack", vin(1), "DLR-A", T0 + timedelta(hours=2), state="acknowledged")
        add_alert(conn, "A-expired", vin(1), "DLR-A", T0 + timedelta(hours=4), state="expired")
        add_alert(conn, "B-1", vin(3), "DLR-B", T0 + timedelta(hours=5))
    world = World(settings, key_a, key_b)
    seed_vehicle_view(world)
    return world


def load_schema(world: World, mode: GenerationMode, **limits: Any) -> schemathesis.BaseSchema:
    """The document the app publishes, loaded from it (in-process ASGI, real store).

    Unknown query parameters are ignored, as HTTP APIs commonly do: none is generated. For
    schema-violating requests only the answers are checked (no 5xx, documented), not that each
    is refused: the generator's violations of a query parameter's type include texts valid on
    the wire (an array of one string is that string), and the API's refusals of bad parameters
    are asserted in test_dealer_api.py.
    """
    app = create_app(world.settings, **(limits or {"rate_per_second": 1e6, "burst": 10**6}))
    config: dict[str, Any] = {"generation": {"allow-extra-parameters": False}}
    if mode == GenerationMode.NEGATIVE:
        config["checks"] = {"negative_data_rejection": {"enabled": False}}
    return schemathesis.openapi.from_asgi(
        "/openapi.json", app, config=schemathesis.Config.from_dict(config)
    )


def test_the_document_covers_every_operation() -> None:
    paths = _DOC_APP.openapi()["paths"]
    assert {"GET /v1/alerts", "POST /v1/alerts/{alert_id}/ack", "GET /v1/vehicles/{vin}"} <= set(
        OPERATIONS
    )
    assert "get" in paths[STREAM]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize("label", OPERATIONS)
def test_every_operation_answers_as_documented(
    world: World, label: str, mode: GenerationMode
) -> None:
    operation = load_schema(world, mode).find_operation_by_label(label)
    assert operation is not None, label
    headers = auth(world.key_a)

    @given(case=operation.as_strategy(generation_mode=mode))
    @run_settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def answers_as_documented(case: Any) -> None:
        if mode == GenerationMode.POSITIVE and isinstance(case.query, dict):
            try:
                decode_cursor(str(case.query.get("cursor", ISSUED_CURSOR)))
            except BadCursor:
                case.query["cursor"] = ISSUED_CURSOR
        case.call_and_validate(headers=headers)

    answers_as_documented()


@pytest.mark.parametrize("label", OPERATIONS)
def test_the_rate_limits_answer_is_documented(world: World, label: str) -> None:
    operation = load_schema(world, GenerationMode.POSITIVE, rate_per_second=0.01, burst=1)
    found = operation.find_operation_by_label(label)
    assert found is not None, label
    case = found.Case(path_parameters={"alert_id": "A-1", "vin": vin(1)}, query={})
    statuses = []
    for _ in range(2):
        response = case.call(headers=auth(world.key_a))
        case.validate_response(response, headers=auth(world.key_a))
        statuses.append(response.status_code)
    assert statuses == [200, 429]


# Regressions: what the fuzzing found.


@pytest.fixture
def client(world: World) -> Any:
    with TestClient(create_app(world.settings)) as c:
        yield c


def test_a_nul_in_a_text_parameter_matches_nothing(client: TestClient, world: World) -> None:
    """PostgreSQL text cannot hold NUL: such a value was sent to it, and its error was a 500."""
    a = auth(world.key_a)
    for params in ({"type": "\x00"}, {"vehicle": "1HGCM\x00"}):
        assert ids(client.get("/v1/alerts", params=params, headers=a)) == []
    assert_problem(client.post("/v1/alerts/A-1%00/ack", headers=a), 404)
    assert_problem(client.get("/v1/vehicles/%00", headers=a), 404)
    bad = encode_cursor(T0, "A-\x00")
    assert_problem(client.get("/v1/alerts", params={"cursor": bad}, headers=a), 400)
    # nothing was acknowledged
    assert ids(client.get("/v1/alerts", headers=a)) == ["A-ack", "A-2", "A-1"]


def test_since_takes_any_rfc_3339_date_time(client: TestClient, world: World) -> None:
    """A date-time before 0001-01-01 or after 9999-12-31 in UTC was a 500 (OverflowError);
    lower-case ``t`` and ``z`` (RFC 3339) were refused."""
    a = auth(world.key_a)
    for since in ("0001-01-01T00:01:02+02:48", "0001-01-01T00:00:00Z", "2026-03-01t00:30:00z"):
        got = ids(client.get("/v1/alerts", params={"since": since}, headers=a))
        assert got[-1] == ("A-2" if since.startswith("2026") else "A-1"), since
    for since in ("9999-12-31T23:59:59-01:00", "9999-12-31T23:59:59.999999Z"):
        assert ids(client.get("/v1/alerts", params={"since": since}, headers=a)) == []


def test_the_document_says_what_the_handlers_answer(client: TestClient) -> None:
    """Errors were documented as application/json (the problem's media type had no schema),
    and every operation had FastAPI's 422, which the API never answers (its validation errors
    are 400 problems); ``state`` had no values, ``since`` no format, a vehicle no shape."""
    doc = client.get("/openapi.json").json()
    problem = {"$ref": "#/components/schemas/ProblemDetails"}
    assert set(doc["components"]["schemas"]["ProblemDetails"]["properties"]) == {
        "type", "title", "status", "detail",
    }  # fmt: skip
    for path, methods in doc["paths"].items():
        for method, operation in methods.items():
            responses = operation["responses"]
            assert "422" not in responses, (method, path)
            for status in ("400", "401", "404", "429", "503"):
                assert responses[status]["content"] == {
                    "application/problem+json": {"schema": problem}
                }, (method, path, status)
    params = {p["name"]: p["schema"] for p in doc["paths"]["/v1/alerts"]["get"]["parameters"]}
    assert params["state"]["anyOf"][0]["items"]["enum"] == ["new", "acknowledged", "expired"]
    assert params["since"]["anyOf"][0] == {"type": "string", "format": "date-time"}
    vehicle = doc["paths"]["/v1/vehicles/{vin}"]["get"]["responses"]["200"]["content"]
    assert vehicle["application/json"]["schema"] == {"$ref": "#/components/schemas/Vehicle"}
    assert "HTTPValidationError" not in doc["components"]["schemas"]

"""The sample services over HTTP, end to end: a real uvicorn server on a free 127.0.0.1
port, the operator file loaded by ``runtime.actions.load_http_actions``, calls made by
``ActionRegistry.invoke``; assertions read the services' SQLite file."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from runtime.actions import ActionContext, ActionRegistry, load_http_actions
from runtime.errors import NonRetryableError, RetryableError
from sample_sagas.ground_truth import snapshot
from sample_sagas.http_app import (
    HTTP_ACTIONS_FILE,
    create_app,
    http_actions_document,
    route_of,
    running_server,
    write_http_actions,
)
from sample_sagas.services import ACTION_NAMES, SampleServices


def ctx(run_id: str, step: str, *, compensate: bool = False, attempt: int = 1,
        input: Mapping[str, Any] | None = None,
        outputs: Mapping[str, Any] | None = None) -> ActionContext:
    key = f"{run_id}:{step}" + (":compensate" if compensate else "")
    return ActionContext(run_id=run_id, step=step, attempt=attempt, input=dict(input or {}),
                         outputs=dict(outputs or {}), idempotency_key=key,
                         compensating=compensate, saga="flight_booking")


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SampleServices]:
    with SampleServices(tmp_path_factory.mktemp("http") / "services.db") as svc:
        yield svc


@pytest.fixture(scope="module")
def base_url(services: SampleServices) -> Iterator[str]:
    with running_server(services) as url:
        yield url


@pytest.fixture
def actions_file(base_url: str, tmp_path: Path) -> Path:
    return write_http_actions(tmp_path / "http_actions.yaml", base_url)


# -- the operator file ----------------------------------------------------------------------

def test_shipped_actions_file_is_the_generated_document() -> None:
    assert yaml.safe_load(HTTP_ACTIONS_FILE.read_text()) == http_actions_document()
    registry = load_http_actions(str(HTTP_ACTIONS_FILE))
    assert registry.names() == sorted(ACTION_NAMES)
    assert registry.http_allowlist == {"127.0.0.1:8100"}
    assert registry.describe("car.return") == "POST http://127.0.0.1:8100/car/return"


def test_every_action_has_a_route(services: SampleServices) -> None:
    paths = {route.path for route in create_app(services).routes}  # type: ignore[attr-defined]
    assert paths == {"/health"} | {route_of(a) for a in ACTION_NAMES}


# -- round trips through load_http_actions + ActionRegistry.invoke --------------------------

async def _invoke_all(registry: ActionRegistry, calls: list[tuple[str, ActionContext]]
                      ) -> list[Any]:
    try:
        return [await registry.invoke(action, context) for action, context in calls]
    finally:
        await registry.aclose()


def test_every_action_round_trips_and_matches_ground_truth(
        services: SampleServices, actions_file: Path) -> None:
    registry = load_http_actions(str(actions_file))
    input = {"passenger": "Ada", "price": 99.5}
    calls = [
        ("flight.reserve_seat", ctx("rt-ok", "reserve_seat", input=input)),
        ("payments.charge", ctx("rt-ok", "charge_payment", input=input)),
        ("tickets.issue", ctx("rt-ok", "issue_ticket", input=input)),
        ("notify.confirm", ctx("rt-ok", "send_confirmation", input=input)),
        ("flight.reserve_seat", ctx("rt-undo", "reserve_seat", input=input)),
        ("payments.charge", ctx("rt-undo", "charge_payment", input=input)),
        ("payments.refund", ctx("rt-undo", "charge_payment", compensate=True, input=input)),
        ("flight.release_seat", ctx("rt-undo", "reserve_seat", compensate=True, input=input)),
        ("hotel.book_room", ctx("rt-hotel", "book_room", input={"nights": 3})),
        ("loyalty.add_points", ctx("rt-hotel", "update_loyalty_points", input={"nights": 3})),
        ("hotel.cancel_room", ctx("rt-hotel", "book_room", compensate=True)),
        ("car.rent", ctx("rt-car", "book_car", input={"car": "van"})),
        ("car.return", ctx("rt-car", "book_car", compensate=True)),
    ]
    assert {action for action, _ in calls} == set(ACTION_NAMES)

    results = asyncio.run(_invoke_all(registry, calls))
    repeated = asyncio.run(_invoke_all(load_http_actions(str(actions_file)), calls))

    assert repeated == results                       # same keys: the original results
    by_step = dict(zip([f"{c.run_id}/{c.idempotency_key}" for _, c in calls], results,
                       strict=True))
    assert by_step["rt-ok/rt-ok:reserve_seat"] == {"seat": "1A", "flight": "SS100",
                                                   "passenger": "Ada"}
    assert by_step["rt-ok/rt-ok:charge_payment"]["amount"] == 99.5
    assert by_step["rt-undo/rt-undo:charge_payment:compensate"]["refunded"] is True
    assert by_step["rt-hotel/rt-hotel:update_loyalty_points"]["points"] == 30
    assert by_step["rt-car/rt-car:book_car:compensate"]["returned"] is True

    truth = snapshot(services.db_path)
    runs = {"rt-ok", "rt-undo"}
    assert truth.runs_with_ticket == truth.runs_confirmed == {"rt-ok"}
    assert truth.runs_notified_cancel & runs == truth.runs_refunded & runs == {"rt-undo"}
    assert {r for r in truth.runs_with_released_seat if r in runs} == {"rt-undo"}
    assert truth.charged_cents_by_run["rt-ok"] == 9950
    assert sum(truth.dedup_hits_by_operation.values()) >= len(calls)
    assert truth.integrity_problems == ()


def test_http_and_in_process_calls_share_state_and_keys(
        services: SampleServices, actions_file: Path) -> None:
    registry = load_http_actions(str(actions_file))
    context = ctx("shared", "charge_payment")
    (over_http,) = asyncio.run(_invoke_all(registry, [("payments.charge", context)]))
    hits = snapshot(services.db_path).dedup_hits
    assert services.call("payments.charge", context) == over_http
    assert snapshot(services.db_path).dedup_hits == hits + 1
    assert snapshot(services.db_path).charges_by_run["shared"] == 1


def test_refusal_is_non_retryable_over_http(services: SampleServices,
                                            actions_file: Path) -> None:
    registry = load_http_actions(str(actions_file))
    declined = ctx("declined", "charge_payment", input={"card": "declined"})
    with pytest.raises(NonRetryableError, match="422.*card-declined"):
        asyncio.run(_invoke_all(registry, [("payments.charge", declined)]))
    assert "declined" not in snapshot(services.db_path).runs_charged


# -- raw HTTP: statuses and bodies ----------------------------------------------------------

def test_health(base_url: str) -> None:
    response = httpx.get(f"{base_url}/health")
    assert response.status_code == 200 and response.json()["status"] == "ok"


@pytest.mark.parametrize("headers,body,status,message", [
    ({}, {"run_id": "r", "step": "s"}, 400, "Idempotency-Key header is missing"),
    ({"Idempotency-Key": "r:s"}, [1, 2], 400, "must be a JSON object"),
    ({"Idempotency-Key": "r:s"}, {"run_id": "", "step": "s"}, 400, "non-empty strings"),
    ({"Idempotency-Key": "r:s"}, {"run_id": "r", "step": "s", "attempt": 0}, 400, "attempt"),
    ({"Idempotency-Key": "r:s"}, {"run_id": "r", "step": "s", "input": []}, 400, "objects"),
    ({"Idempotency-Key": "x:y"}, {"run_id": "r", "step": "s"}, 422, "does not match"),
    ({"Idempotency-Key": "r:s"}, {"run_id": "r", "step": "s", "input": {"price": -5}}, 422,
     "input.price"),
])
def test_bad_requests(base_url: str, headers: dict[str, str], body: Any, status: int,
                      message: str) -> None:
    response = httpx.post(f"{base_url}/payments/charge", json=body, headers=headers)
    assert response.status_code == status
    assert message in response.json()["error"]


def test_attempt_given_as_text_is_accepted(base_url: str, services: SampleServices) -> None:
    response = httpx.post(f"{base_url}/notify/confirm", headers={"Idempotency-Key": "t:n"},
                          json={"run_id": "t", "step": "n", "attempt": "2"})
    assert response.status_code == 200
    assert "t" in snapshot(services.db_path).runs_confirmed


def test_an_unexpected_error_is_a_500_the_runtime_retries(tmp_path: Path) -> None:
    broken = SampleServices(tmp_path / "s.db")
    broken.close()                                   # every call now raises RuntimeError
    app = create_app(broken)

    async def post() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://testserver") as client:
            return await client.post("/flight/reserve_seat", headers={"Idempotency-Key": "r:s"},
                                     json={"run_id": "r", "step": "s"})

    response = asyncio.run(post())
    assert response.status_code == 500 and "RuntimeError" in response.json()["error"]

    registry = load_http_actions(
        str(write_http_actions(tmp_path / "a.yaml", "http://testserver")),
        {"http_transport": httpx.ASGITransport(app=app)})
    with pytest.raises(RetryableError, match="500"):
        asyncio.run(_invoke_all(registry, [("flight.reserve_seat", ctx("r", "s"))]))

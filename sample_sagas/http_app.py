"""The sample services over HTTP: every action is ``POST /<service>/<operation>``.

    app = create_app(SampleServices("services.db"))        # a Starlette app
    serve(port=8100, db_path="services.db")                # or: python -m sample_sagas.http_app

    POST /flight/reserve_seat
    Idempotency-Key: run-1:reserve_seat
    {"run_id": "run-1", "step": "reserve_seat", "attempt": 1, "input": {}, "outputs": {}}
    -> 200 {"seat": "1A", "flight": "SS100", ...}

Statuses: 200 with the action's JSON result; 400 for a malformed request; 422
``{"error": ...}`` when the service refuses for good (``NonRetryableError``); 500
``{"error": ...}`` for anything else (the runtime retries it). ``GET /health`` answers 200.
``sample_sagas/http_actions.yaml`` (see :func:`http_actions_document`) registers every
route as an HTTP action with ``runtime.actions.load_http_actions``.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from runtime.actions import ActionContext
from runtime.errors import NonRetryableError
from sample_sagas.services import ACTION_NAMES, OPERATIONS, SampleServices

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8100
DEFAULT_DB_PATH = "sample_services.db"
MAX_BODY_BYTES = 4 * 1024 * 1024
BODY_TEMPLATE: Mapping[str, str] = {
    "run_id": "{run_id}", "step": "{step}", "attempt": "{attempt}", "input": "{input}",
    "outputs": "{outputs}", "saga": "{saga}",
}
"""The request body of every action; ``runtime.actions.fill_placeholders`` fills it."""
HTTP_ACTIONS_FILE = Path(__file__).with_name("http_actions.yaml")


def route_of(action: str) -> str:
    """``flight.reserve_seat`` -> ``/flight/reserve_seat``."""
    return "/" + action.replace(".", "/")


class BadRequest(Exception):
    """The request cannot be understood (answered 400)."""


def create_app(services: SampleServices) -> Starlette:
    """A Starlette app answering every sample action over ``services``."""
    routes = [Route("/health", _health(services), methods=["GET"])]
    routes += [Route(route_of(op.action), _endpoint(services, op.action), methods=["POST"],
                     name=op.action) for op in OPERATIONS]
    return Starlette(routes=routes, max_body_size=MAX_BODY_BYTES)


def _health(services: SampleServices) -> Any:
    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "db": str(services.db_path),
                             "actions": list(ACTION_NAMES)})
    return health


def _endpoint(services: SampleServices, action: str) -> Any:
    async def endpoint(request: Request) -> JSONResponse:
        try:
            context = await _context(request)
        except BadRequest as exc:
            return JSONResponse({"error": f"{action}: {exc}"}, status_code=400)
        try:
            result = await run_in_threadpool(services.call, action, context)
        except NonRetryableError as exc:
            return JSONResponse({"error": str(exc), "type": type(exc).__name__},
                                status_code=422)
        except Exception as exc:  # the server boundary: report it, the caller retries
            return JSONResponse({"error": f"{action}: {type(exc).__name__}: {exc}",
                                 "type": type(exc).__name__}, status_code=500)
        return JSONResponse(result)
    endpoint.__name__ = action.replace(".", "_")
    return endpoint


async def _context(request: Request) -> ActionContext:
    key = request.headers.get("idempotency-key", "")
    if not key:
        raise BadRequest("the Idempotency-Key header is missing")
    try:
        body = json.loads(await request.body())
    except ValueError as exc:
        raise BadRequest(f"the body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object with run_id, step, attempt, input, "
                         "outputs")
    run_id, step, attempt = body.get("run_id"), body.get("step"), body.get("attempt", 1)
    inputs, outputs = _or(body.get("input"), {}), _or(body.get("outputs"), {})
    saga = _or(body.get("saga"), "")
    if not isinstance(run_id, str) or not run_id or not isinstance(step, str) or not step:
        raise BadRequest("run_id and step must be non-empty strings")
    if isinstance(attempt, str) and attempt.isdigit():
        attempt = int(attempt)
    if isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 1:
        raise BadRequest(f"attempt must be a whole number >= 1, got {attempt!r}")
    if not isinstance(inputs, dict) or not isinstance(outputs, dict):
        raise BadRequest("input and outputs must be JSON objects")
    if not isinstance(saga, str):
        raise BadRequest("saga must be a string")
    return ActionContext(run_id=run_id, step=step, attempt=attempt, input=inputs,
                         outputs=outputs, idempotency_key=key,
                         compensating=key.endswith(":compensate"), saga=saga)


def _or(value: Any, default: Any) -> Any:
    return default if value is None else value


# -- the operator's HTTP actions file ------------------------------------------------------

def http_actions_document(base_url: str = f"http://{DEFAULT_HOST}:{DEFAULT_PORT}"
                          ) -> dict[str, Any]:
    """The content of an HTTP actions file for a server at ``base_url``: its host in
    ``allow_hosts`` and one POST action per sample action."""
    base = httpx.URL(base_url)
    port = base.port or (443 if base.scheme == "https" else 80)
    return {
        "allow_hosts": [f"{base.host}:{port}"],
        "actions": {
            action: {"method": "POST", "url": str(base_url).rstrip("/") + route_of(action),
                     "body": dict(BODY_TEMPLATE)}
            for action in ACTION_NAMES
        },
    }


def write_http_actions(path: str | os.PathLike[str],
                       base_url: str = f"http://{DEFAULT_HOST}:{DEFAULT_PORT}") -> Path:
    """Write :func:`http_actions_document` as YAML (how ``http_actions.yaml`` was made); the
    body is written once and shared through a YAML anchor."""
    document = http_actions_document(base_url)
    lines = [
        "# HTTP actions of the sample services (python -m sample_sagas.http_app).",
        "# Load with runtime.actions.load_http_actions(path); regenerate with",
        "# sample_sagas.http_app.write_http_actions(path, base_url).",
        f"allow_hosts: {json.dumps(document['allow_hosts'])}",
        "actions:",
    ]
    body = "{" + ", ".join(f"{k}: {json.dumps(v)}" for k, v in BODY_TEMPLATE.items()) + "}"
    for index, (action, spec) in enumerate(document["actions"].items()):
        lines += [f"  {action}:", f"    method: {spec['method']}", f"    url: {spec['url']}",
                  f"    body: &body {body}" if index == 0 else "    body: *body"]
    target = Path(path)
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return target


# -- serving -------------------------------------------------------------------------------

def serve(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
          db_path: str | os.PathLike[str] = DEFAULT_DB_PATH) -> None:
    """Serve the sample services with uvicorn until interrupted (127.0.0.1 by default)."""
    services = SampleServices(db_path)
    try:
        uvicorn.run(create_app(services), host=host, port=port, log_level="info",
                    lifespan="off")
    finally:
        services.close()


@contextmanager
def running_server(services: SampleServices, *, host: str = DEFAULT_HOST, port: int = 0,
                   startup_timeout: float = 10.0) -> Iterator[str]:
    """Serve ``services`` from a background thread; yields the base URL once ``/health``
    answers. ``port=0`` picks a free port. Stops the server on exit."""
    # proto=IPPROTO_TCP: asyncio then sets TCP_NODELAY on accepted connections (with proto 0
    # it does not, and every keep-alive request waits ~40 ms for a delayed ACK).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    base_url = f"http://{host}:{sock.getsockname()[1]}"
    config = uvicorn.Config(create_app(services), log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]},
                              name=f"sample-services {base_url}", daemon=True)
    thread.start()
    try:
        wait_healthy(base_url, timeout=startup_timeout, alive=thread.is_alive)
        yield base_url
    finally:
        server.should_exit = True
        thread.join(timeout=startup_timeout)
        sock.close()


def wait_healthy(base_url: str, *, timeout: float = 10.0,
                 alive: Callable[[], bool] | None = None) -> None:
    """Poll ``GET /health`` until it answers 200; ``TimeoutError`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    with httpx.Client(timeout=1.0) as client:
        while time.monotonic() < deadline:
            if alive is not None and not alive():
                raise RuntimeError(f"the sample services server at {base_url} stopped "
                                   "while starting")
            try:
                if client.get(f"{base_url}/health").status_code == 200:
                    return
                last = "an error status"
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__}"
            time.sleep(0.02)
    raise TimeoutError(f"{base_url}/health did not answer 200 within {timeout:g} s ({last})")


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m sample_sagas.http_app [--host H] [--port P] [--db PATH]``."""
    parser = argparse.ArgumentParser(prog="python -m sample_sagas.http_app",
                                     description="Serve the sample services over HTTP.")
    parser.add_argument("--host", default=DEFAULT_HOST)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--db", default=DEFAULT_DB_PATH, help="the services' SQLite file")
    args = parser.parse_args(argv)
    serve(args.host, args.port, args.db)


if __name__ == "__main__":
    main()

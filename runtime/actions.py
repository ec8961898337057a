"""Actions: what steps call, always by registered name.

    registry = ActionRegistry(http_allowlist={"127.0.0.1:8100"})
    registry.register("flight.reserve_seat", reserve_seat)         # sync or async callable
    registry.register_http("payments.charge", HttpActionSpec(method="POST",
                           url="http://127.0.0.1:8100/payments/charge",
                           body={"amount": "{input.price}"}))
    output = await registry.invoke("flight.reserve_seat", context)

A callable takes one :class:`ActionContext` and returns JSON-serialisable data (or None).
Raise :class:`NonRetryableError` to stop retries, anything else to be retried by policy.
Nothing in a definition can make the runtime import or run code that is not registered here.
"""

from __future__ import annotations

import asyncio
import inspect
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, Protocol
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from runtime.errors import (
    DefinitionError,
    HostNotAllowedError,
    NonRetryableError,
    RetryableError,
    SagaError,
    UnknownActionError,
)
from runtime.loading import issues_from_pydantic, parse_document

JSON = Any


class ActionContext(NamedTuple):
    """What an action sees. ``idempotency_key`` is ``run_id:step`` (``:compensate`` added for
    compensations); services must deduplicate on it. (A named tuple: immutable, and cheap to
    make once per attempt.)"""

    run_id: str
    step: str
    attempt: int
    input: Mapping[str, JSON]
    outputs: Mapping[str, JSON]
    idempotency_key: str
    compensating: bool = False
    saga: str = ""


class Action(Protocol):
    async def __call__(self, context: ActionContext) -> JSON: ...


@dataclass
class CallableAction:
    """A registered Python callable. Sync callables run in a worker thread unless
    ``blocking=False`` says they are quick and never block (then the engine calls them
    directly on the loop: :func:`quick_function`)."""

    function: Callable[[ActionContext], Any]
    blocking: bool = True
    description: str = ""
    is_async: bool = field(init=False)

    def __post_init__(self) -> None:
        self.is_async = inspect.iscoroutinefunction(self.function)

    async def __call__(self, context: ActionContext) -> JSON:
        if self.is_async:
            return await self.function(context)
        if self.blocking:
            return await asyncio.to_thread(self.function, context)
        result = self.function(context)
        if inspect.isawaitable(result):
            return await result
        return result


def quick_function(action: Action) -> Callable[[ActionContext], Any] | None:
    """The plain function behind ``action`` when calling it never waits (a sync callable
    registered with ``blocking=False``, or a simulated no-op): the engine calls it as it is,
    without a coroutine or a thread. None for every other action."""
    if isinstance(action, CallableAction) and not action.blocking and not action.is_async:
        return action.function
    return None


class HttpActionSpec(BaseModel):
    """An HTTP call. Strings in ``url``, ``headers`` and ``body`` may hold placeholders:
    ``{input.x}``, ``{outputs.step.field}``, ``{run_id}``, ``{step}``, ``{attempt}``,
    ``{idempotency_key}``. A string that is exactly one placeholder keeps the value's type."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    method: str = Field("POST", pattern=r"^(GET|POST|PUT|PATCH|DELETE)$")
    url: str
    body: JSON = None
    headers: dict[str, str] = Field(default_factory=dict)
    timeout_seconds: float = Field(30.0, gt=0, le=3600)


_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_\-.]*)\}")


def fill_placeholders(template: JSON, context: ActionContext) -> JSON:
    """Substitute ``{path}`` placeholders by plain lookups (no expressions, no code)."""
    scope: dict[str, JSON] = {
        "input": dict(context.input), "outputs": dict(context.outputs), "run_id": context.run_id,
        "step": context.step, "attempt": context.attempt,
        "idempotency_key": context.idempotency_key, "saga": context.saga,
    }
    if isinstance(template, str):
        whole = _PLACEHOLDER.fullmatch(template)
        if whole:
            return _lookup(scope, whole.group(1))
        return _PLACEHOLDER.sub(lambda m: str(_lookup(scope, m.group(1))), template)
    if isinstance(template, list):
        return [fill_placeholders(item, context) for item in template]
    if isinstance(template, dict):
        return {key: fill_placeholders(value, context) for key, value in template.items()}
    return template


def _lookup(scope: Mapping[str, JSON], path: str) -> JSON:
    value: JSON = scope
    for part in path.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        else:
            raise NonRetryableError(f"placeholder {{{path}}} has no value in the run context")
    return value


def host_of(url: str) -> str:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.hostname}:{port}"


@dataclass
class HttpAction:
    """Calls an HTTP endpoint. 2xx: the JSON body is the output. 4xx (but 408/409/429):
    NonRetryableError. 5xx, 408, 409, 429 and network errors: retried by policy. The
    idempotency key travels in the ``Idempotency-Key`` header."""

    name: str
    spec: HttpActionSpec
    registry: ActionRegistry

    async def __call__(self, context: ActionContext) -> JSON:
        url = str(fill_placeholders(self.spec.url, context))
        self.registry.check_host(self.name, url)
        headers = {k: str(fill_placeholders(v, context)) for k, v in self.spec.headers.items()}
        headers.setdefault("Idempotency-Key", context.idempotency_key)
        body = fill_placeholders(self.spec.body, context)
        client = self.registry.http_client()
        try:
            response = await client.request(self.spec.method, url, json=body, headers=headers,
                                            timeout=self.spec.timeout_seconds)
        except httpx.HTTPError as exc:
            raise RetryableError(f"{self.spec.method} {url}: {type(exc).__name__}: {exc}") from exc
        if response.is_success:
            return response.json() if response.content else None
        message = f"{self.spec.method} {url} -> {response.status_code}: {response.text[:300]}"
        if response.status_code in (408, 409, 429) or response.status_code >= 500:
            raise RetryableError(message)
        raise NonRetryableError(message)


def _no_op(context: ActionContext) -> JSON:
    return None


class ActionRegistry:
    """Names -> actions. Build one per runner (or test); there is no global registry."""

    def __init__(self, *, http_allowlist: Iterable[str] = (),
                 http_transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._actions: dict[str, Action] = {}
        self._descriptions: dict[str, str] = {}
        self.http_allowlist = {self._normalise_host(h) for h in http_allowlist}
        self._http_transport = http_transport
        self._clients: dict[int, httpx.AsyncClient] = {}

    # -- registration ----------------------------------------------------------------
    def register(self, name: str, function: Callable[[ActionContext], Any], *,
                 blocking: bool = True, description: str = "") -> None:
        self._add(name, CallableAction(function, blocking=blocking, description=description),
                  description or (inspect.getdoc(function) or "").split("\n")[0])

    def action(self, name: str, *, blocking: bool = True) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator form of :meth:`register`."""
        def decorate(function: Callable[..., Any]) -> Callable[..., Any]:
            self.register(name, function, blocking=blocking)
            return function
        return decorate

    def register_http(self, name: str, spec: HttpActionSpec, *, description: str = "") -> None:
        if "{" not in host_of(spec.url):
            self.check_host(name, spec.url)
        self._add(name, HttpAction(name, spec, self), description or f"{spec.method} {spec.url}")

    def register_simulated(self, name: str) -> None:
        """A no-op stand-in; failures and latency come from failure injection."""
        self._add(name, CallableAction(_no_op, blocking=False), "simulated", replace=True)

    def _add(self, name: str, action: Action, description: str, *, replace: bool = False) -> None:
        if name in self._actions and not replace:
            raise SagaError(f"action {name!r} is already registered")
        self._actions[name] = action
        self._descriptions[name] = description

    # -- lookup ----------------------------------------------------------------------
    def __contains__(self, name: object) -> bool:
        return name in self._actions

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._actions))

    def __len__(self) -> int:
        return len(self._actions)

    def names(self) -> list[str]:
        return sorted(self._actions)

    def describe(self, name: str) -> str:
        return self._descriptions.get(name, "")

    def get(self, name: str) -> Action:
        try:
            return self._actions[name]
        except KeyError:
            raise UnknownActionError(name, list(self._actions)) from None

    async def invoke(self, name: str, context: ActionContext) -> JSON:
        return await self.get(name)(context)

    # -- HTTP ------------------------------------------------------------------------
    @staticmethod
    def _normalise_host(host: str) -> str:
        return host if ":" in host else f"{host}:80"

    def check_host(self, action: str, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise HostNotAllowedError(action, url, sorted(self.http_allowlist))
        host = host_of(url)
        if host not in self.http_allowlist:
            raise HostNotAllowedError(action, host, sorted(self.http_allowlist))

    def http_client(self) -> httpx.AsyncClient:
        loop_id = id(asyncio.get_running_loop())
        client = self._clients.get(loop_id)
        if client is None:
            client = httpx.AsyncClient(transport=self._http_transport, follow_redirects=False)
            self._clients[loop_id] = client
        return client

    async def aclose(self) -> None:
        loop_id = id(asyncio.get_running_loop())
        client = self._clients.pop(loop_id, None)
        if client is not None:
            await client.aclose()


class HttpActionsFile(BaseModel):
    """An operator's file of HTTP actions: ``allow_hosts`` and ``actions: {name: spec}``."""

    model_config = ConfigDict(extra="forbid")

    allow_hosts: list[str] = Field(default_factory=list)
    actions: dict[str, HttpActionSpec] = Field(default_factory=dict)


def load_http_actions(path: str, registry_kwargs: Mapping[str, Any] | None = None) -> ActionRegistry:
    """Build a registry from an operator's HTTP actions file: YAML read with the guards
    definitions have (``runtime.loading``); a bad file raises DefinitionError, one line per
    problem naming the file, the path in it and the rule."""
    data = parse_document(Path(path).read_bytes(), source=path,
                          shape="an HTTP actions file is a mapping with 'allow_hosts' and 'actions'")
    try:
        spec = HttpActionsFile.model_validate(data)
    except ValidationError as exc:
        raise DefinitionError(path, issues_from_pydantic(
            exc, "docs/sample-services.md lists the fields")) from None
    registry = ActionRegistry(http_allowlist=spec.allow_hosts, **dict(registry_kwargs or {}))
    for name, action in spec.actions.items():
        registry.register_http(name, action)
    return registry


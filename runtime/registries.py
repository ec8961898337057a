"""Which actions a runner uses, chosen by the operator (never by a definition):

    --simulate                 every action a no-op; failures and latency from injection
    --actions sample           the in-process sample services (default)
    --actions FILE.yaml        an operator file of HTTP actions with its host allowlist
    --actions package.module   a module whose ``register_actions(registry)`` registers callables
"""

from __future__ import annotations

import importlib
from pathlib import Path

from runtime.actions import ActionRegistry, load_http_actions
from runtime.batch import simulated_registry
from runtime.definition import SagaDefinition
from runtime.errors import SagaError

SAMPLE = "sample"


class ActionsSpecError(SagaError):
    def __init__(self, spec: str, reason: str) -> None:
        self.spec = spec
        super().__init__(f"--actions {spec}: {reason}")


def build_registry(spec: str | None, *, definition: SagaDefinition | None = None,
                   simulate: bool = False, services_db: Path | None = None) -> ActionRegistry:
    if simulate:
        if definition is None:
            raise ActionsSpecError("--simulate", "needs a definition")
        return simulated_registry(definition)
    spec = spec or SAMPLE
    if spec == SAMPLE:
        from sample_sagas.actions import build_registry as build_sample

        registry, _services = build_sample(services_db or Path("sample_services.db"))
        return registry
    if spec.endswith((".yaml", ".yml")):
        path = Path(spec)
        if not path.is_file():
            raise ActionsSpecError(spec, "no such file")
        try:  # a bad file raises DefinitionError: a line per problem, with its path
            return load_http_actions(str(path))
        except OSError as exc:
            raise ActionsSpecError(spec, f"cannot read it ({exc.strerror or exc})") from None
    try:
        module = importlib.import_module(spec)
    except ImportError as exc:
        raise ActionsSpecError(spec, f"cannot import it ({exc})") from None
    register = getattr(module, "register_actions", None)
    if not callable(register):
        raise ActionsSpecError(spec, "the module has no register_actions(registry) function")
    registry = ActionRegistry()
    register(registry)
    return registry

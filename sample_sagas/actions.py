"""Register the sample services' actions in an :class:`ActionRegistry`.

    registry, services = build_registry("services.db")
    await registry.invoke("flight.reserve_seat", context)
    services.close()

Every action is a sync callable (``blocking=True``: it runs in a worker thread) that calls
:meth:`SampleServices.call`; the state lives in the services' SQLite file, not here.
"""

from __future__ import annotations

import os
from typing import Any

from runtime.actions import ActionRegistry
from sample_sagas.services import OPERATIONS, SampleServices


def register_actions(registry: ActionRegistry, services: SampleServices) -> None:
    """Register every sample action (``flight.reserve_seat``, ``payments.charge``, ...) on
    ``registry``, each calling ``services``."""
    for operation in OPERATIONS:
        registry.register(operation.action, services.handler(operation.action), blocking=True,
                          description=operation.description)


def build_registry(db_path: str | os.PathLike[str], **registry_kwargs: Any
                   ) -> tuple[ActionRegistry, SampleServices]:
    """A new registry holding every sample action over a new ``SampleServices(db_path)``.
    The caller closes the services when done."""
    registry = ActionRegistry(**registry_kwargs)
    services = SampleServices(db_path)
    register_actions(registry, services)
    return registry, services

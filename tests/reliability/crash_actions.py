"""Sample actions whose responses come back slowly *after* the effect is committed, so a
runner killed at a random moment often dies between a service's commit and the outcome
event: the window idempotency keys must absorb. Used by test_crash_recovery via
``saga run --actions tests.reliability.crash_actions`` (state file: $CRASH_SERVICES_DB)."""

from __future__ import annotations

import os
import random
import time
from typing import Any

from runtime.actions import ActionContext, ActionRegistry
from sample_sagas.services import ACTION_NAMES, SampleServices


def register_actions(registry: ActionRegistry) -> None:
    services = SampleServices(os.environ["CRASH_SERVICES_DB"])
    delay_ms = float(os.environ.get("CRASH_RESPONSE_DELAY_MS", "30"))

    def slow(action: str) -> Any:
        handler = services.handler(action)

        def call(context: ActionContext) -> Any:
            result = handler(context)
            time.sleep(random.uniform(0, delay_ms) / 1000)  # the response is on its way
            return result
        return call

    for action in ACTION_NAMES:
        registry.register(action, slow(action), blocking=True)

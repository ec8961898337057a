"""The action names the designer offers and checks against.

    registry = sample_registry()            # every action the sample sagas use, simulated
    "payments.charge" in registry           # True
    registry = simulated_registry(definition)  # (runtime.batch)

The names are read from ``sample_sagas/*.yaml`` (``flight.*``, ``payments.*``,
``tickets.issue``, ``notify.confirm``, ``hotel.*``, ``loyalty.add_points``, ``car.*``), so a
new sample brings its names along. A sample that does not load is skipped.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from designer.files import SAMPLES_DIR, list_samples
from runtime.actions import ActionRegistry
from runtime.batch import simulated_registry as simulated_registry  # the one place it is built
from runtime.definition import SagaDefinition
from runtime.errors import SagaError
from runtime.loading import load_definition


def sample_action_names(folder: Path = SAMPLES_DIR) -> list[str]:
    names: set[str] = set()
    for sample in list_samples(folder):
        try:
            definition = load_definition(folder / f"{sample}.yaml")
        except SagaError:
            continue
        names.update(_actions_of(definition))
    return sorted(names)


def sample_registry(folder: Path = SAMPLES_DIR) -> ActionRegistry:
    """A new registry with every sample action name registered as simulated."""
    return registry_of(sample_action_names(folder))


def registry_of(names: Iterable[str]) -> ActionRegistry:
    registry = ActionRegistry()
    for name in names:
        registry.register_simulated(name)
    return registry


def _actions_of(definition: SagaDefinition) -> set[str]:
    names = {step.action for step in definition.steps}
    names.update(step.compensation for step in definition.steps if step.compensation)
    return names

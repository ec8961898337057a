"""Saga Studio's exception tree.

    SagaError
    ├── DefinitionError        a definition file or document is invalid (lists every Issue)
    ├── ActionError            base for errors raised *by actions*
    │   ├── NonRetryableError  stop retrying this step now (e.g. a declined card)
    │   └── RetryableError     a transient failure; retried by the step's policy
    ├── UnknownActionError     a name is not in the action registry in use
    ├── HostNotAllowedError    an HTTP action targets a host outside the operator allowlist
    ├── LimitExceededError     a configured limit (payload size, events per run, ...) was hit
    ├── RunNotFoundError       no run with that id in the event log
    ├── DefinitionMismatchError a run is pinned to another definition hash
    ├── LeaseLostError         this runner no longer owns the run; its writes were rejected
    └── StoreError             the event log could not be read or written

Every class builds its own message from typed fields; callers show ``str(err)`` and never
parse it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class SagaError(Exception):
    """Base class of every error Saga Studio raises on purpose."""


@dataclass(frozen=True)
class Issue:
    """One problem in a definition document.

    path: JSON pointer into the document (``/steps/2/compensation``; ``/`` for the whole).
    rule: short machine name of the rule (``unknown-step``, ``cycle``, ...).
    message: what is wrong, for a human.
    hint: how to fix it.
    """

    path: str
    rule: str
    message: str
    hint: str = ""

    def __str__(self) -> str:
        text = f"{self.path}: {self.message} [{self.rule}]"
        return f"{text}; {self.hint}" if self.hint else text


class DefinitionError(SagaError):
    """A definition is invalid. ``issues`` holds every problem found, not just the first."""

    def __init__(self, source: str, issues: Sequence[Issue]) -> None:
        self.source = source
        self.issues = list(issues)
        super().__init__(self.lines()[0] if len(self.issues) == 1 else self._summary())

    def _summary(self) -> str:
        return f"{self.source}: {len(self.issues)} problems\n" + "\n".join(self.lines())

    def lines(self) -> list[str]:
        """One line per issue: ``file: /path: message [rule]; hint``."""
        return [f"{self.source}: {issue}" for issue in self.issues]


class ActionError(SagaError):
    """Raised by an action to say how its failure should be treated."""


class NonRetryableError(ActionError):
    """The step failed for good: do not retry (a declined card, a closed account)."""


class RetryableError(ActionError):
    """A transient failure: retry by the step's policy."""


class UnknownActionError(SagaError):
    def __init__(self, name: str, known: Sequence[str] = ()) -> None:
        self.name = name
        self.known = sorted(known)
        hint = f"registered: {', '.join(self.known[:12])}" if self.known else "none registered"
        super().__init__(f"action {name!r} is not registered ({hint})")


class HostNotAllowedError(NonRetryableError):
    def __init__(self, action: str, host: str, allowed: Sequence[str]) -> None:
        self.action = action
        self.host = host
        self.allowed = sorted(allowed)
        super().__init__(
            f"HTTP action {action!r} targets {host!r}, which is not in the operator allowlist "
            f"({', '.join(self.allowed) or 'empty'}); add it to allow_hosts in the actions file"
        )


class LimitExceededError(SagaError):
    def __init__(self, limit: str, value: int, maximum: int, where: str = "") -> None:
        self.limit = limit
        self.value = value
        self.maximum = maximum
        self.where = where
        prefix = f"{where}: " if where else ""
        super().__init__(f"{prefix}{limit} is {value}, over the limit of {maximum}")


class RunNotFoundError(SagaError):
    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        super().__init__(f"no run {run_id!r} in the event log; `saga runs` lists them")


class DefinitionMismatchError(SagaError):
    def __init__(self, run_id: str, pinned_hash: str, found_hash: str, step: str = "") -> None:
        self.run_id = run_id
        self.pinned_hash = pinned_hash
        self.found_hash = found_hash
        self.step = step
        where = f" at step {step!r}" if step else ""
        super().__init__(
            f"run {run_id} is pinned to definition {pinned_hash[:12]} but {found_hash[:12]} "
            f"was given{where}; runs always continue on the definition they started with"
        )


class LeaseLostError(SagaError):
    def __init__(self, run_id: str, owner: str) -> None:
        self.run_id = run_id
        self.owner = owner
        super().__init__(f"runner {owner} no longer holds the lease on run {run_id}; "
                         "its writes were rejected and another runner continues the run")


class StoreError(SagaError):
    def __init__(self, operation: str, cause: str) -> None:
        self.operation = operation
        self.cause = cause
        super().__init__(f"event log {operation} failed: {cause}")

"""How every `saga` command reports expected errors: one line each on stderr, exit code 1,
never a traceback."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import typer
from rich.console import Console

from runtime.errors import DefinitionError, SagaError


def fail(err: Console, message: str, code: int = 1) -> NoReturn:
    err.print(message, markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@contextmanager
def user_errors(err: Console) -> Iterator[None]:
    """Turn every expected error into one line and exit code 1 (130 for Ctrl-C)."""
    try:
        yield
    except DefinitionError as exc:
        for line in exc.lines():
            err.print(line, markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    except SagaError as exc:
        fail(err, f"saga: {exc}")
    except KeyboardInterrupt:
        fail(err, "saga: interrupted; unfinished runs continue with `saga resume`", 130)

"""The ``ponder`` command.

Every module in this package that defines ``register(app: typer.Typer)`` adds its
commands; adding a command group means adding a file here, not editing this one.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

import typer

from ponder.errors import PonderError

app = typer.Typer(
    name="ponder",
    help="Reasoning models that learn to think, and turn test-time compute into answers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register_all() -> None:
    for mod in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{mod.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(app)


_register_all()


def main(argv: list[str] | None = None) -> None:
    """Console entry point: user errors become one line on stderr and exit code 2."""
    try:
        app(args=argv, standalone_mode=True)
    except PonderError as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None

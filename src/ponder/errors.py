"""User-facing exceptions. Anything a user can cause raises one of these with a message
that says what is wrong and what to change; the CLI and the server turn them into a
one-line error (CLI) or an OpenAI error object (server) instead of a traceback."""


class PonderError(Exception):
    """Base class of every error ponder reports to a user."""


class InvalidInput(PonderError, ValueError):
    """A value given by the user (argument, prompt, file content) is not acceptable."""


class ConfigError(PonderError, ValueError):
    """A configuration (dataclass config, recipe, CLI option combination) is invalid."""


class ModelError(PonderError):
    """A model or checkpoint cannot be found, loaded or used as asked."""


class UnknownName(PonderError, KeyError):
    """A name (task, strategy, preset, backend) is not registered."""

    def __init__(self, kind: str, name: str, known: list[str] | tuple[str, ...]):
        self.kind, self.name, self.known = kind, name, list(known)
        super().__init__(f"unknown {kind} {name!r}; choose one of: {', '.join(sorted(known))}")

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return self.args[0]


class Unsupported(PonderError, NotImplementedError):
    """An operation this component cannot do by design (e.g. exact step checks for a data
    set without step-level solutions); the message says what to use instead."""


def check_at_least(config: object, names: tuple[str, ...], low: float, owner: str = "") -> None:
    """Raise ConfigError naming the first of ``config``'s fields ``names`` below ``low``
    (the shared bounds check of the dataclass configs)."""
    for name in names:
        value = getattr(config, name)
        if value < low:
            prefix = f"{owner}: " if owner else ""
            raise ConfigError(f"{prefix}{name} must be >= {low:g}, got {value}")

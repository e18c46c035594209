"""Task families: built-in generated ones and adapters for external data sets.

``get_task(name)`` returns a Task instance. Built-in families are registered by name
(some have variants after a colon: ``arith:add``, ``arith:mul``);
external adapters take a spec after a colon, e.g. ``rg:basic_arithmetic`` (reasoning-gym),
``jsonl:path/to/file.jsonl`` (GSM8K/MATH-format JSONL), ``humaneval``.
"""

from __future__ import annotations

import importlib

from ponder.errors import UnknownName
from ponder.tasks.base import Problem, Split, Task, split_of

# name -> "module:Class"; imported lazily so a task's optional dependencies load only
# when it is used.
BUILTIN: dict[str, str] = {
    "arith": "ponder.tasks.arith:ArithTask",
    "chain": "ponder.tasks.chain:ChainTask",
    "countdown": "ponder.tasks.countdown:CountdownTask",
    "perm": "ponder.tasks.perm:PermTask",
}
EXTERNAL: dict[str, str] = {
    "rg": "ponder.tasks.reasoning_gym:ReasoningGymTask",
    "jsonl": "ponder.tasks.jsonl:JsonlTask",
    "humaneval": "ponder.tasks.humaneval:HumanEvalTask",
}


def _load(path: str) -> type:
    module, cls = path.split(":")
    return getattr(importlib.import_module(module), cls)


def get_task(name: str) -> Task:
    """Instantiate a task by name (``arith``), variant (``arith:add``) or adapter spec
    (``rg:leg_counting``)."""
    if name in BUILTIN:
        return _load(BUILTIN[name])()
    kind, _, arg = name.partition(":")
    if kind in BUILTIN:  # a variant: arith:add
        return _load(BUILTIN[kind]).from_spec(arg)
    if kind in EXTERNAL:
        cls = _load(EXTERNAL[kind])
        return cls(arg) if arg else cls()
    raise UnknownName("task", name, [*BUILTIN, *(f"{k}:..." for k in EXTERNAL)])


def parse_tasks(spec: str) -> list[Task]:
    """``"chain,arith"`` -> [ChainTask(), ArithTask()]."""
    return [get_task(s.strip()) for s in spec.split(",") if s.strip()]


__all__ = ["BUILTIN", "EXTERNAL", "Problem", "Split", "Task", "get_task", "parse_tasks",
           "split_of"]

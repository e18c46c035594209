"""Test-time compute: one module per strategy, all with the signature of
``ponder.think.base.Strategy``, dispatched by name from ``STRATEGIES``.

What a compute budget means is the strategy's business: ``sized_budget`` gives most
strategies that many samples, and a strategy whose module names a ``BUDGET_OPTION``
(budget forcing: ``think_tokens``) that option instead, so callers that sweep budgets
(``ponder scale``) need not know any strategy."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from ponder.errors import ConfigError, UnknownName
from ponder.think.base import Budget, Result, Scorers, Strategy, Trace
from ponder.think.compute import Compute

# name -> "module:function"; a new strategy is a new file plus one line here.
STRATEGIES: dict[str, str] = {
    "greedy": "ponder.think.greedy:greedy",
    "vote": "ponder.think.vote:vote",
    "best_of_n": "ponder.think.best_of_n:best_of_n",
    "beam": "ponder.think.beam:beam",
    "mcts": "ponder.think.mcts:mcts",
    "revise": "ponder.think.revise:revise",
    "budget": "ponder.think.budget:budget_forcing",
    "agents": "ponder.think.agents:agents",
    "optimal": "ponder.think.optimal:optimal",
}


def _module(name: str) -> ModuleType:
    if name not in STRATEGIES:
        raise UnknownName("strategy", name, list(STRATEGIES))
    return importlib.import_module(STRATEGIES[name].split(":")[0])


def get_strategy(name: str) -> Strategy:
    return getattr(_module(name), STRATEGIES[name].split(":")[1])


def split_label(entry: str) -> tuple[str, str]:
    """(label, strategy) of a run's strategy entry: ``"prm_bon=best_of_n"`` runs
    best_of_n under the label prm_bon (its options and records go by the label), so one
    run can hold two variants of a strategy; a plain ``"vote"`` is its own label."""
    label, sep, name = entry.partition("=")
    label, name = label.strip(), name.strip()
    if not sep:
        return label, label
    if not label or not name:
        raise ConfigError(f"a labelled strategy is written label=strategy, got {entry!r}")
    return label, name


def sized_budget(strategy: str, size: int, *, max_tokens: int, temperature: float,
                 top_p: float = 1.0, options: dict[str, Any] | None = None) -> Budget:
    """The Budget giving ``strategy`` compute budget ``size``: ``size`` samples (or search
    budget N) as ``Budget.n``; for a strategy whose module sets ``BUDGET_OPTION``, ``size``
    goes to that option and ``n`` is ``options["n"]`` (default 1)."""
    opts = dict(options or {})
    n = size
    key = getattr(_module(strategy), "BUDGET_OPTION", None)
    if key is not None:
        opts[key] = size
        n = int(opts.pop("n", 1))
    return Budget(n=n, max_tokens=max_tokens, temperature=temperature, top_p=top_p,
                  options=opts)


__all__ = ["STRATEGIES", "Budget", "Compute", "Result", "Scorers", "Strategy", "Trace",
           "get_strategy", "sized_budget", "split_label"]

"""Test-time compute: one module per strategy, all with the signature of
``ponder.think.base.Strategy``, dispatched by name from ``STRATEGIES``."""

from __future__ import annotations

import importlib

from ponder.errors import UnknownName
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


def get_strategy(name: str) -> Strategy:
    if name not in STRATEGIES:
        raise UnknownName("strategy", name, list(STRATEGIES))
    module, fn = STRATEGIES[name].split(":")
    return getattr(importlib.import_module(module), fn)


__all__ = ["STRATEGIES", "Budget", "Compute", "Result", "Scorers", "Strategy", "Trace",
           "get_strategy"]

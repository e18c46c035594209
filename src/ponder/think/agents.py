"""Several explorers in parallel, then a selector picks the best answer.

The reports on OpenAI's IMO system describe several agents exploring different ideas in
parallel and a final choice of the best answer. Here an explorer is any registered
strategy run with its own sampling temperature, sample budget, options and seed; each
returns one candidate (its own chosen answer and completion). The selector then picks
among the K candidates: ``vote`` (majority of their answers), ``best`` or ``weighted``
(the outcome scorer: an ORM, a PRM through ``aggregate``, or the verifier as an oracle).

Compute is the sum over explorers plus what the selector's scorer reads. Departure: the
explorers run one after another in this process (each batches its own samples), so the
wall time is their sum, not the longest one as it would be on separate machines.

Options: ``explorers`` (list of {strategy, temperature, n, top_p, options}; missing keys
come from the budget; default DEFAULT_EXPLORERS), ``select`` (vote | best | weighted),
``scorer`` and ``aggregate`` (for best/weighted).
"""

from __future__ import annotations

import time
from typing import Any

from ponder.errors import ConfigError
from ponder.lm.base import LM
from ponder.tasks.base import Problem
from ponder.think.base import Budget, Result, Scorers, Trace, prompt_of, read_options
from ponder.think.compute import Compute
from ponder.think.scorers import choose, outcome_scorer, score
from ponder.think.steps import derive_seed

DEFAULT_EXPLORERS: tuple[dict[str, Any], ...] = (
    {"strategy": "greedy"},
    {"strategy": "vote", "temperature": 0.6},
    {"strategy": "vote", "temperature": 1.0},
)
EXPLORER_KEYS = ("strategy", "temperature", "n", "top_p", "options")
DEFAULTS = {"explorers": None, "select": "vote", "scorer": None, "aggregate": "last"}


def explorer_budget(spec: dict[str, Any], budget: Budget) -> Budget:
    """The Budget of one explorer: its own keys over the shared budget's."""
    return Budget(n=spec.get("n", budget.n), max_tokens=budget.max_tokens,
                  temperature=spec.get("temperature", budget.temperature),
                  top_p=spec.get("top_p", budget.top_p), options=dict(spec.get("options", {})))


def _check(explorers: Any) -> list[dict[str, Any]]:
    from ponder.think import STRATEGIES

    if not isinstance(explorers, list | tuple) or not explorers:
        raise ConfigError("agents: explorers must be a non-empty list of "
                          "{strategy, temperature, n, top_p, options}")
    for k, spec in enumerate(explorers):
        if not isinstance(spec, dict) or "strategy" not in spec:
            raise ConfigError(f"agents: explorer {k} must be a dict with a 'strategy' key")
        unknown = sorted(set(spec) - set(EXPLORER_KEYS))
        if unknown:
            raise ConfigError(f"agents: explorer {k} has unknown key(s) {unknown}; "
                              f"known: {list(EXPLORER_KEYS)}")
        if spec["strategy"] == "agents":
            raise ConfigError("agents: an explorer cannot itself be 'agents'")
        if spec["strategy"] not in STRATEGIES:
            raise ConfigError(f"agents: explorer {k}: unknown strategy {spec['strategy']!r}; "
                              f"choose one of {sorted(STRATEGIES)}")
        if not isinstance(spec.get("options", {}), dict):
            raise ConfigError(f"agents: explorer {k}: options must be a dict, got "
                              f"{spec['options']!r}")
    return list(explorers)


def agents(problem: Problem, lm: LM, budget: Budget, scorers: Scorers | None = None,
           seed: int = 0) -> Result:
    from ponder.think import get_strategy  # the registry imports this module

    opts = read_options(budget, "agents", DEFAULTS)
    explorers = _check(list(DEFAULT_EXPLORERS) if opts["explorers"] is None
                       else opts["explorers"])
    choose([], [], opts["select"])
    scorer = None if opts["select"] == "vote" else outcome_scorer(
        scorers, problem, opts["scorer"], opts["aggregate"], "agents")
    budgets = [explorer_budget(spec, budget) for spec in explorers]  # validate all first
    t0 = time.perf_counter()
    compute = Compute()
    results: list[Result] = []
    traces: list[Trace] = []
    for k, (spec, b) in enumerate(zip(explorers, budgets, strict=True)):
        res = get_strategy(spec["strategy"])(problem, lm, b, scorers,
                                             seed=derive_seed(seed, "explorer", k))
        results.append(res)
        compute += res.compute
        for t in res.traces:
            t.meta = {**t.meta, "explorer": k}
        traces += res.traces
    scores = None
    if scorer is not None:
        prompt = prompt_of(lm, problem)
        scores = score(scorer, lm, [prompt] * len(results), [r.completion for r in results],
                       compute)
    i = choose([r.answer for r in results], scores, opts["select"])
    chosen = results[i if i is not None else 0]
    compute.wall_time = time.perf_counter() - t0
    return Result(chosen.answer, chosen.completion, traces, compute,
                  meta={"chosen_explorer": i, "candidates": [r.answer for r in results],
                        "candidate_scores": scores, "select": opts["select"],
                        "explorers": explorers})

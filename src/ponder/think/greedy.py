"""Greedy decoding: one sample at temperature 0. The baseline every curve starts from.

Options: none (``budget.n``, ``temperature`` and ``top_p`` are ignored: one greedy chain).
"""

from __future__ import annotations

import time

from ponder.lm.base import LM
from ponder.tasks.base import Problem
from ponder.think.base import (
    Budget,
    Result,
    Scorers,
    answer_rule_of,
    policy_compute,
    prompt_of,
    read_options,
    to_traces,
)

DEFAULTS: dict[str, object] = {}


def greedy(problem: Problem, lm: LM, budget: Budget, scorers: Scorers | None = None,
           seed: int = 0) -> Result:
    read_options(budget, "greedy", DEFAULTS)
    rule = answer_rule_of(problem)
    t0 = time.perf_counter()
    [outs] = lm.generate([prompt_of(lm, problem)], n=1, max_tokens=budget.max_tokens,
                         temperature=0.0, seed=seed)
    traces = to_traces(outs, rule)
    return Result(traces[0].answer, traces[0].completion, traces,
                  policy_compute(outs, time.perf_counter() - t0))

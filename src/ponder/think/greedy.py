"""Greedy decoding: one sample at temperature 0. The baseline every curve starts from."""

from __future__ import annotations

import time

from ponder.lm.base import LM
from ponder.tasks.base import Problem
from ponder.think.base import Budget, Result, Scorers, policy_compute, prompt_of, to_traces


def greedy(problem: Problem, lm: LM, budget: Budget, scorers: Scorers | None = None,
           seed: int = 0) -> Result:
    t0 = time.perf_counter()
    [outs] = lm.generate([prompt_of(problem)], n=1, max_tokens=budget.max_tokens,
                         temperature=0.0, seed=seed)
    traces = to_traces(outs)
    return Result(traces[0].answer, traces[0].completion, traces,
                  policy_compute(outs, time.perf_counter() - t0))

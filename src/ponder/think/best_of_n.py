"""Best-of-N against a verifier (Snell et al. 2024, §5; Lightman et al. 2023).

Sample N complete solutions in parallel, score each with an outcome scorer, and answer
with the best one. The scorer is an ORM, a PRM whose step scores are aggregated into one
(``aggregate``: ``last`` as in Snell et al., ``min`` or ``prod`` as in Lightman et al.), or
the exact verifier (an oracle upper bound). With ``weighted`` the answer is best-of-N
weighted: the scores of all samples giving the same final answer are summed, and the
answer with the largest total wins (Snell et al. §5, after Li et al. 2023).

Options: ``scorer`` (prm | orm | verifier; default the first one given, in that order),
``aggregate`` (last | min | prod, for a PRM), ``weighted`` (bool, default False).
"""

from __future__ import annotations

import time

from ponder.errors import ConfigError
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
from ponder.think.scorers import choose, outcome_scorer, score_traces

DEFAULTS = {"scorer": None, "aggregate": "last", "weighted": False}


def best_of_n(problem: Problem, lm: LM, budget: Budget, scorers: Scorers | None = None,
              seed: int = 0) -> Result:
    opts = read_options(budget, "best_of_n", DEFAULTS)
    if not isinstance(opts["weighted"], bool):
        raise ConfigError(f"best_of_n: option weighted must be true or false, "
                          f"got {opts['weighted']!r}")
    scorer = outcome_scorer(scorers, problem, opts["scorer"], opts["aggregate"], "best_of_n")
    rule = answer_rule_of(problem)
    t0 = time.perf_counter()
    prompt = prompt_of(lm, problem)
    [outs] = lm.generate([prompt], n=budget.n, max_tokens=budget.max_tokens,
                         temperature=budget.temperature, top_p=budget.top_p, seed=seed)
    compute = policy_compute(outs)
    traces = to_traces(outs, rule)
    scores = score_traces(scorer, lm, prompt, traces, compute)
    i = choose([t.answer for t in traces], scores, "weighted" if opts["weighted"] else "best")
    chosen = traces[i] if i is not None else max(traces, key=lambda t: t.score or 0.0)
    compute.wall_time = time.perf_counter() - t0
    return Result(chosen.answer, chosen.completion, traces, compute,
                  meta={"scorer": type(scorer).__name__, **opts})

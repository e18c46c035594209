"""Greedy decoding: one sample at temperature 0. The baseline every curve starts from.

Options: ``think`` (default true). ``think: false`` answers with no chain of thought: the
prompt closes the thinking at once (``open_thinking(False)``) and the model writes only
its answer, the control of "chain of thought vs direct answering" (Li et al. 2024); run
both in one ``ponder scale`` as ``greedy,direct=greedy`` with ``{"direct": {"think":
false}}`` to compare them on the same problems. ``budget.n``, ``temperature`` and
``top_p`` are ignored: one greedy chain.
"""

from __future__ import annotations

import time
from dataclasses import replace

from ponder.errors import ConfigError
from ponder.lm.base import LM
from ponder.lm.template import THINK_CLOSE
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

DEFAULTS: dict[str, object] = {"think": True}


def greedy(problem: Problem, lm: LM, budget: Budget, scorers: Scorers | None = None,
           seed: int = 0) -> Result:
    think = read_options(budget, "greedy", DEFAULTS)["think"]
    if not isinstance(think, bool):
        raise ConfigError(f"greedy: option think must be true or false, got {think!r}")
    rule = answer_rule_of(problem)
    t0 = time.perf_counter()
    [outs] = lm.generate([prompt_of(lm, problem, think)], n=1, max_tokens=budget.max_tokens,
                         temperature=0.0, seed=seed)
    if not think:  # the closed thinking was in the prompt: the trace shows it, empty
        outs = [replace(c, text=f"{THINK_CLOSE}\n{c.text}") for c in outs]
    traces = to_traces(outs, rule)
    return Result(traces[0].answer, traces[0].completion, traces,
                  policy_compute(outs, time.perf_counter() - t0))

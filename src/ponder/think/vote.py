"""Self-consistency (Wang et al., 2022): sample N chains of thought, answer by majority.

Ties go to the answer whose first sample came earliest, which keeps the choice
deterministic for a fixed seed. Samples with no answer (read by the task's answer rule,
``answer_rule_of``) do not vote.

Options: none.
"""

from __future__ import annotations

import time
from collections import Counter

from ponder.lm.base import LM
from ponder.tasks.base import Problem
from ponder.think.base import (
    Budget,
    Result,
    Scorers,
    Trace,
    answer_rule_of,
    policy_compute,
    prompt_of,
    read_options,
    to_traces,
)

DEFAULTS: dict[str, object] = {}


def majority(answers: list[str | None]) -> str | None:
    """Most common non-None answer (earliest first occurrence breaks ties).

    >>> majority(["3", None, "4", "4", "3"])
    '3'
    >>> majority([None, None]) is None
    True
    """
    counts = Counter(a for a in answers if a is not None)
    if not counts:
        return None
    best = max(counts.values())
    return next(a for a in answers if a is not None and counts[a] == best)


def elect(traces: list[Trace]) -> tuple[str | None, str]:
    """The majority answer of ``traces`` and the first completion giving it (the first
    completion when none answers).

    >>> elect([Trace("a", None), Trace("b", "4"), Trace("c", "4")])
    ('4', 'b')
    """
    answer = majority([t.answer for t in traces])
    chosen = next((t.completion for t in traces if t.answer == answer), traces[0].completion)
    return answer, chosen


def votes(traces: list[Trace]) -> dict[str, int]:
    """How many traces gave each answer (those without one left out)."""
    return dict(Counter(t.answer for t in traces if t.answer is not None))


def vote(problem: Problem, lm: LM, budget: Budget, scorers: Scorers | None = None,
         seed: int = 0) -> Result:
    read_options(budget, "vote", DEFAULTS)
    rule = answer_rule_of(problem)
    t0 = time.perf_counter()
    [outs] = lm.generate([prompt_of(lm, problem)], n=budget.n, max_tokens=budget.max_tokens,
                         temperature=budget.temperature, top_p=budget.top_p, seed=seed)
    traces = to_traces(outs, rule)
    answer, chosen = elect(traces)
    return Result(answer, chosen, traces, policy_compute(outs, time.perf_counter() - t0),
                  meta={"votes": votes(traces)})

"""Sequential revisions (Snell et al. 2024, §6): the model sees its earlier attempts and
writes a new one.

Snell et al. fine-tune a revision model on trajectories of wrong answers followed by a
correct one, keep up to four previous attempts in context, and at test time split a budget
of N samples into N / ``sequential`` parallel chains of ``sequential`` attempts each; the
best ratio depends on the question's difficulty (§6.2). The answer is chosen over every
attempt of every chain by majority or by best-of-N weighted against a verifier.

The revision prompt (built by the pure functions below, so trainers make training pairs
from a model's own wrong attempts followed by a correct one)::

    <question>
    Previous attempt:
    <thinking lines of attempt 1>
    Answer: <answer of attempt 1>
    Previous attempt:
    ...
    <think>

An attempt is shown without its thinking markers, so the prompt holds only the opening
marker the model continues; the new attempt is an ordinary completion. That is ponder's
raw layout; a model with its own (an instruct model's chat template) gets the question
and the attempts as one question in it.

Departures: Snell et al. select within and across chains hierarchically in some runs; here
one selection runs over all attempts. The verifier scores each attempt against the plain
question, not the revision prompt, so the same ORM/PRM serves every strategy.

Options: ``sequential`` (attempts per chain; must divide N; default N, one chain),
``context`` (previous attempts shown, the most recent; default 4), ``select`` (vote |
weighted | best), ``scorer`` and ``aggregate`` (for weighted/best).
"""

from __future__ import annotations

import time

from ponder.errors import ConfigError
from ponder.lm.base import LM
from ponder.lm.template import prompt_for, split_thinking, thinking_steps
from ponder.tasks.base import Problem
from ponder.think.base import (
    Budget,
    Result,
    Scorers,
    Trace,
    answer_of,
    answer_rule_of,
    prompt_of,
    read_options,
)
from ponder.think.compute import Compute
from ponder.think.scorers import choose, outcome_scorer, score_traces
from ponder.think.steps import derive_seed, sample_each

ATTEMPT_HEADER = "Previous attempt:"
DEFAULTS = {"sequential": None, "context": 4, "select": "vote", "scorer": None,
            "aggregate": "last"}


def attempt_block(completion: str) -> str:
    """An earlier attempt as shown to the reviser: thinking lines, then its answer line.

    >>> attempt_block("3+4=8\\n</think>\\nAnswer: 8")
    'Previous attempt:\\n3+4=8\\nAnswer: 8'
    """
    _, visible = split_thinking(completion)
    lines = [*thinking_steps(completion), *([visible] if visible else [])]
    return "\n".join([ATTEMPT_HEADER, *lines])


def revision_prompt(question: str, attempts: list[str], lm: LM | None = None) -> str:
    """The prompt for a new attempt after ``attempts`` (earlier completions, oldest first).
    The question and the attempts form one question, laid out as ``lm`` lays out its
    prompts (``prompt_for``; without a model, ponder's raw layout).

    >>> revision_prompt("Sum 3 4", ["s=3\\ns=8\\n</think>\\nAnswer: 8"])
    'Sum 3 4\\nPrevious attempt:\\ns=3\\ns=8\\nAnswer: 8\\n<think>\\n'
    >>> revision_prompt("Sum 3 4", [])
    'Sum 3 4\\n<think>\\n'
    """
    return prompt_for(lm, "\n".join([question, *(attempt_block(a) for a in attempts)]))


def _check(opts: dict, n: int) -> int:
    seq = n if opts["sequential"] is None else opts["sequential"]
    if not isinstance(seq, int) or not 1 <= seq <= n or n % seq:
        raise ConfigError(f"revise: sequential must be an integer in 1..n dividing the "
                          f"budget n={n}, got {seq!r}")
    if not isinstance(opts["context"], int) or opts["context"] < 1:
        raise ConfigError(f"revise: context must be an integer >= 1, got {opts['context']!r}")
    choose([], [], opts["select"])
    return seq


def revise(problem: Problem, lm: LM, budget: Budget, scorers: Scorers | None = None,
           seed: int = 0) -> Result:
    opts = read_options(budget, "revise", DEFAULTS)
    seq = _check(opts, budget.n)
    rule = answer_rule_of(problem)
    scorer = None if opts["select"] == "vote" else outcome_scorer(
        scorers, problem, opts["scorer"], opts["aggregate"], "revise")
    t0 = time.perf_counter()
    compute = Compute()
    chains: list[list[str]] = [[] for _ in range(budget.n // seq)]
    traces: list[Trace] = []
    for turn in range(seq):  # one batched call per turn: every chain revises in parallel
        prompts = [revision_prompt(problem.prompt, c[-opts["context"]:], lm) for c in chains]
        outs = sample_each(lm, prompts, budget, compute, derive_seed(seed, "revise", turn))
        for i, (chain, c) in enumerate(zip(chains, outs, strict=True)):
            chain.append(c.text)
            traces.append(Trace(c.text, answer_of(c.text, rule), tokens=c.tokens,
                                meta={"chain": i, "turn": turn, "logprob": c.logprob}))
    scores = None
    if scorer is not None:  # against the plain question (see the module docstring)
        scores = score_traces(scorer, lm, prompt_of(lm, problem), traces, compute)
    i = choose([t.answer for t in traces], scores, opts["select"])
    chosen = traces[i] if i is not None else traces[-1]
    compute.wall_time = time.perf_counter() - t0
    return Result(chosen.answer, chosen.completion, traces, compute,
                  meta={"chains": len(chains), **opts, "sequential": seq})

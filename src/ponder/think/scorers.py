"""Scoring candidates for search: adapters, PRM aggregation, and the final choice.

- ``aggregate`` turns a PRM's per-step scores into one score for a (partial) solution:
  ``min`` and ``prod`` (Lightman et al. 2023) or ``last`` (Snell et al. 2024, §5 and
  App. E: the PRM's prediction at the last step, which they found best).
- ``VerifierORM`` makes the task's exact checker an outcome scorer: an oracle for
  upper-bound runs, never a deployable method. ``PRMOutcome`` makes a PRM one.
- ``score``/``score_traces``/``score_steps`` call a scorer and add what it read to a
  Compute record: scorer tokens, and FLOPs = tokens x the scorer's ``flops_per_token``.
- ``choose`` picks the final candidate: by majority, by best score, or by best-of-N
  weighted (Snell et al. §5: sum of scores over the samples sharing an answer).
"""

from __future__ import annotations

import math
from collections import defaultdict

from ponder.errors import ConfigError, ModelError
from ponder.lm.base import LM
from ponder.tasks.base import Problem
from ponder.think.base import OutcomeScorer, Scorers, StepScorer, Trace, Verifier
from ponder.think.compute import Compute
from ponder.think.vote import majority

AGGREGATES = ("last", "min", "prod")
SCORER_KINDS = ("prm", "orm", "verifier")  # also the order of preference when unset
SELECTIONS = ("vote", "weighted", "best")


def aggregate(scores: list[float], how: str = "last", empty: float = 0.0) -> float:
    """One score from per-step scores. A solution with no scored step gets ``empty``
    (0 by default, so an unscored candidate never outranks a scored one).

    >>> [aggregate([0.9, 0.2, 0.8], h) for h in AGGREGATES]
    [0.8, 0.2, 0.144]
    >>> aggregate([], "min")
    0.0
    """
    if how not in AGGREGATES:
        raise ConfigError(f"unknown PRM aggregate {how!r}; choose one of {AGGREGATES}")
    if not scores:
        return empty
    if how == "last":
        return scores[-1]
    if how == "min":
        return min(scores)
    return round(math.prod(scores), 12)


class VerifierORM:
    """The exact verifier of one problem as an outcome scorer (no answer scores 0).
    It runs no model, so it costs no FLOPs; tokens it reads are still counted."""

    flops_per_token = 0.0

    def __init__(self, verifier: Verifier, problem: Problem):
        self.verifier, self.problem = verifier, problem

    def score(self, prompts: list[str], completions: list[str]) -> list[float]:
        return [self.verifier(self.problem, c) or 0.0 for c in completions]


class PRMOutcome:
    """A PRM judging whole solutions through ``aggregate``."""

    def __init__(self, prm: StepScorer, how: str = "last"):
        aggregate([], how)  # validate early
        self.inner, self.how = prm, how
        self.flops_per_token = prm.flops_per_token

    def score(self, prompts: list[str], completions: list[str]) -> list[float]:
        return [aggregate(s, self.how) for s in self.inner.score_steps(prompts, completions)]


def outcome_scorer(scorers: Scorers | None, problem: Problem, kind: str | None = None,
                   how: str = "last", strategy: str = "strategy") -> OutcomeScorer:
    """The outcome scorer to use: ``kind`` in SCORER_KINDS, or when None the first of
    them that ``scorers`` provides."""
    s = scorers or Scorers()
    have = {"prm": s.prm, "orm": s.orm, "verifier": s.verifier}
    if kind is not None and kind not in have:
        raise ConfigError(f"{strategy}: unknown scorer {kind!r}; choose one of {SCORER_KINDS}")
    if kind is not None and have[kind] is None:
        raise ConfigError(f"{strategy}: scorer {kind!r} was asked for but not given; "
                          f"pass Scorers({kind}=...)")
    kind = kind or next((k for k in SCORER_KINDS if have[k] is not None), None)
    if kind is None:
        raise ConfigError(f"{strategy} needs a scorer: pass Scorers(prm=..., orm=... or "
                          "verifier=...), or use the 'vote' strategy")
    if kind == "prm":
        return PRMOutcome(s.prm, how)
    if kind == "verifier":
        return VerifierORM(s.verifier, problem)
    return s.orm


def tokens_read(scorer: object, lm: LM, prompts: list[str], completions: list[str]) -> int:
    """Tokens a scorer reads: its own ``tokens(prompts, completions)`` when it has one,
    otherwise the pairs counted with the policy's tokenizer (an estimate)."""
    inner = getattr(scorer, "inner", scorer)
    if hasattr(inner, "tokens"):
        return int(inner.tokens(prompts, completions))
    return sum(lm.count_tokens(p) + lm.count_tokens(c)
               for p, c in zip(prompts, completions, strict=True))


def _charge(scorer: object, lm: LM, prompts: list[str], completions: list[str],
            compute: Compute) -> None:
    k = tokens_read(scorer, lm, prompts, completions)
    compute.scorer_tokens += k
    compute.flops += k * scorer.flops_per_token  # type: ignore[attr-defined]


def _check(out: list, n: int, scorer: object) -> list:
    if len(out) != n:
        raise ModelError(f"{type(scorer).__name__} returned {len(out)} scores for {n} inputs")
    return out


def score(scorer: OutcomeScorer, lm: LM, prompts: list[str], completions: list[str],
          compute: Compute) -> list[float]:
    """Outcome scores, charged to ``compute``."""
    if not completions:
        return []
    _charge(scorer, lm, prompts, completions, compute)
    return _check(list(scorer.score(prompts, completions)), len(completions), scorer)


def score_traces(scorer: OutcomeScorer, lm: LM, prompt: str, traces: list[Trace],
                 compute: Compute) -> list[float]:
    """Outcome scores of candidate answers to ``prompt``, stored on each trace as
    ``score`` and charged to ``compute``."""
    scores = score(scorer, lm, [prompt] * len(traces), [t.completion for t in traces], compute)
    for t, s in zip(traces, scores, strict=True):
        t.score = s
    return scores


def score_steps(prm: StepScorer, lm: LM, prompts: list[str], completions: list[str],
                compute: Compute) -> list[list[float]]:
    """Per-step PRM scores, charged to ``compute``."""
    if not completions:
        return []
    _charge(prm, lm, prompts, completions, compute)
    return _check(list(prm.score_steps(prompts, completions)), len(completions), prm)


def choose(answers: list[str | None], scores: list[float] | None, how: str) -> int | None:
    """Index of the chosen candidate, or None when no candidate has an answer.

    ``vote``: the majority answer; ``weighted``: the answer with the largest sum of scores;
    ``best``: the best-scored answered candidate. Within the winning answer the
    best-scored candidate is returned; ties go to the earliest.

    >>> choose(["1", "2", "2"], [0.9, 0.2, 0.3], "best")
    0
    >>> choose(["1", "2", "2"], [0.9, 0.2, 0.3], "vote")
    2
    >>> choose(["1", "2", "2"], [0.9, 0.6, 0.5], "weighted")
    1
    >>> choose([None, "7"], None, "vote"), choose([None], [1.0], "best")
    (1, None)
    """
    if how not in SELECTIONS:
        raise ConfigError(f"unknown selection {how!r}; choose one of {SELECTIONS}")
    if how != "vote" and scores is None:
        raise ConfigError(f"selection {how!r} needs scores (a scorer)")
    s = scores if scores is not None else [0.0] * len(answers)
    if how == "vote":
        winner = majority(answers)
    elif how == "weighted":
        totals: dict[str, float] = defaultdict(float)
        for a, x in zip(answers, s, strict=True):
            if a is not None:
                totals[a] += x
        best = max(totals.values(), default=None)
        winner = next((a for a in answers if a is not None and totals[a] == best), None)
    else:
        winner = None
    pool = [i for i, a in enumerate(answers) if a is not None and winner in (None, a)]
    if not pool:
        return None
    return max(pool, key=lambda i: (s[i], -i))

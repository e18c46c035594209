"""Rewards for RL on checkable problems: the verifier's judgement plus optional shaping.

Each component is a pure function over a batch, in TRL's shape (one value per
completion, ``None`` = could not judge):

- ``verifier_reward``: the task's exact verifier applied to the *visible* answer, i.e.
  what follows ``</think>``; a completion that never closes its thinking has no answer
  (None), so an answer-like number inside the chain of thought earns nothing.
- shaping terms by name (``ponder.verify.rewards.SHAPING``, e.g. ``format``: the
  template's shape, DeepSeek-R1's format reward), each with its weight.
- ``overlong_penalty``: DAPO's soft overlong punishment (Yu et al. 2025, eq. 13): 0 up
  to ``max_tokens - cache`` tokens, then falling linearly to -1 at ``max_tokens``.
- ``process_reward``: a PRM's step scores reduced to one number per completion
  (``min`` as in Lightman et al. 2023; ``last``, ``mean`` or ``prod`` as in Snell et al.
  2024 / Wang et al. 2024).

``compute_rewards`` adds them with the weights of a RewardConfig. Only the verifier is
on by default: the outcome reward alone is the "verifiable reward" of RLVR.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ponder.errors import ConfigError, UnknownName
from ponder.lm.template import split_thinking
from ponder.tasks.base import ANSWER_PREFIX, Problem, Task
from ponder.think.base import StepScorer
from ponder.verify.rewards import SHAPING

#: (problem, text) -> score in [0, 1], or None when no answer can be extracted
Verifier = Callable[[Problem, str], float | None]

_ANSWER_ONLY = re.compile(rf"\n*{re.escape(ANSWER_PREFIX)}\S[^\n]*\n*")
PRM_AGGREGATES = ("min", "last", "mean", "prod")


def task_verifier(tasks: Sequence[Task]) -> Verifier:
    """One verifier for problems of several task families, dispatching on
    ``problem.task``."""
    by_name = {t.name: t for t in tasks}

    def verify(problem: Problem, text: str) -> float | None:
        if problem.task not in by_name:
            raise UnknownName("task", problem.task, list(by_name))
        return by_name[problem.task].verify(problem, text)

    return verify


def verifier_reward(problems: Sequence[Problem], completions: Sequence[str],
                    verify: Verifier) -> list[float | None]:
    """The verifier's score of each completion's visible answer; None if it has none.

    >>> from ponder.tasks.base import Problem
    >>> p = Problem("1", "toy", "2+2?", "4", 1)
    >>> v = lambda prob, text: float(text.strip().endswith(prob.answer))
    >>> verifier_reward([p] * 3, ["2+2=4\\n</think>\\nAnswer: 4", "</think>\\nAnswer: 5",
    ...                           "2+2=4\\nAnswer: 4"], v)
    [1.0, 0.0, None]
    """
    out: list[float | None] = []
    for problem, completion in zip(problems, completions, strict=True):
        _, visible = split_thinking(completion)
        out.append(verify(problem, visible) if visible else None)
    return out


def overlong_penalty(lengths: Sequence[int], max_tokens: int | Sequence[int],
                     cache: int) -> list[float]:
    """DAPO's soft overlong punishment of completions of ``lengths`` tokens, each
    generated under ``max_tokens`` (one cap, or one per completion); the window is
    ``cache`` tokens, or the whole cap when the cap is shorter.

    >>> overlong_penalty([10, 80, 90, 100], max_tokens=100, cache=20)
    [0.0, 0.0, -0.5, -1.0]
    """
    if cache < 1:
        raise ConfigError(f"overlong cache must be >= 1 token, got {cache}")
    caps = [max_tokens] * len(lengths) if isinstance(max_tokens, int) else list(max_tokens)
    out = []
    for n, cap in zip(lengths, caps, strict=True):
        window = min(cache, cap)
        start = cap - window
        out.append(0.0 if n <= start else -min(1.0, (n - start) / window))
    return out


def process_reward(step_scores: Sequence[Sequence[float]], how: str = "min") -> list[float]:
    """One number per completion from a PRM's per-step scores (0 for no steps).

    >>> process_reward([[0.9, 0.2, 0.8], []], "min")
    [0.2, 0.0]
    >>> [round(x, 2) for x in process_reward([[0.5, 0.5]], "prod")]
    [0.25]
    """
    if how not in PRM_AGGREGATES:
        raise ConfigError(f"PRM aggregate must be one of {PRM_AGGREGATES}, got {how!r}")
    out = []
    for s in step_scores:
        if not s:
            out.append(0.0)
        elif how == "min":
            out.append(float(min(s)))
        elif how == "last":
            out.append(float(s[-1]))
        elif how == "mean":
            out.append(float(sum(s) / len(s)))
        else:
            out.append(float(math.prod(s)))
    return out


@dataclass
class RewardConfig:
    """How the scalar reward of a completion is made.

    no_answer: reward of a completion with no extractable answer (the verifier said None).
    format_weight: weight of the ``format`` shaping term (0 disables); the same as
        ``shaping={"format": w}``.
    shaping: further shaping terms by name (``ponder.verify.rewards.SHAPING``) and weight.
    overlong_cache: DAPO soft-punishment window in tokens before ``max_tokens`` (0
        disables the length penalty).
    prm_weight / prm_aggregate: weight of the PRM's process reward (needs a PRM).
    """

    no_answer: float = 0.0
    format_weight: float = 0.0
    overlong_cache: int = 0
    prm_weight: float = 0.0
    prm_aggregate: str = "min"
    shaping: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.shaping) - set(SHAPING))
        if unknown:
            raise UnknownName("shaping term", unknown[0], list(SHAPING))
        if any(w < 0 for w in self.shaping.values()):
            raise ConfigError(f"shaping weights must be >= 0, got {self.shaping}")
        if self.overlong_cache < 0:
            raise ConfigError(f"overlong_cache must be >= 0, got {self.overlong_cache}")
        if self.prm_aggregate not in PRM_AGGREGATES:
            raise ConfigError(f"prm_aggregate must be one of {PRM_AGGREGATES}, "
                              f"got {self.prm_aggregate!r}")
        if self.format_weight < 0 or self.prm_weight < 0:
            raise ConfigError("reward weights must be >= 0")


@dataclass
class Rewards:
    total: list[float]  # what the advantage estimator sees
    correct: list[float]  # 1.0 where the verifier accepted the answer
    parts: dict[str, list[float]] = field(default_factory=dict)  # each shaping term


def compute_rewards(cfg: RewardConfig, problems: Sequence[Problem], prompts: Sequence[str],
                    completions: Sequence[str], lengths: Sequence[int],
                    max_tokens: int | Sequence[int],
                    verify: Verifier, prm: StepScorer | None = None) -> Rewards:
    """Verifier reward plus the enabled shaping terms, one float per completion."""
    raw = verifier_reward(problems, completions, verify)
    total = [cfg.no_answer if r is None else r for r in raw]
    correct = [float(r is not None and r >= 1.0) for r in raw]
    parts: dict[str, list[float]] = {"verifier": list(total)}
    terms = dict(cfg.shaping)
    if cfg.format_weight:
        terms["format"] = terms.get("format", 0.0) + cfg.format_weight
    for name, weight in terms.items():
        if weight:
            parts[name] = SHAPING[name](list(completions))
            total = [t + weight * f for t, f in zip(total, parts[name], strict=True)]
    if cfg.overlong_cache:
        parts["length"] = overlong_penalty(lengths, max_tokens, cfg.overlong_cache)
        total = [t + p for t, p in zip(total, parts["length"], strict=True)]
    if cfg.prm_weight:
        if prm is None:
            raise ConfigError("prm_weight > 0 needs a process reward model (--prm PATH)")
        parts["process"] = process_reward(prm.score_steps(list(prompts), list(completions)),
                                          cfg.prm_aggregate)
        total = [t + cfg.prm_weight * p for t, p in zip(total, parts["process"], strict=True)]
    return Rewards(total, correct, parts)

"""The one signature every test-time strategy shares.

    strategy(problem, lm, budget, scorers) -> Result

A strategy gets a Problem (only ``prompt`` is read for generation; ``answer`` is never
looked at), an LM speaking the protocol of ``ponder.lm.base``, a Budget, and optional
Scorers. The question becomes a prompt through ``prompt_of(lm, problem)``, so a model
with its own layout (an instruct model's chat template) is asked in it. It returns the
chosen answer, every trace it produced, and a Compute record.

Each completion's answer is read by the answer rule of the problem's task
(``answer_rule_of``), the same rule ``Task.verify`` scores by: for a built-in task a
stray number is no answer, so it neither votes nor wins.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Protocol

from ponder.lm.base import LM, Completion
from ponder.lm.template import prompt_for, split_thinking
from ponder.tasks.base import Problem
from ponder.think.compute import Compute
from ponder.verify.answers import ANSWER_RULES, extract_by_rule, normalize_answer

#: (problem, completion_text) -> score in [0, 1] or None (no answer found)
Verifier = Callable[[Problem, str], float | None]


class OutcomeScorer(Protocol):
    """An ORM: one score per complete (prompt, completion) pair."""

    flops_per_token: float

    def score(self, prompts: list[str], completions: list[str]) -> list[float]: ...


class StepScorer(Protocol):
    """A PRM: one score per step (line of thinking) of each completion."""

    flops_per_token: float

    def score_steps(self, prompts: list[str], completions: list[str]) -> list[list[float]]: ...


@dataclass
class Scorers:
    verifier: Verifier | None = None  # exact checker: only for oracle/upper-bound runs
    orm: OutcomeScorer | None = None
    prm: StepScorer | None = None


def _is_int(v: object) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _is_number(v: object) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


@dataclass
class Budget:
    """How much a strategy may spend. ``n`` is the number of samples (or the total
    sample budget N for search); ``max_tokens`` caps each completion."""

    n: int = 1
    max_tokens: int = 256
    temperature: float = 0.8
    top_p: float = 1.0
    options: dict[str, Any] = field(default_factory=dict)  # strategy-specific knobs

    def __post_init__(self) -> None:
        # budgets also come from JSON (agents' explorers, compute-optimal policies), so
        # types are checked too: "4" or None must not surface later as a TypeError
        from ponder.errors import ConfigError

        for key in ("n", "max_tokens"):
            v = getattr(self, key)
            if not _is_int(v) or v < 1:
                raise ConfigError(f"budget {key} must be an integer >= 1, got {v!r}")
        for key in ("temperature", "top_p"):
            v = getattr(self, key)
            if not _is_number(v):
                raise ConfigError(f"budget {key} must be a number, got {v!r}")
        if self.temperature < 0:
            raise ConfigError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ConfigError(f"top_p must be in (0, 1], got {self.top_p}")
        if not isinstance(self.options, dict):
            raise ConfigError(f"budget options must be a dict of strategy options, got "
                              f"{type(self.options).__name__}")


@dataclass
class Trace:
    """One candidate the strategy produced."""

    completion: str
    answer: str | None
    score: float | None = None
    tokens: int = 0
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class Result:
    answer: str | None
    completion: str  # the chosen completion (thinking + answer line)
    traces: list[Trace]
    compute: Compute
    meta: dict[str, Any] = field(default_factory=dict)


def read_options(budget: Budget, strategy: str, defaults: dict[str, Any]) -> dict[str, Any]:
    """``budget.options`` merged over a strategy's defaults; an unknown key (often a typo)
    raises ConfigError naming the known ones."""
    from ponder.errors import ConfigError

    unknown = sorted(set(budget.options) - set(defaults))
    if unknown:
        raise ConfigError(f"{strategy}: unknown option(s) {unknown}; "
                          f"known options: {sorted(defaults)}")
    return {**defaults, **budget.options}


class Strategy(Protocol):
    def __call__(
        self,
        problem: Problem,
        lm: LM,
        budget: Budget,
        scorers: Scorers | None = None,
        seed: int = 0,
    ) -> Result: ...


#: the rule of a task judged by running code (HumanEval): the answer is the code itself
CODE_RULE = "code"
#: ``Problem.meta`` key that states the answer rule outright, for a problem whose task is
#: not in the registry (``run_scale`` sets it to the rule of the task it judges with)
ANSWER_RULE_KEY = "answer_rule"
#: the rule of a problem of no known task (a chat request, a hand-made problem): text
#: from no task teaches no answer format, so every marker counts, down to the last number
DEFAULT_RULE = "lenient"


@cache
def _family_rule(name: str) -> str | None:
    """``answer_rule`` of the registered task class ``name`` belongs to, read from the
    class so no data is loaded: ``arith`` is built in, ``jsonl:PATH`` and ``rg:NAME`` are
    of their adapter's family whatever the spec after the colon. None if unregistered."""
    from ponder.tasks import BUILTIN, EXTERNAL, _load

    path = BUILTIN.get(name) or EXTERNAL.get(name.partition(":")[0])
    return _load(path).answer_rule if path else None


def answer_rule_of(problem: Problem) -> str:
    """How answers to ``problem`` are read (``ponder.verify.answers.ANSWER_RULES``, or
    ``"code"``): ``problem.meta["answer_rule"]`` when set, else the rule of its registered
    task family, else ``DEFAULT_RULE``.

    >>> answer_rule_of(Problem("p", "arith", "1+2?", "3", 1))
    'answer-line'
    >>> answer_rule_of(Problem("p", "jsonl:no/such/file.jsonl", "1+2?", "3", 1))
    'lenient'
    """
    rule = problem.meta.get(ANSWER_RULE_KEY) or _family_rule(problem.task) or DEFAULT_RULE
    if rule not in ANSWER_RULES and rule != CODE_RULE:
        from ponder.errors import ConfigError

        raise ConfigError(f"problem {problem.id}: unknown answer rule {rule!r}; choose one "
                          f"of {[*sorted(ANSWER_RULES), CODE_RULE]}")
    return rule


def answer_of(completion: str, rule: str) -> str | None:
    """Final answer of a completion as ``rule`` reads it (see ``answer_rule_of``), from
    the visible part after the thinking; None if absent. Answers are normalized, except
    code, whose indentation matters.

    >>> answer_of("3 + 8 = 11\\n</think>\\n11 it is", "lenient")
    '11'
    >>> answer_of("3 + 8 = 11\\n</think>\\n11 it is", "answer-line") is None
    True
    """
    _, visible = split_thinking(completion)
    if not visible:
        return None  # never answered: thinking alone does not count as an answer
    if rule == CODE_RULE:
        from ponder.verify.code import extract_code

        return extract_code(visible) or None
    got = extract_by_rule(visible, rule)
    return normalize_answer(got) if got is not None else None


def prompt_of(lm: LM, problem: Problem, think: bool = True) -> str:
    """The prompt ``lm`` continues for ``problem``: the model's own layout (an instruct
    model's chat template) or ponder's raw one (``ponder.lm.template.prompt_for``)."""
    return prompt_for(lm, problem.prompt, think)


def policy_compute(completions: list[Completion], wall_time: float = 0.0) -> Compute:
    """Compute record of a batch of policy completions."""
    return Compute(
        prompt_tokens=sum(c.prompt_tokens for c in completions),
        generated_tokens=sum(c.tokens for c in completions),
        flops=sum(c.flops for c in completions),
        wall_time=wall_time,
        samples=len(completions),
    )


def to_traces(completions: list[Completion], rule: str) -> list[Trace]:
    """One Trace per completion, its answer read by ``rule``."""
    return [Trace(c.text, answer_of(c.text, rule), tokens=c.tokens,
                  meta={"logprob": c.logprob, "finish_reason": c.finish_reason})
            for c in completions]

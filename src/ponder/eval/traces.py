"""Statistics of chains of thought and of repeated sampling.

- ``pass_at_k``: the unbiased estimator of Chen et al. 2021 (Codex, eq. 1): from ``n``
  samples of which ``c`` are correct, ``1 - C(n-c, k) / C(n, k)``, computed as a product
  so it neither overflows nor loses precision.
- ``trace_stats``: mean chain-of-thought length (steps, characters) and how often a trace
  backtracks — abandons a line of attack and tries another — which is the behaviour the
  public reports on o1 describe RL as bringing out. A backtrack is a thinking line that
  matches one of ``BACKTRACK_PATTERNS``; a *self-correction* is a backtrack after which
  the trace still reaches a verified answer.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from ponder.errors import InvalidInput
from ponder.eval.accuracy import judge, token_budgets
from ponder.lm.base import LM
from ponder.lm.template import prompt_for, split_thinking, thinking_steps
from ponder.tasks.base import Task

#: lines that abandon the current attempt. Countdown's "search" trace returns to an
#: earlier state with a ``back: <numbers>`` line; free-form reasoners write the others.
BACKTRACK_PATTERNS: tuple[str, ...] = (
    r"^\s*back(?:track)?\s*:",
    r"^\s*(?:backtrack|undo|dead end|wait|try again)\b",
)


def pass_at_k(n: int, c: int, k: int) -> float:
    """Probability that at least one of ``k`` samples drawn without replacement from
    ``n`` (``c`` of them correct) is correct.

    >>> pass_at_k(10, 0, 5), pass_at_k(10, 10, 1), round(pass_at_k(10, 3, 1), 6)
    (0.0, 1.0, 0.3)
    >>> round(pass_at_k(4, 1, 2), 4)  # 1 - C(3,2)/C(4,2) = 1 - 3/6
    0.5
    """
    if not 0 <= c <= n or not 1 <= k <= n:
        raise InvalidInput(f"pass@k needs 0 <= c <= n and 1 <= k <= n, got n={n} c={c} k={k}")
    if n - c < k:
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def mean_pass_at_k(correct_counts: Sequence[int], n: int, k: int) -> float:
    """Mean of ``pass_at_k`` over problems, each with ``n`` samples."""
    if not correct_counts:
        raise InvalidInput("pass@k over zero problems")
    return float(np.mean([pass_at_k(n, c, k) for c in correct_counts]))


def count_backtracks(completion: str,
                     patterns: Sequence[str] = BACKTRACK_PATTERNS) -> int:
    """Number of thinking lines that abandon an attempt.

    >>> count_backtracks("8*5=40: 40 3\\n40-3=37: 37\\nback: 40 3\\n40+3=43: 43\\n</think>")
    1
    """
    rx = re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE)
    return sum(1 for line in thinking_steps(completion) if rx.search(line))


@dataclass
class TraceStats:
    traces: int
    mean_steps: float  # thinking lines per trace
    mean_chars: float  # characters of thinking per trace
    mean_tokens: float | None  # generated tokens per trace, when given
    backtracks_per_trace: float
    traces_with_backtrack: float  # share of traces that backtrack at least once
    self_corrections_per_trace: float | None  # backtracks in verified traces, per trace
    answered: float  # share of traces that close their thinking with an answer

    def to_dict(self) -> dict:
        return asdict(self)


def trace_stats(completions: Sequence[str], correct: Sequence[bool] | None = None,
                tokens: Sequence[int] | None = None,
                patterns: Sequence[str] = BACKTRACK_PATTERNS) -> TraceStats:
    """Length and backtracking statistics of a list of completions.

    >>> s = trace_stats(["a\\nback: 1\\nb\\n</think>\\nAnswer: 1", "a\\n</think>\\nAnswer: 2"],
    ...                 correct=[True, False])
    >>> s.mean_steps, s.backtracks_per_trace, s.self_corrections_per_trace, s.answered
    (2.0, 0.5, 0.5, 1.0)
    """
    if not completions:
        raise InvalidInput("trace statistics of zero traces")
    n = len(completions)
    backs = [count_backtracks(c, patterns) for c in completions]
    steps = [len(thinking_steps(c)) for c in completions]
    chars = [len(split_thinking(c)[0]) for c in completions]
    answered = [bool(split_thinking(c)[1]) for c in completions]
    self_corr = None
    if correct is not None:
        if len(correct) != n:
            raise InvalidInput("correct must have one flag per completion")
        self_corr = sum(b for b, ok in zip(backs, correct, strict=True) if ok) / n
    if tokens is not None and len(tokens) != n:
        raise InvalidInput("tokens must have one count per completion")
    return TraceStats(
        traces=n,
        mean_steps=sum(steps) / n,
        mean_chars=sum(chars) / n,
        mean_tokens=None if tokens is None else sum(tokens) / n,
        backtracks_per_trace=sum(backs) / n,
        traces_with_backtrack=sum(b > 0 for b in backs) / n,
        self_corrections_per_trace=self_corr,
        answered=sum(answered) / n,
    )


def sample_report(lm: LM, task: Task, n: int, k: int, *, temperature: float = 1.0,
                  seed: int = 0, difficulty: int | list[int] | None = None,
                  max_tokens: int | None = None, batch_size: int = 16,
                  ks: Sequence[int] | None = None) -> dict:
    """Sample ``k`` completions of each of ``n`` TEST problems: pass@j for j in ``ks``
    (default 1, 2, 4, ... up to k), trace statistics of all samples, and each problem's
    number of correct samples by id (``correct_counts``, to pair two models' pass@k).

    Caps default to the per-level teacher budgets of ``eval.accuracy.token_budgets``.
    """
    if n < 1 or k < 1:
        raise InvalidInput(f"need n >= 1 and k >= 1, got n={n} k={k}")
    problems = task.problems("test", n, seed=seed, difficulty=difficulty)
    caps = token_budgets(task, lm, seed=seed) if max_tokens is None else {}
    prompts = [prompt_for(lm, p.prompt) for p in problems]
    texts: list[str] = []
    tokens: list[int] = []
    correct: list[bool] = []
    counts: list[int] = []
    for i in range(0, len(problems), batch_size):
        chunk = problems[i : i + batch_size]
        limits = [max_tokens or caps[p.difficulty] for p in chunk]
        outs = lm.generate(prompts[i : i + batch_size], n=k, max_tokens=limits,
                           temperature=temperature, seed=seed + i)
        for p, row in zip(chunk, outs, strict=True):
            oks = [(judge(task, p, c.text) or 0.0) >= 1.0 for c in row]
            texts += [c.text for c in row]
            tokens += [c.tokens for c in row]
            correct += oks
            counts.append(sum(oks))
    ks = sorted({j for j in (ks or [2**e for e in range(k.bit_length())] + [k]) if j <= k})
    return {"task": task.name, "problems": len(problems), "samples_per_problem": k,
            "temperature": temperature,
            "pass_at": {str(j): mean_pass_at_k(counts, k, j) for j in ks},
            "traces": trace_stats(texts, correct, tokens).to_dict(),
            "correct_counts": {p.id: c for p, c in zip(problems, counts, strict=True)}}

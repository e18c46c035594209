"""Batch reward functions in TRL's shape: ``(completions, references, **kw) -> list``.

One value per completion: a float, or ``None`` when the completion could not be judged
(it has no final answer, or no code). ``completions`` are strings or conversations in
TRL's conversational format (a list of ``{"role", "content"}`` messages, of which the
last is scored). Extra keyword arguments (TRL passes ``prompts``, ``completion_ids`` and
every data-set column) are accepted and ignored unless a function names them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from ponder.lm.template import THINK_CLOSE, THINK_OPEN
from ponder.tasks.base import ANSWER_PREFIX
from ponder.verify.answers import extract_answer, normalize_answer
from ponder.verify.code import check_many, extract_code, function_program
from ponder.verify.math import math_equal

Completion = str | Sequence[dict[str, Any]]


def completion_text(completion: Completion) -> str:
    """The text to score: the string itself, or the last message's content.

    >>> completion_text([{"role": "assistant", "content": "Answer: 4"}])
    'Answer: 4'
    """
    if isinstance(completion, str):
        return completion
    if not completion:
        return ""
    return str(completion[-1].get("content") or "")


def _check_lengths(completions: Sequence, references: Sequence) -> None:
    if len(completions) != len(references):
        raise ValueError(f"got {len(completions)} completions but {len(references)} "
                         "references; pass one reference per completion")


def exact_match_reward(completions: Sequence[Completion], references: Sequence[str],
                       **kwargs: Any) -> list[float | None]:
    """1.0 when the final answer equals the reference after ``normalize_answer``.

    >>> exact_match_reward(["Answer: 1,000", "Answer: 7", "no idea"], ["1000", "8", "1"])
    [1.0, 0.0, None]
    """
    _check_lengths(completions, references)
    out: list[float | None] = []
    for c, ref in zip(completions, references, strict=True):
        got = extract_answer(completion_text(c))
        out.append(None if got is None
                   else float(normalize_answer(got) == normalize_answer(str(ref))))
    return out


def math_reward(completions: Sequence[Completion], references: Sequence[str],
                **kwargs: Any) -> list[float | None]:
    """1.0 when the final answer is mathematically equal to the reference (math-verify).

    >>> math_reward(["\\\\boxed{\\\\frac{1}{2}}", "#### 0.4", "hmm"], ["0.5", "1/2", "1"])
    [1.0, 0.0, None]
    """
    _check_lengths(completions, references)
    out: list[float | None] = []
    for c, ref in zip(completions, references, strict=True):
        got = extract_answer(completion_text(c))
        out.append(None if got is None else float(math_equal(got, str(ref))))
    return out


def explicit_answer_reward(completions: Sequence[Completion],
                           references: Sequence[str] | None = None,
                           **kwargs: Any) -> list[float]:
    """1.0 when the completion states its final answer explicitly (answer tag, answer
    line, ``\\boxed{}`` or ``####``) rather than leaving a number to be guessed.

    >>> explicit_answer_reward(["so\\nAnswer: 3", "<answer>3</answer>", "it is 3"])
    [1.0, 1.0, 0.0]
    """
    return [float(extract_answer(completion_text(c), last_number=False) is not None)
            for c in completions]


_ANSWER_ONLY = re.compile(rf"\n*{re.escape(ANSWER_PREFIX)}\S[^\n]*\n*")


def think_format_reward(completions: Sequence[Completion],
                        references: Sequence[str] | None = None,
                        **kwargs: Any) -> list[float]:
    """1.0 for ``<steps></think>\\nAnswer: <something>`` and nothing else, 0.0 otherwise:
    the thinking closed exactly once, then one answer line (DeepSeek-R1's format reward).
    Text from which the ``</think>`` marker was stripped (TRL decodes with special tokens
    removed) cannot show the format: score such completions with ponder's own sampling.

    >>> think_format_reward(["a\\n</think>\\nAnswer: 4", "a\\nAnswer: 4",
    ...                      "</think>\\nAnswer: 4\\nx"])
    [1.0, 0.0, 0.0]
    """
    out = []
    for c in completions:
        text = completion_text(c)
        _, sep, tail = text.partition(THINK_CLOSE)
        ok = bool(sep) and THINK_OPEN not in text and _ANSWER_ONLY.fullmatch(tail) is not None
        out.append(float(ok))
    return out


#: shaping terms an RL run can add to the verifier's reward by name, with a weight
#: (``ponder.train.rewards.RewardConfig.shaping``); a new term is one function here
SHAPING: dict[str, Callable[..., list[float]]] = {
    "format": think_format_reward,
    "explicit_answer": explicit_answer_reward,
}


def code_reward(completions: Sequence[Completion], references: Sequence[str], *,
                entry_point: str | Sequence[str], prefix: Sequence[str] | None = None,
                workers: int | None = None, timeout_s: float = 10.0,
                **kwargs: Any) -> list[float | None]:
    """1.0 when the completion's code passes the tests in ``references`` (HumanEval
    style: each defines ``check(candidate)``), run in parallel in the sandbox.

    ``entry_point`` names the function under test (one name, or one per completion);
    ``prefix`` is the function header each completion continues (HumanEval's prompt),
    if any. None when a completion holds no code.

    >>> tests = "def check(f):\\n    assert f(2) == 3"
    >>> code_reward(["```python\\ndef inc(x):\\n    return x + 1\\n```", "def inc(x): return x",
    ...              ""], [tests] * 3, entry_point="inc")
    [1.0, 0.0, None]
    """
    _check_lengths(completions, references)
    n = len(completions)
    names = [entry_point] * n if isinstance(entry_point, str) else list(entry_point)
    heads = list(prefix) if prefix is not None else [""] * n
    if len(names) != n or len(heads) != n:
        raise ValueError("entry_point and prefix need one value per completion")
    cases, index = [], []
    for i, c in enumerate(completions):
        code = extract_code(completion_text(c))
        if code.strip():
            program = function_program(heads[i], code, names[i]) if heads[i] else code
            cases.append((program, str(references[i]), names[i]))
            index.append(i)
    out: list[float | None] = [None] * n
    results = check_many(cases, workers=workers, timeout_s=timeout_s)
    for i, r in zip(index, results, strict=True):
        out[i] = float(r.passed)
    return out

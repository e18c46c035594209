"""Fake policies, reward models and an LM recorder for the strategy tests.

The step policy writes "step k ok" / "step k bad" lines, then "</think>\\nAnswer: 42" when
every step is ok and "Answer: 13" otherwise. At temperature > 0 each step is ok with
probability ``p_ok``; at temperature 0 (greedy) the first step is bad and later steps copy
the previous one, so the greedy path is wrong but a greedy continuation of a good prefix
stays good. The fake PRM scores "ok" lines 0.9, "bad" lines 0.1, "p=X" lines X.
"""

from __future__ import annotations

import random
import re

from ponder.lm.base import Completion
from ponder.lm.function import FunctionLM
from ponder.lm.template import THINK_CLOSE, thinking_steps
from ponder.tasks.base import Problem
from ponder.think.base import answer_of, answer_rule_of

RIGHT, WRONG = "42", "13"
PROBLEM = Problem(id="toy-1", task="toy", prompt="Solve the toy", answer=RIGHT, difficulty=1)


def verifier(problem: Problem, completion: str) -> float | None:
    got = answer_of(completion, answer_rule_of(problem))
    return None if got is None else float(got == problem.answer)


def _body(prompt: str) -> str:
    return prompt.rsplit("<think>\n", 1)[1]


def step_policy(p_ok: float = 0.5, steps: int = 3) -> FunctionLM:
    def fn(prompt: str, rng: random.Random, temperature: float) -> str:
        body = _body(prompt)
        thinking, closed, _ = body.partition(THINK_CLOSE)
        lines = [x for x in thinking.split("\n") if x.strip()]
        out = []
        for k in range(len(lines), steps):
            if temperature == 0:
                ok = bool(lines + out) and (lines + out)[-1].endswith(" ok")
            else:
                ok = rng.random() < p_ok
            out.append(f"step {k + 1} {'ok' if ok else 'bad'}")
        answer = RIGHT if all(x.endswith(" ok") for x in lines + out) else WRONG
        if closed:  # asked to write the answer after a closing step
            return f"Answer: {answer}"
        return "".join(f"{x}\n" for x in out) + f"{THINK_CLOSE}\nAnswer: {answer}"

    return FunctionLM(fn, name="step-policy", flops_per_token=100.0)


def answering(values: int) -> RecordingLM:
    """Answers uniformly among ``values`` numbers (1: always the same)."""

    def fn(prompt: str, rng: random.Random, temperature: float) -> str:
        return f"thinking\n</think>\nAnswer: {rng.randrange(values)}"

    return RecordingLM(FunctionLM(fn))


class FakePRM:
    """Step scores from the line text; counts what it reads."""

    def __init__(self, flops_per_token: float = 1000.0):
        self.flops_per_token = flops_per_token
        self.read = 0
        self.calls = 0

    @staticmethod
    def line_score(line: str) -> float:
        m = re.search(r"p=([0-9.]+)", line)
        if m:
            return float(m.group(1))
        return 0.9 if line.endswith(" ok") else 0.1

    def score_steps(self, prompts: list[str], completions: list[str]) -> list[list[float]]:
        self.calls += 1
        self.read += sum(len(p) + len(c) for p, c in zip(prompts, completions, strict=True))
        return [[self.line_score(s) for s in thinking_steps(c)] for c in completions]


class FakeORM:
    """0.9 for the right answer, 0.1 otherwise; counts what it reads."""

    def __init__(self, flops_per_token: float = 500.0):
        self.flops_per_token = flops_per_token
        self.read = 0

    def score(self, prompts: list[str], completions: list[str]) -> list[float]:
        self.read += sum(len(p) + len(c) for p, c in zip(prompts, completions, strict=True))
        return [0.9 if answer_of(c, "lenient") == RIGHT else 0.1 for c in completions]


class RecordingLM:
    """Wraps an LM and keeps every prompt, call and completion that went through it."""

    def __init__(self, inner):
        self.inner = inner
        self.name, self.flops_per_token = inner.name, inner.flops_per_token
        self.max_context = inner.max_context
        self.prompts: list[str] = []
        self.completions: list[Completion] = []
        self.calls: list[dict] = []

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def generate(self, prompts, n=1, **kw):
        rows = self.inner.generate(prompts, n, **kw)
        self.prompts += prompts
        self.completions += [c for row in rows for c in row]
        self.calls.append({"prompts": list(prompts), "n": n, **kw})
        return rows


class ListLM:
    """Returns the given texts as the n samples of any prompt (n must equal their number)."""

    name, flops_per_token, max_context = "list", 10.0, 4096

    def __init__(self, texts: list[str]):
        self.texts = texts

    def count_tokens(self, text: str) -> int:
        return len(text)

    def generate(self, prompts, n=1, max_tokens=256, temperature=1.0, top_p=1.0, stop=None,
                 seed=None):
        assert n == len(self.texts)
        return [[Completion(t, len(p), len(t), -float(len(t)), finish_reason="eos",
                            flops=self.flops_per_token * len(t)) for t in self.texts]
                for p in prompts]


def assert_accounted(res, lm: RecordingLM, *scorers) -> None:
    """The Result's Compute equals what actually went through the LM and the scorers."""
    c = res.compute
    assert c.generated_tokens == sum(x.tokens for x in lm.completions)
    assert c.prompt_tokens == sum(x.prompt_tokens for x in lm.completions)
    assert c.samples == len(lm.completions)
    assert c.scorer_tokens == sum(s.read for s in scorers)
    want = sum(x.flops for x in lm.completions) + sum(s.read * s.flops_per_token
                                                      for s in scorers)
    assert abs(c.flops - want) <= 1e-9 * max(1.0, want)
    assert c.wall_time > 0


PROMPT_OF_PROBLEM = f"{PROBLEM.prompt}\n<think>\n"

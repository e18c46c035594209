"""A toy task (running sums) and fake policies, small enough for exact reasoning in tests;
``own_layout`` gives a fake the prompt layout of its own that instruct models have."""

from __future__ import annotations

import random
from collections.abc import Callable

from ponder.lm.function import FunctionLM
from ponder.lm.template import THINK_CLOSE, open_thinking
from ponder.tasks.base import Problem, Task


class SumTask(Task):
    """'Sum 3 4 2' -> steps s=3, s=7, s=9 -> Answer: 9."""

    name = "toysum"
    max_difficulty = 6

    def generate(self, rng: random.Random, difficulty: int) -> Problem:
        nums = [rng.randint(1, 9) for _ in range(difficulty + 1)]
        return self.make_problem("Sum " + " ".join(map(str, nums)), str(sum(nums)),
                                 difficulty, nums=nums)

    def trace_steps(self, problem: Problem, style: str = "cot") -> list[str]:
        out, s = [], 0
        for x in problem.meta["nums"]:
            s += x
            out.append(f"s={s}")
        return out

    def check_steps(self, problem: Problem, steps: list[str]) -> list[bool]:
        truth = self.trace_steps(problem)
        return [i < len(truth) and line.strip() == truth[i] for i, line in enumerate(steps)]


def nums_of(prompt: str) -> list[int]:
    first = prompt.split("\n", 1)[0]
    return [int(x) for x in first.split()[1:]]


def noisy_policy(p_step: float | Callable[[int], float] = 0.8, marker: str = "",
                 spread: int = 1) -> FunctionLM:
    """Writes running sums; each step is wrong with probability 1 - p_step (then it adds
    1..``spread`` too much, and carries the error on); ``p_step`` may depend on how many
    numbers the problem has. Continues from whatever prefix it is given. Wrong steps get
    ``marker`` appended, so a reward model can learn to spot them."""

    def fn(prompt: str, rng: random.Random, temperature: float) -> str:
        nums = nums_of(prompt)
        p_ok = p_step(len(nums)) if callable(p_step) else p_step
        body = prompt.split("<think>\n", 1)[1] if "<think>\n" in prompt else ""
        done = [line for line in body.split("\n") if line.strip()]
        s = int(done[-1].split("=")[1].rstrip("?")) if done else 0
        lines = []
        for x in nums[len(done):]:
            s += x
            if temperature > 0 and rng.random() > p_ok:
                s += rng.randint(1, spread)
                lines.append(f"s={s}{marker}")
            else:
                lines.append(f"s={s}")
        return "".join(f"{line}\n" for line in lines) + f"{THINK_CLOSE}\nAnswer: {s}"

    return FunctionLM(fn, name="noisy-sum")


def chat_layout(question: str, think: bool = True) -> str:
    """A prompt layout of a model's own, as an instruct model's chat template gives (the
    question stays on the first line, where the toy policies read it)."""
    return f"{question}\n<|end|>\n<|assistant|>\n{open_thinking(think)}"


def own_layout(lm):
    """``lm`` with ``chat_layout`` as its ``format_prompt`` (``ponder.lm.template
    .prompt_for`` asks for it, as it asks ``HFLM``)."""
    lm.format_prompt = chat_layout
    return lm

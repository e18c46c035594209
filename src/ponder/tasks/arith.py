"""Multi-digit addition and multiplication with a written-out scratchpad.

Difficulty ``d`` (1..8) is the number of digits of both operands. The teacher trace is
the grade-school method, one column or partial product a line, so that every line is
computable from the prompt and the line above it:

    What is 9735 + 4821?               What is 48 * 35?
    5+1+0=6, carry 0, so far 6         48*5=240
    3+2+0=5, carry 0, so far 56        48*30=1440
    7+8+0=15, carry 1, so far 556      240+1440=1680
    9+4+1=14, carry 1, so far 4556     Answer: 1680
    Answer: 14556

Addition walks the columns from the right; the final carry, if any, becomes the
leading digit of the answer. Multiplication writes one partial product per digit of the
second operand (shifted by its place value), then adds them up as a running sum.
"""

from __future__ import annotations

import random
from typing import ClassVar

from ponder.tasks.base import Problem, Task, match_lines

_OPS = ("+", "*")


def addition_steps(a: int, b: int) -> list[str]:
    """Column-by-column addition from the right, with the carry and the digits so far."""
    xs, ys = str(a)[::-1], str(b)[::-1]
    carry, so_far, steps = 0, "", []
    for i in range(max(len(xs), len(ys))):
        x = int(xs[i]) if i < len(xs) else 0
        y = int(ys[i]) if i < len(ys) else 0
        s = x + y + carry
        so_far = str(s % 10) + so_far
        steps.append(f"{x}+{y}+{carry}={s}, carry {s // 10}, so far {so_far}")
        carry = s // 10
    return steps


def multiplication_steps(a: int, b: int) -> list[str]:
    """One partial product per digit of ``b`` (lowest first), then a running sum."""
    partials = []
    steps = []
    for place, digit in enumerate(reversed(str(b))):
        m = int(digit) * 10**place
        partials.append(a * m)
        steps.append(f"{a}*{m}={a * m}")
    total = partials[0]
    for p in partials[1:]:
        steps.append(f"{total}+{p}={total + p}")
        total += p
    return steps


class ArithTask(Task):
    """Addition and multiplication of two d-digit numbers, d = 1..8."""

    name: ClassVar[str] = "arith"
    min_difficulty: ClassVar[int] = 1
    max_difficulty: ClassVar[int] = 8
    styles: ClassVar[tuple[str, ...]] = ("cot", "direct")

    def generate(self, rng: random.Random, difficulty: int) -> Problem:
        d = self.check_difficulty(difficulty)
        lo = 0 if d == 1 else 10 ** (d - 1)
        a, b = rng.randint(lo, 10**d - 1), rng.randint(lo, 10**d - 1)
        # Larger operand first: "a + b" and "b + a" are one problem, and a canonical
        # prompt keeps the commuted twin from landing in the other split.
        a, b = max(a, b), min(a, b)
        op = rng.choice(_OPS)
        answer = a + b if op == "+" else a * b
        return self.make_problem(f"What is {a} {op} {b}?", str(answer), d, a=a, b=b, op=op)

    def trace_steps(self, problem: Problem, style: str = "cot") -> list[str]:
        if self.check_style(style) == "direct":
            return []
        a, b, op = problem.meta["a"], problem.meta["b"], problem.meta["op"]
        return addition_steps(a, b) if op == "+" else multiplication_steps(a, b)

    def check_steps(self, problem: Problem, steps: list[str]) -> list[bool]:
        # The method is deterministic, so the correct i-th line is unique: a line is
        # right exactly when it equals the teacher's i-th line (ignoring spaces).
        return match_lines(self.trace_steps(problem), steps)

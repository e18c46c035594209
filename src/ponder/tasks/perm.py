"""State tracking: apply k permutations of five items in turn.

Composing permutations is inherently serial (there is no shortcut a model can take
without tracking the state step by step), which makes it the cleanest test of whether
a chain of thought buys anything over answering directly. Difficulty is ``k`` (1..32).

Items are the letters ``abcde``; a permutation is a 5-digit string ``p`` of positions
0..4, and applying it puts the item at old position ``p[i]`` at new position ``i``
(a gather). The teacher trace writes each permutation with the state after it:

    Start with bdaec. Apply 30421 10342 in turn; each p puts old[p[i]] at position i.
    What is the final order?
    30421: ebcad
    10342: beadc
    Answer: beadc

Style "direct" drops the step lines, leaving only the answer line.
"""

from __future__ import annotations

import random
from typing import ClassVar

from ponder.tasks.base import Problem, Task, match_lines

ITEMS = "abcde"


def apply(state: str, perm: str) -> str:
    """``new[i] = old[perm[i]]``."""
    return "".join(state[int(j)] for j in perm)


def states(start: str, perms: list[str]) -> list[str]:
    """The state after each permutation, in order."""
    out, s = [], start
    for p in perms:
        s = apply(s, p)
        out.append(s)
    return out


class PermTask(Task):
    """Track five items through k permutations, k = 1..32."""

    name: ClassVar[str] = "perm"
    min_difficulty: ClassVar[int] = 1
    max_difficulty: ClassVar[int] = 32
    styles: ClassVar[tuple[str, ...]] = ("cot", "direct")

    def generate(self, rng: random.Random, difficulty: int) -> Problem:
        k = self.check_difficulty(difficulty)
        # A random start (rather than always "abcde") keeps the first step a real
        # application and gives 120x more distinct problems at small k.
        start = "".join(rng.sample(ITEMS, len(ITEMS)))
        perms = ["".join(rng.sample("01234", 5)) for _ in range(k)]
        prompt = (
            f"Start with {start}. Apply {' '.join(perms)} in turn; "
            "each p puts old[p[i]] at position i. What is the final order?"
        )
        return self.make_problem(prompt, states(start, perms)[-1], k, start=start,
                                 perms=perms)

    def trace_steps(self, problem: Problem, style: str = "cot") -> list[str]:
        if self.check_style(style) == "direct":
            return []
        perms = list(problem.meta["perms"])
        return [f"{p}: {s}" for p, s in zip(perms, states(problem.meta["start"], perms),
                                             strict=True)]

    def check_steps(self, problem: Problem, steps: list[str]) -> list[bool]:
        # One state a line in a fixed order: the correct i-th line is unique, so a line
        # is right exactly when it equals the teacher's i-th line (ignoring spaces).
        return match_lines(self.trace_steps(problem), steps)

"""State tracking: apply k permutations of five items in turn.

Composing permutations is inherently serial (there is no shortcut a model can take
without tracking the state step by step), which makes it the cleanest test of whether
a chain of thought buys anything over answering directly. Difficulty is ``k`` (1..32).

Items are the letters ``abcde``; a permutation is a 5-digit string ``p`` of positions
0..4, and applying it puts the item at old position ``p[i]`` at new position ``i``
(a gather). The permutations of one problem are distinct.

The teacher trace (style "cot") moves one item a line, with everything the line needs
written close by. It restates the start with index hints (each item after its
position, so that "the item at old position 2" is found by content, not by counting;
Zhou et al. 2024), then for each permutation copies it from the prompt, fills the new
positions one at a time as ``i<-p[i]=item``, and restates the complete state with its
index hints:

    Start with bdaec. Apply 30421 10342 in turn; each p puts old[p[i]] at position i.
    What is the final order?
    =0b1d2a3e4c
    Apply 30421
    0<-3=e
    1<-0=b
    2<-4=c
    3<-2=a
    4<-1=d
    =0e1b2c3a4d
    30421 10342
    ...
    =0b1e2a3d4c
    10342 in turn
    Answer: beadc

A permutation's header is the pair of words of the prompt that ends with it: the
permutation copied last (``Apply`` at first), then the one after it. Finding the next
permutation is then a copy of what follows a string in the prompt, however many came
before, and the pair that ends in ``in turn`` says the trace is complete. Style
"unlinked" writes the permutation alone as its header; style "coarse" is the earlier
trace, one permutation and its whole result a line (``30421: ebcad``); both are kept for
the format ablation (``recipes/ablations/reasoner.sh``). "direct" is the answer line
alone.

Style "consumed" heads each block with the permutations not yet applied instead (the
prompt's list, then that list without its first permutation, and so on), so that the
trace ends after the block whose header holds a single permutation rather than after a
count of blocks; it fits the built-in model's context to 9 permutations. Learned as
continued training, it is exact on the trained levels, and past them the first header
copies a list of 5 or 6 permutations as 4 (``reports/perm_loops_rest.json``).

Difficulty is ``k`` (1..13: at 13 prompt and trace fill the built-in model's context).
"""

from __future__ import annotations

import random
from typing import ClassVar

from ponder.tasks.base import Problem, Task, match_trace

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


def hinted(state: str) -> str:
    """A state with each item after its position: ``ebcad`` -> ``=0e1b2c3a4d``."""
    return "=" + "".join(f"{i}{c}" for i, c in enumerate(state))


#: how "cot"-like styles head each permutation's block (see ``fine_steps``)
HEADERS = {"cot": "linked", "unlinked": "alone", "consumed": "rest"}


def fine_steps(start: str, perms: list[str], header: str = "linked") -> list[str]:
    """The "cot" trace: one item a line, the state restated after each permutation.
    ``header`` says how a permutation's block begins: ``linked``, the prompt's pair
    "previous next" (``Apply`` before the first, ``in turn`` after the last, which
    closes the trace); ``alone``, the permutation alone (style "unlinked"); ``rest``,
    the permutations not yet applied (style "consumed": the prompt's list first, then
    each header the one before without its first permutation, so the trace ends after
    the block whose header holds one, not after a count of blocks)."""
    steps, state = [hinted(start)], start
    before = ["Apply", *perms]
    for k, p in enumerate(perms):
        steps.append({"linked": f"{before[k]} {p}", "alone": p,
                      "rest": " ".join(perms[k:])}[header])
        steps.extend(f"{i}<-{j}={state[int(j)]}" for i, j in enumerate(p))
        state = apply(state, p)
        steps.append(hinted(state))
    if header == "linked":
        steps.append(f"{perms[-1]} in turn")
    return steps


class PermTask(Task):
    """Track five items through k distinct permutations, k = 1..13."""

    name: ClassVar[str] = "perm"
    min_difficulty: ClassVar[int] = 1
    max_difficulty: ClassVar[int] = 13
    styles: ClassVar[tuple[str, ...]] = ("cot", "direct", "unlinked", "coarse", "consumed")

    def generate(self, rng: random.Random, difficulty: int) -> Problem:
        k = self.check_difficulty(difficulty)
        # A random start (rather than always "abcde") keeps the first step a real
        # application: the model has to read the state, not recall a fixed one.
        start = "".join(rng.sample(ITEMS, len(ITEMS)))
        perms: list[str] = []
        while len(perms) < k:
            p = "".join(rng.sample("01234", 5))
            if p not in perms:
                perms.append(p)
        prompt = (
            f"Start with {start}. Apply {' '.join(perms)} in turn; "
            "each p puts old[p[i]] at position i. What is the final order?"
        )
        return self.make_problem(prompt, states(start, perms)[-1], k, start=start,
                                 perms=perms)

    def key(self, problem: Problem) -> str:
        """The permutations alone: the start's letters are names, and renaming the items
        turns any start into any other, so problems that differ only there are one."""
        return " ".join(problem.meta["perms"])

    def trace_steps(self, problem: Problem, style: str = "cot") -> list[str]:
        style = self.check_style(style)
        perms, start = list(problem.meta["perms"]), problem.meta["start"]
        if style == "direct":
            return []
        if style == "coarse":
            return [f"{p}: {s}" for p, s in zip(perms, states(start, perms), strict=True)]
        return fine_steps(start, perms, HEADERS[style])

    def check_steps(self, problem: Problem, steps: list[str]) -> list[bool]:
        # The method is deterministic, so the correct i-th line is unique: a line is
        # right exactly when it equals the teacher's i-th line (ignoring spaces), in the
        # format (linked, unlinked, consumed or coarse) the steps follow longest.
        return match_trace([self.trace_steps(problem, style)
                            for style in (*HEADERS, "coarse")], steps)

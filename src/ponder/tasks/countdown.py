"""Countdown: reach a target from a few numbers with + - * /.

Every step must give a whole number >= 0 (exact division only), and each given number
may be used at most once. Problems are solvable by construction: the target is made by
combining all the numbers at random. Difficulty sets how many numbers there are, how
large they are and how large the target may be:

    level  numbers  each in  target in
      1       3      1..15    10..50
      2       3      1..25    20..100
      3       4      1..9     20..100
      4       4      1..25    50..250
      5       5      1..9     50..250
      6       5      1..25   100..500

Style "search" writes out a depth-first search in the manner of Stream of Search
(Gandhi et al., 2024): each tried operation with the numbers left after it, and a
``back:`` line naming the earlier state the search returns to when a branch dies. Each
try also compares its result with the target (``<``, ``>`` or ``=``, then the target),
so that the goal test is written on the line that needs it rather than left to a look
back at the prompt. Style "optimal" writes only the operations on the path that reached
the target; style "coarse" is the search without the comparisons (the earlier format,
kept for the format ablation):

    Make 41 from 8 5 3 2 with + - * /, each number at most once, no fractions or negatives.
    8*5=40<41: 40 3 2       (search)        8*5=40<41: 40 3 2       (optimal)
    40+2=42>41: 42 3                        40+3=43>41: 43 2
    42-3=39<41: 39                          43-2=41=41: 41
    back: 40 3 2                            Answer: ((8*5)+3)-2
    40+3=43>41: 43 2
    43-2=41=41: 41
    Answer: ((8*5)+3)-2

Style "after" is the search with each ``back:`` line naming the move last tried from the
state it returns to (``back: 40 3 2; 40+2``), so that which move comes next is read off
the line rather than recalled from the earlier lines that tried from that state: past
their trained levels, models trained on "search" re-try a move they already made from
the same state and loop until their token cap (``recipes/countdown_loops.py``). Learned
as continued training it changed nothing there (``reports/countdown3_search_vs_after.json``):
the loops follow a number dropped from the list of what is left.

The search tries moves nearest the target first, and at two numbers it tries only the
best move (if that misses, every other one does too). Problems whose search would not
fit the built-in model's context are redrawn, so the "search" trace is always complete;
this leans the distribution towards problems the heuristic solves quickly (at level 6
about three in five drawn problems are redrawn). The "optimal" path is the one this
search found, which is short but not always the shortest.
"""

from __future__ import annotations

import ast
import operator
import random
import re
from collections import Counter
from dataclasses import dataclass
from fractions import Fraction
from typing import ClassVar

from ponder.errors import InvalidInput
from ponder.tasks.base import Problem, Task

# difficulty -> (count of numbers, largest number, smallest target, largest target)
LEVELS: dict[int, tuple[int, int, int, int]] = {
    1: (3, 15, 10, 50),
    2: (3, 25, 20, 100),
    3: (4, 9, 20, 100),
    4: (4, 25, 50, 250),
    5: (5, 9, 50, 250),
    6: (5, 25, 100, 500),
}
# prompt + teacher trace, in characters; the chat markers add 18 more, and the built-in
# model's context is 1024, so this leaves room to spare under ~900.
CHAR_BUDGET = 870
_MAX_DRAWS = 10_000

# A try, ``8*5=40<41: 40 3 2`` (a, op, b, result, comparison, target, numbers left), and a
# return, ``back: 40 3 2`` (numbers; then a, op, b of the move it comes after, in "after").
OP_LINE = re.compile(
    r"(\d+)\s*([-+*/])\s*(\d+)\s*=\s*(\d+)\s*(?:([<>=])\s*(\d+)\s*)?:((?:\s*\d+)+)")
BACK_LINE = re.compile(r"back\s*:((?:\s*\d+)+)(?:\s*;\s*(\d+)\s*([-+*/])\s*(\d+))?")
# Only an explicit answer line counts: a bare last number is not an expression.
ANSWER_LINE = re.compile(r"(?im)^\s*answer\s*:\s*(.+?)\s*$")
_EXPR_CHARS = re.compile(r"[\d+\-*/() ]+")
_MAX_EXPR = 200  # longer answers are refused unparsed: deep nesting strains the parser
_BINOPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
           ast.Div: operator.truediv}

Item = tuple[int, str]  # value, expression that made it ("7" for a given number)


def apply_op(a: int, op: str, b: int) -> int | None:
    """Result of ``a op b`` under the rules (whole and >= 0), or None if not allowed."""
    if op == "+":
        return a + b
    if op == "*":
        return a * b
    if op == "-":
        return a - b if a >= b else None
    return a // b if b != 0 and a % b == 0 else None


class _Broken(Exception):
    """The answer parses but breaks a rule."""


def _evaluate(node: ast.expr, leaves: list[int]) -> Fraction:
    """Exact value of a +-*/ expression tree, recording the numbers it uses."""
    if isinstance(node, ast.Constant) and type(node.value) is int:
        leaves.append(node.value)
        return Fraction(node.value)
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        x, y = _evaluate(node.left, leaves), _evaluate(node.right, leaves)
        if isinstance(node.op, ast.Div) and y == 0:
            raise _Broken
        v = _BINOPS[type(node.op)](x, y)
        if v < 0 or v.denominator != 1:  # the rules hold for the answer's steps too
            raise _Broken
        return v
    raise _Broken


def score_expression(expr: str, numbers: list[int], target: int) -> float | None:
    """1.0 / 0.0 for an expression against the rules, None if it does not parse.

    Parsed with ``ast`` and walked by hand (never evaluated by Python), so only
    integers, + - * / and parentheses can mean anything.

    >>> score_expression("((8*5)+3)-2", [8, 5, 3, 2], 41)
    1.0
    >>> score_expression("8*5+3-2+0", [8, 5, 3, 2], 41)  # 0 is not a given number
    0.0
    """
    if len(expr) > _MAX_EXPR:
        return 0.0
    try:
        tree = ast.parse(expr, mode="eval")
    except SyntaxError:
        return None
    if not _EXPR_CHARS.fullmatch(expr):  # "**", "//", names, "1_0", "7.0", ...
        return 0.0
    leaves: list[int] = []
    try:
        value = _evaluate(tree.body, leaves)
    except _Broken:
        return 0.0
    if Counter(leaves) - Counter(numbers):  # some number used more often than given
        return 0.0
    return float(value == target)


def _wrap(expr: str, value: int) -> str:
    return expr if expr == str(value) else f"({expr})"


def _state_text(state: list[Item]) -> str:
    return " ".join(str(v) for v, _ in state)


Move = tuple[int, str, int, int, int]  # a, op, b, and the places of a and b in the state


def _moves(state: list[Item], target: int) -> list[Move]:
    """Useful moves from ``state``, nearest the target first."""
    # Keyed by "a op b": equal values at different places give the same new state.
    found: dict[tuple[int, str, int], tuple[int, int, int, int]] = {}
    for i in range(len(state)):
        for j in range(i + 1, len(state)):
            ia, ib = (i, j) if state[i][0] >= state[j][0] else (j, i)
            a, b = state[ia][0], state[ib][0]
            for op in "+-*/":
                c = apply_op(a, op, b)
                # x*1, x/1 and x-x change nothing useful; leave them out of the search.
                if c is None or c == 0 or (op in "*/" and b == 1) or (a, op, b) in found:
                    continue
                found[(a, op, b)] = (abs(c - target), len(found), ia, ib)
    ranked = sorted(found.items(), key=lambda kv: kv[1][:2])
    return [(a, op, b, ia, ib) for (a, op, b), (_, _, ia, ib) in ranked]


def _play(state: list[Item], move: Move) -> list[Item]:
    """The state after ``move``: its result first, then the untouched numbers in order."""
    a, op, b, ia, ib = move
    c = apply_op(a, op, b)
    assert c is not None
    expr = f"{_wrap(state[ia][1], a)}{op}{_wrap(state[ib][1], b)}"
    return [(c, expr), *(s for k, s in enumerate(state) if k not in (ia, ib))]


@dataclass
class SearchResult:
    lines: list[str]  # every line written, tries and backtracks
    path: list[str]  # the tries on the branch that reached the target
    expression: str  # how the target was made


class _OverBudget(Exception):
    pass


def compare(value: int, target: int) -> str:
    """``<41``, ``>41`` or ``=41``: how a try's result stands against the target."""
    return f"{'<' if value < target else '>' if value > target else '='}{target}"


def search(numbers: list[int], target: int, max_chars: int,
           compared: bool = True, marked: bool = False) -> SearchResult | None:
    """Depth-first search, nearest-the-target first; None if it finds nothing or its
    trace would run past ``max_chars``. ``compared``: tries carry the comparison with
    the target (style "search"); without it, the "coarse" lines. ``marked``: each
    ``back:`` line names the move last tried from the state it returns to (style
    "after")."""
    lines: list[str] = []
    path: list[str] = []
    size = 0

    def emit(line: str) -> None:
        nonlocal size
        size += len(line) + 1
        if size > max_chars:
            raise _OverBudget
        lines.append(line)

    def dfs(state: list[Item]) -> str | None:
        moves = _moves(state, target)
        if len(state) == 2:
            moves = moves[:1]
        for k, move in enumerate(moves):
            new = _play(state, move)
            cmp = compare(new[0][0], target) if compared else ""
            line = f"{move[0]}{move[1]}{move[2]}={new[0][0]}{cmp}: {_state_text(new)}"
            emit(line)
            path.append(line)
            if new[0][0] == target:
                return new[0][1]
            found = dfs(new) if len(new) > 1 else None
            if found is not None:
                return found
            path.pop()
            if k + 1 < len(moves):
                mark = f"; {move[0]}{move[1]}{move[2]}" if marked else ""
                emit(f"back: {_state_text(state)}{mark}")
        return None

    try:
        expr = dfs([(n, str(n)) for n in numbers])
    except _OverBudget:
        return None
    return None if expr is None else SearchResult(lines, path, expr)


def _construct(rng: random.Random, numbers: list[int]) -> int:
    """Combine all the numbers in a random order with random allowed operations."""
    pool = list(numbers)
    while len(pool) > 1:
        i, j = rng.sample(range(len(pool)), 2)
        a, b = max(pool[i], pool[j]), min(pool[i], pool[j])
        c = apply_op(a, rng.choice([op for op in "+-*/" if apply_op(a, op, b)]), b)
        assert c is not None
        pool = [p for k, p in enumerate(pool) if k not in (i, j)] + [c]
    return pool[0]


class CountdownTask(Task):
    """Reach a target from 3..5 numbers with + - * /; higher levels: more numbers, larger
    targets (see LEVELS)."""

    name: ClassVar[str] = "countdown"
    min_difficulty: ClassVar[int] = 1
    max_difficulty: ClassVar[int] = max(LEVELS)
    styles: ClassVar[tuple[str, ...]] = ("search", "optimal", "coarse", "after")

    @staticmethod
    def _prompt(numbers: list[int], target: int) -> str:
        nums = " ".join(map(str, numbers))
        return (f"Make {target} from {nums} with + - * /, each number at most once, "
                "no fractions or negatives.")

    def generate(self, rng: random.Random, difficulty: int) -> Problem:
        count, top, lo, hi = LEVELS[self.check_difficulty(difficulty)]
        for _ in range(_MAX_DRAWS):
            # Sorted, so the prompt is canonical: the same numbers in another order are
            # the same problem and must fall in the same split.
            numbers = sorted((rng.randint(1, top) for _ in range(count)), reverse=True)
            target = _construct(rng, numbers)
            if not lo <= target <= hi or target in numbers:
                continue
            prompt = self._prompt(numbers, target)
            # Leave room for the answer line, which is at most ~40 characters.
            found = search(numbers, target, CHAR_BUDGET - len(prompt) - 40)
            if found is None:
                continue
            return self.make_problem(prompt, found.expression, difficulty,
                                     numbers=numbers, target=target)
        raise RuntimeError(f"countdown: no problem fits at difficulty {difficulty}")

    def _search(self, problem: Problem, compared: bool = True,
                marked: bool = False) -> SearchResult:
        numbers, target = list(problem.meta["numbers"]), problem.meta["target"]
        found = search(numbers, target, 10**6, compared, marked)
        if found is None:  # only for hand-made problems: generated ones are solvable
            raise InvalidInput(f"countdown: the search finds no way to make {target} "
                               f"from {numbers}, so there is no teacher trace")
        return found

    def trace_steps(self, problem: Problem, style: str = "search") -> list[str]:
        style = self.check_style(style)
        found = self._search(problem, compared=style != "coarse", marked=style == "after")
        return found.path if style == "optimal" else found.lines

    def verify(self, problem: Problem, completion: str) -> float | None:
        """1.0 if the answer line is an expression that uses each given number at most
        once, keeps every step whole and >= 0, and equals the target; 0.0 if it breaks a
        rule or misses; None if there is no answer line or it does not parse."""
        lines = ANSWER_LINE.findall(completion)
        if not lines:
            return None
        expr = lines[-1].rstrip(".").strip()
        return score_expression(expr, list(problem.meta["numbers"]), problem.meta["target"])

    def check_steps(self, problem: Problem, steps: list[str]) -> list[bool]:
        """A try is right when its two numbers are in the current state, its result is
        right and allowed, and the numbers it lists are what is left; a ``back:`` line
        is right when it names a state seen before, and the move it says it comes
        ``after``, when it names one, was tried from that state. A comparison with the
        target, when written, must be right. A wrong line changes no state."""
        state = Counter(problem.meta["numbers"])
        target = problem.meta["target"]
        seen = {tuple(sorted(state.elements()))}
        tried: set[tuple[tuple[int, ...], int, str, int]] = set()  # (state, a, op, b)
        out = []
        for line in steps:
            line = line.strip()
            op, back = OP_LINE.fullmatch(line), BACK_LINE.fullmatch(line)
            ok = False
            if op:
                a, sym, b, c = int(op[1]), op[2], int(op[3]), int(op[4])
                listed = Counter(int(x) for x in op[7].split())
                after = state - Counter([a, b])
                ok = (sum(after.values()) == sum(state.values()) - 2
                      and apply_op(a, sym, b) == c
                      and listed == after + Counter([c])
                      and (op[5] is None or f"{op[5]}{op[6]}" == compare(c, target)))
                if ok:
                    tried.add((tuple(sorted(state.elements())), a, sym, b))
                    state = listed
            elif back:
                listed = Counter(int(x) for x in back[1].split())
                key = tuple(sorted(listed.elements()))
                ok = key in seen and (back[2] is None
                                      or (key, int(back[2]), back[3], int(back[4])) in tried)
                if ok:
                    state = listed
            if ok:
                seen.add(tuple(sorted(state.elements())))
            out.append(ok)
        return out

"""Multi-digit addition and multiplication with a digit-level scratchpad.

Difficulty is a ladder of operand sizes (``LEVELS``): level 1 is one digit by one
digit, then the larger operand and the smaller one take turns growing by a digit (2x1,
2x2, 3x2, 3x3, ...), so that each level asks for a little more than the one below it.

The teacher trace (style "cot") does one digit operation a line, the grade-school
method written so that everything a line needs is on the line above it or is a digit
of the prompt (small transformers execute such steps exactly and fail on whole
partial products in one line; Lee et al. 2023, "Teaching arithmetic to small
transformers"). A line is ``x+y+c=s:so_far`` or ``x*y+c=s:so_far``: the carry ``c`` is
the tens digit of the line above, and ``so_far`` is the previous line's digits with the
new units digit in front, except on a number's last column, where the whole ``s`` goes
in front, so that the last ``so_far`` is the complete result:

    What is 9735 + 4821?          What is 48 * 35?
    5+1+0=6:6                     48*5
    3+2+0=5:56                    8*5+0=40:0
    7+8+0=15:556                  4*5+4=24:240
    9+4+1=14:14556                48*3
    Answer: 14556                 8*3+0=24:4
                                  4*3+2=14:144
                                  240+1440
                                  0+0+0=0:0
                                  4+4+0=8:80
                                  2+4+0=6:680
                                  0+1+0=1:1680
                                  Answer: 1680

Multiplication writes one row per digit of the smaller operand (a header ``a*digit``,
then one line per digit of ``a``), and adds each row, shifted by its place, to the
running total with the same column lines as addition (header ``total+row``).

Style "consumed" reads no digit by its place. Each line takes the last digit off the
operands as the line above left them (the prompt, or a header, for the first line) and
writes what is left before a dot, the digit after it: ``rest.digit``. The next digit is
then the one just before the dot on the line above, whatever the operand's length, and
a loop ends when every rest is empty, not after a count of lines; a shorter operand's
exhausted digits are 0. Multiplication headers take ``b``'s digits off the same way
(``a*rest.digit``), and a row is shifted by writing one zero more than the row before
it (the zero-extension of the digits ``b`` has given up), so that a trace over longer
operands repeats the steps of a shorter one (after Zhou et al. 2024, who make length
generalization possible by stating where each digit is in the trace itself):

    What is 9735 + 482?           What is 48 * 35?
    973.5+48.2+0=7:7              48*3.5
    97.3+4.8+0=11:17              4.8*5+0=40:0
    9.7+.4+1=12:217               .4*5+4=24:240
    .9+.0+1=10:10217              48*.3
    Answer: 10217                 4.8*3+0=24:4
                                  .4*3+2=14:144
                                  240+1440
                                  24.0+144.0+0=0:0
                                  2.4+14.4+0=8:80
                                  .2+1.4+0=6:680
                                  .0+.1+0=1:1680
                                  Answer: 1680

Its traces grow as the square of the operands' length (to level 7 they fit the
built-in model's context). Learned as continued training, it is exact on the trained
levels and no better past them than "cot": the first line still copies a 4-digit operand
as its first three digits (``reports/ablation_consumed.json``, ``arith_copies.json``).

Style "coarse" is the earlier trace (a whole column or partial product a line), kept
for the format ablation (``recipes/ablations/trace_format.sh``); "direct" is the
answer line alone, the no-chain-of-thought control.
"""

from __future__ import annotations

import random
import re
from typing import ClassVar

from ponder.errors import InvalidInput
from ponder.tasks.base import Problem, Split, Task, match_trace, split_of

_OPS = ("+", "*")
#: the variants' operations (``arith:add``: "+" at every level)
_VARIANT_OPS = {"add": "+", "mul": "*"}

#: difficulty -> (digits of the larger operand, digits of the smaller one)
LEVELS: dict[int, tuple[int, int]] = {
    1: (1, 1), 2: (2, 1), 3: (2, 2), 4: (3, 2), 5: (3, 3), 6: (4, 3), 7: (4, 4),
    8: (5, 4), 9: (5, 5),
}


def _digits(n: int, width: int) -> list[int]:
    """Digits of ``n`` from the units up, zero-padded to ``width``."""
    s = str(n)[::-1].ljust(width, "0")
    return [int(c) for c in s]


def column_lines(x: int, y: int) -> list[str]:
    """Column-by-column sum of ``x + y`` from the units up: ``x+y+c=s:so_far``."""
    width = max(len(str(x)), len(str(y)))
    xs, ys = _digits(x, width), _digits(y, width)
    carry, so_far, lines = 0, "", []
    for i in range(width):
        s = xs[i] + ys[i] + carry
        so_far = (str(s) if i == width - 1 else str(s % 10)) + so_far
        lines.append(f"{xs[i]}+{ys[i]}+{carry}={s}:{so_far}")
        carry = s // 10
    return lines


def row_lines(a: int, digit: int) -> list[str]:
    """``a * digit`` one digit of ``a`` a line, from the units up: ``x*y+c=s:so_far``."""
    xs = _digits(a, len(str(a)))
    carry, so_far, lines = 0, "", []
    for i, x in enumerate(xs):
        s = x * digit + carry
        so_far = (str(s) if i == len(xs) - 1 else str(s % 10)) + so_far
        lines.append(f"{x}*{digit}+{carry}={s}:{so_far}")
        carry = s // 10
    return lines


def addition_steps(a: int, b: int) -> list[str]:
    """The "cot" trace of ``a + b``."""
    return column_lines(a, b)


def multiplication_steps(a: int, b: int) -> list[str]:
    """The "cot" trace of ``a * b``: a row per digit of ``b``, then running sums."""
    steps: list[str] = []
    total = None
    for place, digit in enumerate(int(c) for c in reversed(str(b))):
        steps.append(f"{a}*{digit}")
        steps.extend(row_lines(a, digit))
        row = a * digit * 10**place
        if total is not None:
            steps.append(f"{total}+{row}")
            steps.extend(column_lines(total, row))
            total += row
        else:
            total = row
    return steps


def _take(rest: str) -> tuple[str, int]:
    """``rest`` without its last digit, and that digit (0 once ``rest`` is empty)."""
    return (rest[:-1], int(rest[-1])) if rest else ("", 0)


def consumed_column_lines(x: str, y: str) -> list[str]:
    """``x + y`` in the "consumed" style: ``rx.dx+ry.dy+c=s:so_far`` a column a line;
    the last line's ``so_far`` is the sum's digits (as written: no leading zero is
    dropped)."""
    carry, so_far, lines = 0, "", []
    while True:
        (x, dx), (y, dy) = _take(x), _take(y)
        s, last = dx + dy + carry, not x and not y
        so_far = (str(s) if last else str(s % 10)) + so_far
        lines.append(f"{x}.{dx}+{y}.{dy}+{carry}={s}:{so_far}")
        carry = s // 10
        if last:
            return lines


def consumed_row_lines(a: str, digit: int) -> list[str]:
    """``a * digit`` in the "consumed" style: ``ra.da*digit+c=s:so_far`` a line."""
    carry, so_far, lines = 0, "", []
    while True:
        a, x = _take(a)
        s = x * digit + carry
        so_far = (str(s) if not a else str(s % 10)) + so_far
        lines.append(f"{a}.{x}*{digit}+{carry}={s}:{so_far}")
        carry = s // 10
        if not a:
            return lines


def consumed_multiplication_steps(a: int, b: int) -> list[str]:
    """The "consumed" trace of ``a * b``: a row per digit of ``b`` taken off its end,
    each added, shifted by one zero more than the last, to the running total."""
    steps: list[str] = []
    rest, zeros, total = str(b), "", ""
    while rest:
        rest, digit = _take(rest)
        steps.append(f"{a}*{rest}.{digit}")
        lines = consumed_row_lines(str(a), digit)
        steps.extend(lines)
        row = lines[-1].rsplit(":", 1)[1]
        if total:
            zeros += "0"
            steps.append(f"{total}+{row}{zeros}")
            lines = consumed_column_lines(total, row + zeros)
            steps.extend(lines)
            row = lines[-1].rsplit(":", 1)[1]
        total = row
    return steps


def coarse_steps(a: int, op: str, b: int) -> list[str]:
    """The earlier, coarser trace: a whole column (with its carry and the digits so far)
    or a whole partial product a line, then the partial products' running sum."""
    if op == "+":
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
    partials, steps = [], []
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
    """Addition and multiplication on a ladder of operand sizes (``LEVELS``)."""

    name: ClassVar[str] = "arith"
    min_difficulty: ClassVar[int] = 1
    max_difficulty: ClassVar[int] = max(LEVELS)
    styles: ClassVar[tuple[str, ...]] = ("cot", "direct", "coarse", "consumed")
    variants: ClassVar[dict[str, str]] = {
        "add": "Sums alone, on the same ladder.",
        "mul": "Products alone, on the same ladder.",
        "BxS": "One operand shape at every level (arith:4x1; arith:mul:4x1).",
    }

    def __init__(self, shape: tuple[int, int] | None = None, op: str | None = None) -> None:
        """``shape`` (digits of the larger operand, of the smaller) and ``op`` ("+" or
        "*"), when given, hold at every level instead of the ladder's (a study moving
        one factor at a time, as ``ChainTask(distractors=k)``)."""
        if shape is not None and not (isinstance(shape, tuple | list) and len(shape) == 2
                                      and all(isinstance(x, int) for x in shape)
                                      and 1 <= shape[1] <= shape[0] <= 9):
            raise InvalidInput(f"arith: shape must be (big, small) digits with 1 <= small "
                               f"<= big <= 9, got {shape!r}")
        if op is not None and op not in _OPS:
            raise InvalidInput(f"arith: op must be one of {list(_OPS)}, got {op!r}")
        self.shape, self.op = shape, op

    @classmethod
    def from_spec(cls, spec: str) -> ArithTask:
        """``arith:add`` / ``arith:mul``: sums alone or products alone, on the same
        ladder of operand sizes; ``arith:4x1``: one operand shape (digits of the larger
        x the smaller) at every level; both together: ``arith:mul:4x1``. Each is a family
        of its own in a training mixture, so that one operation or shape can be trained
        beside the ladder (sums to longer operands than products, say)."""
        op, shape = None, None
        for part in spec.split(":"):
            if part in _VARIANT_OPS and op is None:
                op = _VARIANT_OPS[part]
            elif re.fullmatch(r"\d+x\d+", part) and shape is None:
                big, small = (int(x) for x in part.split("x"))
                shape = (big, small)
            else:
                raise InvalidInput(f"arith has no variant {spec!r}; choose from "
                                   f"arith:add, arith:mul, arith:BxS (a shape such as "
                                   f"arith:4x1) or an operation and a shape (arith:mul:4x1)")
        task = cls(shape=shape, op=op)
        task.name = f"arith:{spec}"  # type: ignore[misc]  # a variant names itself
        return task

    def split(self, problem: Problem) -> Split:
        # Every variant splits a question as arith does, so that a question is in the
        # same split whichever variant asks it: a test sum of arith is never a training
        # sum of arith:add.
        return split_of(ArithTask.name, self.key(problem))

    def generate(self, rng: random.Random, difficulty: int) -> Problem:
        big, small = LEVELS[self.check_difficulty(difficulty)]
        if self.shape is not None:
            big, small = self.shape

        def draw(digits: int) -> int:
            return rng.randint(0 if digits == 1 else 10 ** (digits - 1), 10**digits - 1)

        a, b = draw(big), draw(small)
        # Larger operand first: "a + b" and "b + a" are one problem, and a canonical
        # prompt keeps the commuted twin from landing in the other split.
        a, b = max(a, b), min(a, b)
        op = rng.choice(_OPS)
        if self.op is not None:
            op = self.op
        answer = a + b if op == "+" else a * b
        return self.make_problem(f"What is {a} {op} {b}?", str(answer), difficulty,
                                 a=a, b=b, op=op)

    def trace_steps(self, problem: Problem, style: str = "cot") -> list[str]:
        style = self.check_style(style)
        a, b, op = problem.meta["a"], problem.meta["b"], problem.meta["op"]
        if style == "direct":
            return []
        if style == "coarse":
            return coarse_steps(a, op, b)
        if style == "consumed":
            return (consumed_column_lines(str(a), str(b)) if op == "+"
                    else consumed_multiplication_steps(a, b))
        return addition_steps(a, b) if op == "+" else multiplication_steps(a, b)

    def check_steps(self, problem: Problem, steps: list[str]) -> list[bool]:
        # The method is deterministic, so the correct i-th line is unique: a line is
        # right exactly when it equals the teacher's i-th line (ignoring spaces), in the
        # fine format, the coarse one or the consumed one, whichever the steps follow
        # longest.
        return match_trace([self.trace_steps(problem, style)
                            for style in ("cot", "coarse", "consumed")], steps)

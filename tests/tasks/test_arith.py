from __future__ import annotations

import random
import re

import pytest

from ponder.errors import InvalidInput
from ponder.tasks import get_task
from ponder.tasks.arith import (
    LEVELS,
    ArithTask,
    addition_steps,
    consumed_column_lines,
    consumed_multiplication_steps,
    multiplication_steps,
)

task = ArithTask()


def problem(a: int, op: str, b: int):
    answer = a + b if op == "+" else a * b
    return task.make_problem(f"What is {a} {op} {b}?", str(answer), len(str(a)), a=a, b=b,
                             op=op)


def test_addition_walks_columns_one_digit_a_line():
    assert addition_steps(9735, 4821) == [
        "5+1+0=6:6", "3+2+0=5:56", "7+8+0=15:556", "9+4+1=14:14556"]
    # a shorter second operand is padded with zeros; no final carry, no extra digit
    assert addition_steps(950, 7) == ["0+7+0=7:7", "5+0+0=5:57", "9+0+0=9:957"]
    p = problem(9735, "+", 4821)
    assert task.teacher_trace(p).splitlines()[-1] == "Answer: 14556"


def test_multiplication_is_digit_by_digit_with_carries_then_running_sums():
    assert multiplication_steps(48, 35) == [
        "48*5", "8*5+0=40:0", "4*5+4=24:240",
        "48*3", "8*3+0=24:4", "4*3+2=14:144",
        "240+1440", "0+0+0=0:0", "4+4+0=8:80", "2+4+0=6:680", "0+1+0=1:1680"]
    # A zero digit keeps its row, so every trace of a level has the same shape.
    steps = multiplication_steps(12, 102)
    assert [s for s in steps if "+" in s and ":" not in s] == ["24+0", "24+1200"]
    assert steps[-1].endswith(":1224")


def test_every_line_is_one_digit_operation():
    rng = random.Random(0)
    for _ in range(50):
        a, b = rng.randint(0, 99999), rng.randint(0, 99999)
        for line in multiplication_steps(a, b) + addition_steps(a, b):
            if ":" in line:  # x op y + c = s with one-digit x, y and carry
                assert re.fullmatch(r"\d[+*]\d\+\d=\d+:\d+", line), line


def test_coarse_style_keeps_the_earlier_trace():
    assert task.trace_steps(problem(48, "*", 35), "coarse") == [
        "48*5=240", "48*30=1440", "240+1440=1680"]
    assert task.trace_steps(problem(9735, "+", 4821), "coarse")[0] == (
        "5+1+0=6, carry 0, so far 6")


def test_consumed_style_takes_digits_off_the_end():
    assert consumed_column_lines("9735", "482") == [
        "973.5+48.2+0=7:7", "97.3+4.8+0=11:17", "9.7+.4+1=12:217", ".9+.0+1=10:10217"]
    assert consumed_multiplication_steps(48, 35) == [
        "48*3.5", "4.8*5+0=40:0", ".4*5+4=24:240",
        "48*.3", "4.8*3+0=24:4", ".4*3+2=14:144",
        "240+1440", "24.0+144.0+0=0:0", "2.4+14.4+0=8:80", ".2+1.4+0=6:680",
        ".0+.1+0=1:1680"]
    # each row is shifted by one zero more than the row before it
    steps = consumed_multiplication_steps(12, 102)
    assert [s for s in steps if "+" in s and ":" not in s] == ["24+000", "024+1200"]


def test_consumed_lines_read_no_digit_by_its_place():
    """Every digit a line uses is the one just before the dot of the line above (or
    the end of the operand it starts from); the last line of a loop has empty rests."""
    line_re = re.compile(r"(\d*)\.(\d)([+*])(\d*)\.?(\d)\+(\d)=(\d+):(\d+)")
    for level in LEVELS:
        for p in task.problems("test", 8, seed=level, difficulty=level):
            steps = task.trace_steps(p, "consumed")
            assert task.teacher_trace(p, "consumed").endswith(f"Answer: {p.answer}")
            assert all(task.check_steps(p, steps))
            source = {"+": [str(p.meta["a"]), str(p.meta["b"])]}.get(p.meta["op"])
            for line in steps:
                m = line_re.fullmatch(line)
                if m is None:  # a header: its operands are what the next lines take
                    assert source is None or source == [""] * len(source)  # used up
                    left, right = line.split("+") if "+" in line else line.split("*")
                    source = [left, right] if "+" in line else [left]
                    continue
                rx, dx, op, ry, dy, c, s, _ = m.groups()
                assert source[0] == rx + dx or (source[0] == rx == "" and dx == "0")
                if op == "+":
                    assert source[1] == ry + dy or (source[1] == ry == "" and dy == "0")
                    assert int(s) == int(dx) + int(dy) + int(c)
                    source = [rx, ry]
                else:
                    source = [rx]
            assert source == [""] * len(source)


def test_levels_grow_one_operand_a_digit_at_a_time():
    for d, (big, small) in LEVELS.items():
        for p in task.problems("train", 30, seed=d, difficulty=d):
            a, b, op = p.meta["a"], p.meta["b"], p.meta["op"]
            assert a >= b and op in "+*"
            if d > 1:
                assert (len(str(a)), len(str(b))) == (big, small)
            assert p.prompt == f"What is {a} {op} {b}?"
            assert int(p.answer) == (a + b if op == "+" else a * b)
            assert task.verify(p, task.teacher_trace(p)) == 1.0


def test_a_fixed_shape_and_op_hold_at_every_level_and_bad_ones_are_refused():
    fixed = ArithTask(shape=(4, 2), op="*")
    for d in (1, 3, 6):
        for p in fixed.problems("test", 20, seed=d, difficulty=d):
            a, b = p.meta["a"], p.meta["b"]
            assert (len(str(a)), len(str(b)), p.meta["op"]) == (4, 2, "*")
            assert fixed.verify(p, fixed.teacher_trace(p)) == 1.0
    assert {p.meta["op"] for p in ArithTask(shape=(4, 1)).problems("test", 40, seed=0)} == {
        "+", "*"}
    for bad in ({"shape": (2, 3)}, {"shape": (10, 1)}, {"shape": (4,)}, {"shape": 4}, {"op": "-"}):
        with pytest.raises(InvalidInput, match="arith"):
            ArithTask(**bad)


def test_level_one_is_exhausted_and_split_exactly():
    train = task.problems("train", 150, seed=0, difficulty=1)
    test = task.problems("test", 150, seed=0, difficulty=1)
    # 55 ordered pairs a >= b of digits, two operations: 110 problems in all.
    assert len(train) + len(test) == 110
    assert not {p.prompt for p in train} & {p.prompt for p in test}


def test_verifier_scores_right_wrong_and_missing_answers():
    p = problem(9735, "*", 4821)
    trace = task.teacher_trace(p)
    assert task.verify(p, trace) == 1.0
    assert task.verify(p, trace.replace(f"Answer: {p.answer}", "Answer: 46932436")) == 0.0
    assert task.verify(p, "Answer: 46,932,435") == 1.0
    assert task.verify(p, "I cannot tell.") is None


@pytest.mark.parametrize("op", ["+", "*"])
def test_step_checker_finds_the_first_corrupted_line(op):
    rng = random.Random(op)
    for _ in range(20):
        a, b = sorted((rng.randint(10**4, 10**5 - 1) for _ in range(2)), reverse=True)
        p = problem(a, op, b)
        steps = task.trace_steps(p)
        assert task.check_steps(p, steps) == [True] * len(steps)
        i = rng.randrange(len(steps))
        bad = list(steps)
        # change the line's last digit, or add one to a header line
        bad[i] = bad[i][:-1] + str((int(bad[i][-1]) + 1) % 10)
        assert task.first_error(p, bad) == i
        assert task.check_steps(p, bad)[i] is False


def test_step_checker_ignores_spacing_but_not_extra_lines():
    p = problem(48, "*", 35)
    steps = task.trace_steps(p)
    assert task.check_steps(p, ["48 * 5", " 8*5+0=40:0 "]) == [True, True]
    assert task.check_steps(p, [*steps, "1680"]) == [True] * len(steps) + [False]
    assert task.check_steps(p, ["8*5+0=40:0"]) == [False]  # right fact, wrong place


def test_direct_style_has_no_steps():
    p = problem(48, "*", 35)
    assert task.teacher_trace(p, "direct") == "Answer: 1680"


def test_max_difficulty_is_the_top_of_the_ladder():
    with pytest.raises(InvalidInput, match=r"1\.\.9"):
        task.generate(random.Random(0), 10)


def test_variants_ask_one_operation_and_split_questions_as_arith_does():
    add, mul = get_task("arith:add"), get_task("arith:mul")
    assert (add.name, mul.name) == ("arith:add", "arith:mul")
    sums = add.problems("train", 300, seed=0, difficulty=[6, 9])
    assert {p.meta["op"] for p in sums} == {"+"} and {p.task for p in sums} == {"arith:add"}
    assert {p.meta["op"] for p in mul.problems("test", 50, seed=0)} == {"*"}
    # a question lands in the same split whichever variant asks it: no test question of
    # arith is a training question of a variant
    test = {p.prompt for p in task.problems("test", 2000, seed=0, difficulty=[6, 7])}
    assert test and not test & {p.prompt for p in
                                add.problems("train", 3000, seed=0, difficulty=[6, 7])}
    for p in sums[:50]:
        assert add.split(p) == task.split(p) == "train"
    shaped = get_task("arith:mul:4x1")  # an operation and a shape at every level
    assert shaped.name == "arith:mul:4x1"
    for p in shaped.problems("train", 20, seed=0):
        assert (len(str(p.meta["a"])), len(str(p.meta["b"])), p.meta["op"]) == (4, 1, "*")
    assert {p.meta["op"] for p in get_task("arith:4x1").problems("train", 40, seed=0)} == {
        "+", "*"}
    for bad in ("arith:sub", "arith:mul:add", "arith:4x1:5x1"):
        with pytest.raises(InvalidInput, match="arith:add, arith:mul"):
            get_task(bad)
    with pytest.raises(InvalidInput, match="shape"):
        get_task("arith:4x5")
    with pytest.raises(InvalidInput, match="no variants"):
        get_task("perm:x")

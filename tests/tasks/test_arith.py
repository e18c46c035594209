from __future__ import annotations

import random

import pytest

from ponder.errors import InvalidInput
from ponder.tasks.arith import ArithTask, addition_steps, multiplication_steps

task = ArithTask()


def problem(a: int, op: str, b: int):
    answer = a + b if op == "+" else a * b
    return task.make_problem(f"What is {a} {op} {b}?", str(answer), len(str(a)), a=a, b=b,
                             op=op)


def test_addition_scratchpad_walks_columns_with_carries():
    assert addition_steps(9735, 4821) == [
        "5+1+0=6, carry 0, so far 6",
        "3+2+0=5, carry 0, so far 56",
        "7+8+0=15, carry 1, so far 556",
        "9+4+1=14, carry 1, so far 4556",
    ]
    p = problem(9735, "+", 4821)
    assert task.teacher_trace(p).splitlines()[-1] == "Answer: 14556"


def test_multiplication_writes_partial_products_then_a_running_sum():
    assert multiplication_steps(48, 35) == ["48*5=240", "48*30=1440", "240+1440=1680"]
    # A zero digit keeps its line, so every trace of a level has the same shape.
    assert multiplication_steps(12, 102) == [
        "12*2=24", "12*0=0", "12*100=1200", "24+0=24", "24+1200=1224"]


def test_generated_problems_have_d_digit_operands_and_correct_answers():
    for d in (1, 4, 8):
        for p in task.problems("train", 50, seed=d, difficulty=d):
            a, b, op = p.meta["a"], p.meta["b"], p.meta["op"]
            assert a >= b and op in "+*"
            if d > 1:
                assert len(str(a)) == len(str(b)) == d
            assert p.prompt == f"What is {a} {op} {b}?"
            assert int(p.answer) == (a + b if op == "+" else a * b)


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
        a, b = sorted((rng.randint(10**7, 10**8 - 1) for _ in range(2)), reverse=True)
        p = problem(a, op, b)
        steps = task.trace_steps(p)
        assert task.check_steps(p, steps) == [True] * len(steps)
        i = rng.randrange(len(steps))
        bad = list(steps)
        bad[i] = bad[i][:-1] + str((int(bad[i][-1]) + 1) % 10)
        assert task.first_error(p, bad) == i
        assert task.check_steps(p, bad)[i] is False


def test_step_checker_ignores_spacing_but_not_extra_lines():
    p = problem(48, "*", 35)
    assert task.check_steps(p, ["48 * 5 = 240", " 48*30=1440 "]) == [True, True]
    assert task.check_steps(p, ["48*5=240", "48*30=1440", "240+1440=1680", "1680"]) == [
        True, True, True, False]
    assert task.check_steps(p, ["48*30=1440"]) == [False]  # right fact, wrong place


def test_direct_style_has_no_steps():
    p = problem(48, "*", 35)
    assert task.teacher_trace(p, "direct") == "Answer: 1680"


def test_max_difficulty_is_eight_digits():
    with pytest.raises(InvalidInput, match=r"1\.\.8"):
        task.generate(random.Random(0), 9)

from __future__ import annotations

import random

import pytest

from ponder.errors import InvalidInput
from ponder.tasks.countdown import LEVELS, CountdownTask, score_expression, search

task = CountdownTask()


def example(numbers=(8, 5, 3, 2), target=41):
    nums = list(numbers)
    found = search(nums, target, 10**6)
    assert found is not None
    return task.make_problem(task._prompt(nums, target), found.expression, 3,
                             numbers=nums, target=target)


def test_search_backtracks_and_optimal_keeps_only_the_path():
    p = example()
    assert task.trace_steps(p, "search") == [
        "8*5=40<41: 40 3 2", "40+2=42>41: 42 3", "42-3=39<41: 39", "back: 40 3 2",
        "40+3=43>41: 43 2", "43-2=41=41: 41"]
    assert task.trace_steps(p, "optimal") == ["8*5=40<41: 40 3 2", "40+3=43>41: 43 2",
                                              "43-2=41=41: 41"]
    assert task.trace_steps(p, "coarse") == [
        "8*5=40: 40 3 2", "40+2=42: 42 3", "42-3=39: 39", "back: 40 3 2",
        "40+3=43: 43 2", "43-2=41: 41"]


def test_after_style_names_the_move_each_return_comes_back_from():
    p = example()
    steps = task.trace_steps(p, "after")
    assert steps == ["8*5=40<41: 40 3 2", "40+2=42>41: 42 3", "42-3=39<41: 39",
                     "back: 40 3 2; 40+2", "40+3=43>41: 43 2", "43-2=41=41: 41"]
    assert task.check_steps(p, steps) == [True] * len(steps)
    # the named move must have been tried from that state: 40+3 was not, yet
    assert task.check_steps(p, steps[:3] + ["back: 40 3 2; 40+3"]) == [True] * 3 + [False]
    # nor was 8*5 tried from 40 3 2 (it was tried from the start)
    assert task.check_steps(p, steps[:3] + ["back: 40 3 2; 8*5"])[-1] is False
    assert task.check_steps(p, steps[:3] + ["back: 8 5 3 2; 8*5"])[-1] is True


def test_a_wrong_comparison_with_the_target_is_a_wrong_step():
    p = example()
    assert task.check_steps(p, ["8*5=40<41: 40 3 2", "40+3=43<41: 43 2"]) == [True, False]
    assert task.check_steps(p, ["8*5=40>41: 40 3 2"]) == [False]
    assert task.check_steps(p, ["8*5=40<40: 40 3 2"]) == [False]  # not the target
    assert p.answer == "((8*5)+3)-2"


def test_generated_problems_follow_their_level():
    for d, (count, top, lo, hi) in LEVELS.items():
        for p in task.problems("train", 15, seed=d, difficulty=d):
            numbers, target = p.meta["numbers"], p.meta["target"]
            assert len(numbers) == count and all(1 <= n <= top for n in numbers)
            assert numbers == sorted(numbers, reverse=True)  # canonical prompt
            assert lo <= target <= hi and target not in numbers
            assert score_expression(p.answer, numbers, target) == 1.0


@pytest.mark.parametrize(("expr", "score"), [
    ("((8*5)+3)-2", 1.0),
    ("8*5+3-2", 1.0),         # precedence, no redundant parentheses needed
    ("(8*5)+(3-2)", 1.0),
    ("8*5+3-3", 0.0),         # 3 used twice
    ("8*5+2-2", 0.0),         # 2 used twice
    ("8*5", 0.0),             # allowed but wrong value
    ("8*5+1", 0.0),           # 1 is not a given number
    ("(8*5)+3-2+0", 0.0),     # nor is 0
    ("2-3+8*5", 0.0),         # a negative intermediate
    ("8*5+", None),           # does not parse
    ("8**2-23", 0.0),         # power is forbidden
    ("8//5", 0.0),            # floor division is forbidden
    ("-2+8*5+3", 0.0),        # unary minus is forbidden
    ("8.0*5+3-2", 0.0),       # only whole numbers
    ("abs(8*5)+3-2", 0.0),    # names and calls are forbidden
    ("8*5+3-2 and 1", 0.0),
    ("8 3 5", None),
])
def test_answer_expressions_are_judged_by_the_rules(expr, score):
    assert score_expression(expr, [8, 5, 3, 2], 41) == score


def test_division_must_be_exact():
    assert score_expression("(9/3)*4", [9, 4, 3], 12) == 1.0
    assert score_expression("(9/4)*4+3", [9, 4, 4, 3], 12) == 0.0
    assert score_expression("9/(3-3)", [9, 3, 3], 12) == 0.0


def test_verifier_needs_an_answer_line():
    p = example()
    assert task.verify(p, task.teacher_trace(p)) == 1.0
    assert task.verify(p, task.teacher_trace(p, "optimal")) == 1.0
    assert task.verify(p, "8*5=40: 40 3 2\nAnswer: (8*5)+2") == 0.0
    assert task.verify(p, "Answer: 8*5+3-2.") == 1.0
    # the steps alone are not an answer, even though the last number is the target
    assert task.verify(p, "8*5=40: 40 3 2\n40+3=43: 43 2\n43-2=41: 41") is None
    assert task.verify(p, "Answer: 8 + ") is None


def test_step_checker_finds_the_first_corrupted_line():
    rng = random.Random(0)
    for style in task.styles:
        for p in task.problems("train", 20, seed=1, difficulty=6):
            steps = task.trace_steps(p, style)
            assert task.check_steps(p, steps) == [True] * len(steps)
            i = rng.randrange(len(steps))
            bad = list(steps)
            bad[i] = bad[i][:-1] + str((int(bad[i][-1]) + 1) % 10)
            assert task.first_error(p, bad) == i


def test_step_checker_judges_legality_of_each_line():
    p = example()
    ok = task.check_steps(p, [
        "5*3=15: 15 8 2",      # any legal operation, not only the teacher's
        "back: 8 5 3 2",       # back to the start, which has been seen
        "8+2=10: 5 3 10",      # the numbers left may be listed in any order
        "back: 15 8 2",        # back to an earlier state
        "15-8=7: 7 2",
    ])
    assert ok == [True] * 5
    assert task.check_steps(p, [
        "8*9=72: 72 5 3 2",    # 9 is not available
        "3-5=0: 0 8 2",        # wrong arithmetic and a negative
        "5/2=2: 2 8 3",        # inexact division
        "8+5=13: 13 3",        # lost a number on the way
        "back: 13 3 2",        # a state never reached
        "8+5=13: 13 3 2",      # still legal from the start: wrong lines changed nothing
    ]) == [False, False, False, False, False, True]


def test_difficulty_bounds_and_styles():
    with pytest.raises(InvalidInput, match=r"1\.\.6"):
        task.generate(random.Random(0), 7)
    with pytest.raises(InvalidInput, match="search"):
        task.trace_steps(example(), "cot")


def test_an_unsolvable_hand_made_problem_has_no_teacher_trace():
    p = task.make_problem(task._prompt([2, 1, 1], 97), "?", 1, numbers=[2, 1, 1], target=97)
    with pytest.raises(InvalidInput, match="no way to make 97"):
        task.teacher_trace(p)

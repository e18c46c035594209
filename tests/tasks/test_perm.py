from __future__ import annotations

import random

import pytest

from ponder.errors import InvalidInput
from ponder.tasks.perm import PermTask, apply, states

task = PermTask()


def example():
    start, perms = "bdaec", ["30421", "10342"]
    prompt = (f"Start with {start}. Apply {' '.join(perms)} in turn; "
              "each p puts old[p[i]] at position i. What is the final order?")
    return task.make_problem(prompt, "beadc", 2, start=start, perms=perms)


def test_apply_gathers_old_positions():
    assert apply("abcde", "01234") == "abcde"
    assert apply("bdaec", "30421") == "ebcad"
    assert apply("abcde", "43210") == "edcba"
    assert states("bdaec", ["30421", "10342"]) == ["ebcad", "beadc"]


def test_cot_moves_one_item_a_line_and_restates_the_state():
    p = example()
    assert task.trace_steps(p)[:8] == [
        "=0b1d2a3e4c", "Apply 30421", "0<-3=e", "1<-0=b", "2<-4=c", "3<-2=a", "4<-1=d",
        "=0e1b2c3a4d"]
    assert task.trace_steps(p)[8:] == [
        "30421 10342", "0<-1=b", "1<-0=e", "2<-3=a", "3<-4=d", "4<-2=c", "=0b1e2a3d4c",
        "10342 in turn"]
    # every header is a pair of adjacent words of the prompt
    assert all(h in p.prompt for h in task.trace_steps(p)[1::7])
    unlinked = task.trace_steps(p, "unlinked")
    assert unlinked[1] == "30421" and unlinked[8] == "10342" and len(unlinked) == 15
    consumed = task.trace_steps(p, "consumed")
    # each header lists what is left to apply; the last lists one, then the answer
    assert consumed[1] == "30421 10342" and consumed[8] == "10342" and len(consumed) == 15
    assert consumed[2:] == task.trace_steps(p)[2:8] + ["10342"] + task.trace_steps(p)[9:15]
    for style in ("cot", "unlinked", "coarse", "consumed"):
        assert task.check_steps(p, task.trace_steps(p, style)) == [True] * len(
            task.trace_steps(p, style))
    assert task.teacher_trace(p, "coarse") == "30421: ebcad\n10342: beadc\nAnswer: beadc"
    assert task.teacher_trace(p, "direct") == "Answer: beadc"


def test_generated_problems_compose_k_permutations():
    for k in (1, 7, 13):
        for p in task.problems("train", 20, seed=k, difficulty=k):
            perms = p.meta["perms"]
            assert len(perms) == k
            assert all(sorted(q) == list("01234") for q in perms)
            assert len(set(perms)) == k  # distinct
            assert sorted(p.meta["start"]) == list("abcde")
            assert " ".join(perms) in p.prompt
            assert p.answer == states(p.meta["start"], perms)[-1]


def test_verifier_scores_right_wrong_and_missing_answers():
    p = example()
    assert task.verify(p, task.teacher_trace(p)) == 1.0
    assert task.verify(p, task.teacher_trace(p, "direct")) == 1.0
    assert task.verify(p, "30421: ebcad\nAnswer: ebcad") == 0.0
    assert task.verify(p, "not sure") is None


def test_step_checker_finds_the_first_corrupted_line():
    rng = random.Random(0)
    for p in task.problems("train", 20, seed=0, difficulty=13):
        steps = task.trace_steps(p)
        assert task.check_steps(p, steps) == [True] * len(steps)
        i = rng.randrange(len(steps))
        bad = list(steps)
        bad[i] = bad[i][:-2] + bad[i][-1] + bad[i][-2]  # swap the last two items
        assert task.first_error(p, bad) == i


def test_step_checker_rejects_skipped_or_reordered_steps():
    p = example()
    steps = task.trace_steps(p)
    assert task.check_steps(p, [" =0b1d2a3e4c", "Apply 3042 1"]) == [True, True]
    assert task.check_steps(p, [" =0b1d2a3e4c", "3042 1"]) == [True, True]  # unlinked
    # a header must link to the right word of the prompt
    assert task.check_steps(p, [" =0b1d2a3e4c", "Apply 10342"]) == [True, False]
    assert task.check_steps(p, [*steps[:8], "Apply 10342"])[-1] is False
    assert task.check_steps(p, [*steps[:15], "30421 in turn"])[-1] is False
    assert task.check_steps(p, steps[1:3]) == [False, False]  # start skipped
    assert task.check_steps(p, [*steps[:3], steps[4]]) == [True, True, True, False]


def test_difficulty_bounds():
    with pytest.raises(InvalidInput, match=r"1\.\.13"):
        task.generate(random.Random(0), 14)
    with pytest.raises(InvalidInput):
        task.problems("test", 5, difficulty=0)

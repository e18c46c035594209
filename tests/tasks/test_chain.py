from __future__ import annotations

import random

import pytest

from ponder.errors import InvalidInput
from ponder.tasks.chain import ChainTask, evaluate, needed

task = ChainTask()

# Work mod 17. q is 5. w is q plus 7. k is 3. z is w times q. y is k minus 9. What is z?
FACTS = [["q", "const", "5"], ["w", "plus", "q", "7"], ["k", "const", "3"],
         ["z", "times", "w", "q"], ["y", "minus", "k", "9"]]


def example():
    prompt = ("Work mod 17. q is 5. w is q plus 7. k is 3. z is w times q. y is k minus 9. "
              "What is z?")
    return task.make_problem(prompt, "9", 2, modulus=17, facts=FACTS, query="z")


def test_trace_computes_only_needed_variables_in_prompt_order():
    p = example()
    assert evaluate(FACTS, 17) == {"q": 5, "w": 12, "k": 3, "z": 9, "y": 11}
    assert needed(FACTS, "z") == {"z", "w", "q"}
    assert task.teacher_trace(p) == (
        "w=q+7:q=5;5+7=12;w=12\nz=w*q:w=12,q=5;12*5=60;z=9\nAnswer: 9")
    assert task.trace_steps(p, "unnamed") == ["w=q+7:q=5;5+7=12", "z=w*q:w=12,q=5;12*5=60=9"]
    assert task.trace_steps(p, "coarse") == ["w=q+7=5+7=12", "z=w*q=12*5=60=9"]
    for style in ("cot", "unnamed", "coarse"):
        assert task.verify(p, task.teacher_trace(p, style)) == 1.0
        assert task.check_steps(p, task.trace_steps(p, style)) == [True, True]


def test_generated_problems_need_exactly_difficulty_operations():
    for d in (1, 5, 12, 20):
        for p in task.problems("train", 30, seed=d, difficulty=d):
            facts = p.meta["facts"]
            ops = [f for f in facts if f[1] != "const"]
            assert len(task.trace_steps(p)) == d
            # every constant feeds the answer; extra facts appear only from level 6 on
            assert len(facts) - len(needed(facts, p.meta["query"])) == d // 6
            assert len(ops) >= d
            assert p.prompt.startswith("Work mod 17. ") and p.prompt.endswith(
                f"What is {p.meta['query']}?")
            assert int(p.answer) == evaluate(facts, 17)[p.meta["query"]]


@pytest.mark.parametrize("d, k", [(3, 2), (8, 0), (20, 3)])
def test_a_fixed_distractor_count_holds_at_every_level(d, k):
    t = ChainTask(distractors=k)
    for p in t.problems("test", 20, seed=d, difficulty=d):
        facts = p.meta["facts"]
        assert len(facts) - len(needed(facts, p.meta["query"])) == k
        assert len(t.trace_steps(p)) == d
        assert t.verify(p, t.teacher_trace(p)) == 1.0
        # distractors are not part of the canonical form, so the split is the default's
        assert t.key(p) == task.key(p)
    for bad in (-1, 4):
        with pytest.raises(InvalidInput, match="distractors"):
            ChainTask(distractors=bad)


def test_facts_are_stated_after_what_they_use():
    for p in task.problems("train", 50, seed=1, difficulty=20):
        stated: set[str] = set()
        for name, kind, *args in p.meta["facts"]:
            if kind != "const":
                assert all(a in stated for a in args if a.isalpha())
            stated.add(name)


def test_verifier_scores_right_wrong_and_missing_answers():
    p = example()
    assert task.verify(p, task.teacher_trace(p)) == 1.0
    assert task.verify(p, "w=q+7=5+7=12\nAnswer: 12") == 0.0
    assert task.verify(p, "no idea") is None


def test_step_checker_finds_the_first_corrupted_line():
    rng = random.Random(0)
    for p in task.problems("train", 20, seed=0, difficulty=20):
        steps = task.trace_steps(p)
        assert task.check_steps(p, steps) == [True] * len(steps)
        i = rng.randrange(len(steps))
        bad = list(steps)
        bad[i] = bad[i][:-1] + str((int(bad[i][-1]) + 1) % 10)
        assert task.first_error(p, bad) == i
        # the arithmetic before the named result, too: 12*5=60;z=9 -> 12*5=61;z=9
        head, _, named = steps[i].rpartition(";")
        raw = head.rsplit("=", 1)
        bad[i] = f"{raw[0]}={int(raw[1]) + 1};{named}"
        assert task.first_error(p, bad) == i


def test_step_checker_accepts_any_dependency_order_and_distractors():
    p = example()
    assert task.check_steps(p, ["y=k-9=3-9=-6=11", "w = q+7 = 5+7 = 12"]) == [True, True]
    assert task.check_steps(p, ["y=k-9:k=3;3-9=-6=11", "w=q+7:q=5;5+7=12"]) == [True, True]
    # z needs w: using it before it is computed is an error, even with the right value
    assert task.check_steps(p, ["z=w*q=12*5=60=9", "w=q+7=5+7=12"]) == [False, True]


@pytest.mark.parametrize("line", [
    "w=q+7=5+7=13",            # wrong sum
    "w=q*7=5*7=35=1",          # not how w is defined
    "w=7+q=7+5=12",            # operands swapped from the fact
    "z=w*q=12*5=60",           # out of range, not reduced
    "z=w*q=12*5=60=8",         # reduced wrongly
    "w=q+7=6+7=13",            # wrong value substituted
    "q=6",                     # a constant listed with a wrong value
    "w=12",                    # listed as a constant, but computed
    "v=q+7=5+7=12",            # no such variable
    "w=q+7:q=6;5+7=12",        # wrong value restated
    "z=w*q:q=5,w=12;12*5=60=9",  # restated out of order
    "w=q+7:q=5;5+7=12;w=13",   # named result with a wrong value
    "w=q+7:q=5;5+7=12;q=12",   # named result naming another variable
    "z=w*q:w=12,q=5;12*5=60;z=60",  # named result not reduced
    "z=w*q:w=12,q=5;12*5=60=9;z=8",  # named result disagrees with the reduction
])
def test_step_checker_rejects_wrong_lines(line):
    p = example()
    prefix = ["w=q+7=5+7=12"] if line.startswith("z") else []
    assert task.check_steps(p, [*prefix, line])[-1] is False


def test_a_different_modulus_changes_prompt_and_arithmetic():
    t = ChainTask(modulus=7)
    p = t.generate(random.Random(3), 6)
    assert p.prompt.startswith("Work mod 7. ")
    assert all(0 <= int(line.rsplit("=", 1)[-1]) < 7 for line in t.trace_steps(p))
    assert t.verify(p, t.teacher_trace(p)) == 1.0
    for bad in (4, 15, 37):
        with pytest.raises(InvalidInput, match="prime"):
            ChainTask(modulus=bad)


def test_difficulty_bounds():
    with pytest.raises(InvalidInput, match=r"1\.\.20"):
        task.generate(random.Random(0), 21)
    with pytest.raises(InvalidInput):
        task.generate(random.Random(0), 0)


@pytest.mark.parametrize("second, kind, previous", [
    ("z=w*q:w=12,q=12;12*12=144;z=8", "look-up of a constant", True),
    ("z=w*q:w=5,q=5;5*5=25;z=8", "look-up of a computed value", False),
    ("z=w*q:w=12,q=5;12*6=72;z=4", "substitution", False),
    ("z=w*q:w=12,q=5;12*5=70;z=2", "arithmetic", False),
    ("z=w*q:w=12,q=5;12*5=60;z=8", "reduction", False),
    ("z=w+q:w=12,q=5;12+5=17;z=0", "definition", False),
    ("z is 9", "format", False),
])
def test_first_error_kind_names_the_first_check_a_line_fails(second, kind, previous):
    p = example()
    got = task.first_error_kind(p, ["w=q+7:q=5;5+7=12;w=12", second])
    assert got == {"line": 1, "kind": kind, "previous_line": previous}
    assert task.first_error_kind(p, task.trace_steps(p)) is None


def test_listed_style_first_lists_the_constants_the_needed_facts_use():
    p = example()
    steps = task.trace_steps(p, "listed")
    assert steps[0] == "q=5"  # k is a constant too, but only the distractor y uses it
    assert steps[1:] == task.trace_steps(p)
    assert task.check_steps(p, steps) == [True] * 3
    assert task.check_steps(p, ["q=5,k=3", *steps[1:]]) == [True] * 3  # true, if wasteful
    assert task.check_steps(p, ["q=6", *steps[1:]]) == [False, True, True]
    assert task.check_steps(p, ["w=12"]) == [False]  # not a constant
    assert task.first_error_kind(p, ["q=6", *steps[1:]]) == {
        "line": 0, "kind": "look-up of a constant", "previous_line": False}
    assert task.first_error_kind(p, steps) is None


def test_quoted_style_restates_constants_as_the_prompt_states_them():
    p = example()
    steps = task.trace_steps(p, "quoted")
    # once in the prompt's words, then as the trace restated it
    assert steps == ["w=q+7:q is 5;5+7=12;w=12", "z=w*q:w=12,q=5;12*5=60;z=9"]
    assert "q is 5." in p.prompt  # the look-up continues text the prompt holds
    assert task.check_steps(p, steps) == [True, True]
    assert task.verify(p, task.teacher_trace(p, "quoted")) == 1.0
    # either wording of a restated value is checked the same way
    assert task.check_steps(p, ["w=q+7:q=5;5+7=12;w=12", "z=w*q:w is 12,q=5;12*5=60;z=9"]
                            ) == [True, True]
    assert task.check_steps(p, ["w=q+7:q is 6;5+7=12;w=12"]) == [False]
    assert task.check_steps(p, ["w=q+7:q is 5,q is 5;5+7=12;w=12"]) == [False]  # twice
    assert task.first_error_kind(p, ["w=q+7:q is 6;6+7=13;w=13"]) == {
        "line": 0, "kind": "look-up of a constant", "previous_line": False}

"""No held-out problem has a training twin up to renaming: the split is decided on a
canonical form that ignores names, fact order, distractors and commutative operands."""

from __future__ import annotations

import random

import pytest

from ponder.tasks import get_task
from ponder.tasks.chain import ChainTask, evaluate

chain = ChainTask()


def renamed(problem, rng: random.Random, drop_distractors: bool = False):
    """The same chain question with new variable letters, commuted sums and products,
    another valid fact order and (optionally) no distractors."""
    facts = [list(f) for f in problem.meta["facts"]]
    letters = rng.sample("abcdefghijklmnopqrstuvwxyz", 26)
    names = {f[0]: letters[i] for i, f in enumerate(facts)}
    query = problem.meta["query"]
    if drop_distractors:
        from ponder.tasks.chain import needed
        keep = needed(facts, query)
        facts = [f for f in facts if f[0] in keep]
    out = []
    for name, kind, *args in facts:
        args = [names.get(a, a) for a in args]
        if kind in ("plus", "times") and rng.random() < 0.5:
            args.reverse()
        out.append([names[name], kind, *args])
    # move each constant to the front: still a dependency order, a different one
    out = [f for f in out if f[1] == "const"] + [f for f in out if f[1] != "const"]
    text = " ".join(f"{f[0]} is {f[2]}." if f[1] == "const" else
                    f"{f[0]} is {f[2]} {f[1]} {f[3]}." for f in out)
    q = names[query]
    prompt = f"Work mod 17. {text} What is {q}?"
    answer = str(evaluate(out, 17)[q])
    return chain.make_problem(prompt, answer, problem.difficulty, modulus=17, facts=out,
                              query=q)


def test_a_renamed_reordered_commuted_chain_is_the_same_problem():
    rng = random.Random(0)
    for d in (1, 2, 7, 13):
        for p in chain.problems("test", 30, seed=d, difficulty=d):
            for drop in (False, True):
                twin = renamed(p, rng, drop_distractors=drop)
                assert twin.answer == p.answer
                assert chain.key(twin) == chain.key(p)
                assert chain.split(twin) == "test"


def test_different_chains_have_different_keys():
    p = chain.problems("train", 1, seed=0, difficulty=3)[0]
    facts = [list(f) for f in p.meta["facts"]]
    # a minus is not commutative: swapping its operands is another problem
    facts.append(["z", "minus", p.meta["query"], "5"])
    q = chain.make_problem(p.prompt + " z", "0", 4, modulus=17, facts=facts, query="z")
    facts2 = [*facts[:-1], ["z", "minus", "5", p.meta["query"]]]
    q2 = chain.make_problem(p.prompt + " z2", "0", 4, modulus=17, facts=facts2, query="z")
    assert len({chain.key(p), chain.key(q), chain.key(q2)}) == 3


@pytest.mark.parametrize("d", [1, 2])
def test_no_level_one_or_two_chain_test_problem_has_a_train_twin(d):
    # The issue that motivated canonical keys: every level-1 test problem had a train
    # problem differing only in its letters. Draw many of both and compare their keys.
    train = {chain.key(p) for p in chain.problems("train", 3000, seed=1, difficulty=d)}
    test = chain.problems("test", 500, seed=2, difficulty=d)
    assert test and not any(chain.key(p) in train for p in test)


def test_perm_problems_that_differ_only_in_their_letters_share_a_split():
    perm = get_task("perm")
    for p in perm.problems("test", 40, seed=0, difficulty=[1, 2, 3]):
        start = "".join(random.Random(p.id).sample("abcde", 5))
        prompt = p.prompt.replace(p.meta["start"], start, 1)
        twin = perm.make_problem(prompt, "", p.difficulty, start=start,
                                 perms=p.meta["perms"])
        assert perm.split(twin) == "test" and twin.id != p.id


@pytest.mark.parametrize("name", ["arith", "countdown", "perm", "chain"])
def test_train_and_test_keys_are_disjoint(name):
    task = get_task(name)
    levels = list(range(task.min_difficulty, min(task.max_difficulty, 3) + 1))
    train = {task.key(p) for p in task.problems("train", 600, seed=5, difficulty=levels)}
    test = task.problems("test", 300, seed=6, difficulty=levels)
    assert not any(task.key(p) in train for p in test)
    assert all(task.split(p) == "test" for p in test)

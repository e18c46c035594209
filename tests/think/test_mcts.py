import math

import pytest

from ponder.errors import ConfigError
from ponder.think import Budget, Scorers
from ponder.think.mcts import mcts, priors_of, puct, select
from tests.think.fakes import (
    PROBLEM,
    RIGHT,
    WRONG,
    FakeORM,
    FakePRM,
    RecordingLM,
    assert_accounted,
    step_policy,
    verifier,
)

SEEDS = range(10)


def run(n=20, seed=0, scorers=None, **options):
    lm = RecordingLM(step_policy(0.5))
    scorers = scorers or Scorers(prm=FakePRM())
    return mcts(PROBLEM, lm, Budget(n=n, options=options), scorers, seed=seed), lm, scorers


def nodes(tree):
    yield tree
    for c in tree["children"]:
        yield from nodes(c)


def test_prm_valued_search_finds_the_right_answer():
    # uniform priors: only the values can steer the search towards the "ok" steps
    answers = [run(seed=s, prior="uniform", children=6)[0].answer for s in SEEDS]
    # fails only when all 6 samples of some step are bad
    assert answers.count(RIGHT) >= 8


def test_rollout_values_judged_by_orm_or_verifier():
    for scorers in (Scorers(orm=FakeORM()), Scorers(verifier=verifier)):
        answers = [run(seed=s, scorers=scorers, value="rollout", prior="uniform",
                       children=6)[0].answer for s in SEEDS]
        assert answers.count(RIGHT) >= 8
    res, _, _ = run(seed=0, scorers=Scorers(orm=FakeORM()), value="rollout")
    assert any(t.meta.get("rollout") for t in res.traces)


@pytest.mark.parametrize("n", [1, 7, 30])
def test_visit_counts_add_up_to_the_simulation_budget(n):
    res, _, _ = run(n=n, seed=2)
    tree = res.meta["tree"]
    assert tree["visits"] == n == sum(c["visits"] for c in tree["children"])
    for node in nodes(tree):
        if node is not tree and node["children"]:
            # evaluated once when first reached, every later visit went to a child
            assert node["visits"] == 1 + sum(c["visits"] for c in node["children"])
        if node["children"]:
            assert math.isclose(sum(c["prior"] for c in node["children"]), 1.0)


def test_answer_follows_the_most_visited_path_and_is_completed_greedily():
    res, lm, scorers = run(n=1, seed=0)  # one simulation: the path stops after one step
    tree = res.meta["tree"]
    first = max(tree["children"], key=lambda c: c["visits"])
    assert res.completion.startswith(first["step"])
    assert lm.calls[-1]["temperature"] == 0.0 and lm.calls[-1]["stop"] is None
    assert res.traces[-1].meta["greedy_completion"]
    assert res.answer in (RIGHT, WRONG)
    assert_accounted(res, lm, scorers.prm)


def test_compute_accounting():
    for seed in range(4):
        res, lm, s = run(seed=seed)
        assert_accounted(res, lm, s.prm)
        orm = FakeORM()
        res, lm, s = run(seed=seed, scorers=Scorers(orm=orm), value="rollout")
        assert_accounted(res, lm, orm)


def test_priors_uniform_or_from_logprobs():
    res, _, _ = run(seed=2, prior="uniform")
    for node in nodes(res.meta["tree"]):
        ps = [c["prior"] for c in node["children"]]
        assert all(math.isclose(p, 1 / len(ps)) for p in ps)
    # FunctionLM's logprob is -len(text): the shorter "ok" step gets the larger prior
    both = 0
    for seed in SEEDS:
        res, _, _ = run(n=2, seed=seed, prior="logprob")
        kids = {c["step"]: c["prior"] for c in res.meta["tree"]["children"]}
        if len(kids) == 2:
            both += 1
            assert kids["step 1 ok\n"] == pytest.approx(1 / (1 + math.exp(-1)))
    assert both >= 5


def test_puct_helpers():
    assert puct(0.0, 1.0, 4, 0, 2.0) == 4.0
    assert select([0.2, 0.2], [0.1, 0.9], [1, 1], 1.0, fpu=0.0) == 1  # the prior breaks ties
    assert select([1.0, None], [0.5, 0.5], [10, 0], 0.1, fpu=0.0) == 0  # exploit
    assert select([1.0, None], [0.5, 0.5], [10, 0], 10.0, fpu=0.0) == 1  # explore
    assert priors_of([0.0, 0.0, 0.0], "logprob") == pytest.approx([1 / 3] * 3)


@pytest.mark.parametrize("options,scorers,msg", [
    ({"children": 0}, Scorers(prm=FakePRM()), "children"),
    ({"prior": "flat"}, Scorers(prm=FakePRM()), "prior"),
    ({"value": "prm"}, Scorers(orm=FakeORM()), "needs Scorers"),
    ({"value": "rollout"}, Scorers(), "needs a scorer"),
    ({"c": 1}, Scorers(prm=FakePRM()), "unknown option"),
])
def test_config_errors(options, scorers, msg):
    with pytest.raises(ConfigError, match=msg):
        mcts(PROBLEM, step_policy(), Budget(n=4, options=options), scorers)

import pytest

from ponder.errors import ConfigError
from ponder.think import Budget, Scorers, get_strategy
from ponder.think.best_of_n import best_of_n
from tests.think.fakes import (
    PROBLEM,
    RIGHT,
    WRONG,
    FakeORM,
    FakePRM,
    ListLM,
    RecordingLM,
    assert_accounted,
    step_policy,
    verifier,
)

SEEDS = range(8)


def test_prm_finds_the_answer_that_greedy_and_vote_miss():
    got = {"greedy": [], "vote": [], "best_of_n": []}
    for seed in SEEDS:
        for name in got:
            res = get_strategy(name)(PROBLEM, step_policy(0.5), Budget(
                n=16, options={"aggregate": "min"} if name == "best_of_n" else {}),
                Scorers(prm=FakePRM()), seed=seed)
            got[name].append(res.answer)
    assert got["greedy"] == [WRONG] * len(SEEDS)  # the greedy path is wrong
    assert got["vote"].count(RIGHT) <= 1  # the majority is wrong (1 in 8 samples is right)
    assert got["best_of_n"].count(RIGHT) >= 6  # an informative PRM finds the right one


# PRM step scores: A = [0.1, 0.9], B = [0.5, 0.5], C = [0.45]
CANDIDATES = ["p=0.1\np=0.9\n</think>\nAnswer: 1", "p=0.5\np=0.5\n</think>\nAnswer: 2",
              "p=0.45\n</think>\nAnswer: 3"]


@pytest.mark.parametrize("how,want", [("last", "1"), ("min", "2"), ("prod", "3")])
def test_prm_aggregate_decides(how, want):
    res = best_of_n(PROBLEM, ListLM(CANDIDATES), Budget(n=3, options={"aggregate": how}),
                    Scorers(prm=FakePRM()))
    assert res.answer == want
    assert res.completion == CANDIDATES[int(want) - 1]


def test_weighted_vote_sums_scores_per_answer():
    texts = ["p=0.1\n</think>\nAnswer: 13"] * 3 + ["p=0.8\n</think>\nAnswer: 42"] * 2
    lm, prm = ListLM(texts), Scorers(prm=FakePRM())
    weighted = best_of_n(PROBLEM, lm, Budget(n=5, options={"weighted": True}), prm)
    assert weighted.answer == "42"  # 1.6 against 0.3
    assert get_strategy("vote")(PROBLEM, lm, Budget(n=5)).answer == "13"
    texts = ["p=0.35\n</think>\nAnswer: 13"] * 3 + ["p=0.8\n</think>\nAnswer: 42"]
    lm = ListLM(texts)
    assert best_of_n(PROBLEM, lm, Budget(n=4, options={"weighted": True}), prm).answer == "13"
    assert best_of_n(PROBLEM, lm, Budget(n=4), prm).answer == "42"


def test_orm_and_verifier_scorers():
    for kind, scorers in [("orm", Scorers(orm=FakeORM())),
                          ("verifier", Scorers(verifier=verifier))]:
        res = best_of_n(PROBLEM, step_policy(0.5), Budget(n=16, options={"scorer": kind}),
                        scorers, seed=1)
        assert res.answer == RIGHT
        assert {t.score for t in res.traces} <= {0.1, 0.9, 0.0, 1.0}


def test_compute_counts_every_sample_and_the_scorer():
    lm, prm = RecordingLM(step_policy(0.5)), FakePRM()
    res = best_of_n(PROBLEM, lm, Budget(n=16), Scorers(prm=prm), seed=3)
    assert len(lm.completions) == len(res.traces) == 16
    assert prm.read > 0
    assert_accounted(res, lm, prm)
    lm = RecordingLM(step_policy(0.5))
    oracle = best_of_n(PROBLEM, lm, Budget(n=16, options={"scorer": "verifier"}),
                       Scorers(verifier=verifier), seed=3)
    assert oracle.compute.flops == sum(c.flops for c in lm.completions)  # costs no FLOPs
    assert oracle.compute.scorer_tokens > 0


@pytest.mark.parametrize("options,scorers,msg", [
    ({}, None, "needs a scorer"),
    ({"aggregate": "max"}, Scorers(prm=FakePRM()), "aggregate"),
    ({"weigthed": True}, Scorers(prm=FakePRM()), "unknown option"),
    ({"scorer": "orm"}, Scorers(prm=FakePRM()), "was asked for but not given"),
    ({"weighted": "yes"}, Scorers(prm=FakePRM()), "true or false"),
])
def test_config_errors(options, scorers, msg):
    with pytest.raises(ConfigError, match=msg):
        best_of_n(PROBLEM, step_policy(), Budget(n=2, options=options), scorers)

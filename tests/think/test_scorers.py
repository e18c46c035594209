import pytest

from ponder.errors import ConfigError, ModelError
from ponder.think import Compute, Scorers
from ponder.think.scorers import (
    PRMOutcome,
    VerifierORM,
    aggregate,
    choose,
    outcome_scorer,
    score,
    score_steps,
)
from tests.think.fakes import PROBLEM, FakeORM, FakePRM, step_policy, verifier

LM = step_policy()


def test_aggregate_and_choose_edge_cases():
    assert aggregate([0.5], "prod") == 0.5 and aggregate([], "last", empty=0.3) == 0.3
    with pytest.raises(ConfigError, match="aggregate"):
        aggregate([0.5], "max")
    assert choose([None, None], [0.9, 0.1], "best") is None
    assert choose(["1", "2"], [0.5, 0.5], "weighted") == 0  # ties: the earliest
    with pytest.raises(ConfigError, match="needs scores"):
        choose(["1"], None, "best")


def test_outcome_scorer_resolution_order():
    prm, orm = FakePRM(), FakeORM()
    assert isinstance(outcome_scorer(Scorers(prm=prm, orm=orm), PROBLEM), PRMOutcome)
    assert outcome_scorer(Scorers(orm=orm, verifier=verifier), PROBLEM) is orm
    assert isinstance(outcome_scorer(Scorers(verifier=verifier), PROBLEM), VerifierORM)
    with pytest.raises(ConfigError, match="unknown scorer"):
        outcome_scorer(Scorers(prm=prm), PROBLEM, "judge")


def test_verifier_orm_scores_missing_answers_zero():
    v = VerifierORM(verifier, PROBLEM)
    assert v.score(["q"] * 3, ["</think>\nAnswer: 42", "</think>\nAnswer: 1", "no end"]) == [
        1.0, 0.0, 0.0]


def test_scorer_cost_uses_the_scorers_own_token_count_when_it_has_one():
    class Counted(FakeORM):
        def tokens(self, prompts, completions):
            return 7 * len(prompts)

    c = Compute()
    score(Counted(flops_per_token=2.0), LM, ["ab"] * 3, ["cde"] * 3, c)
    assert (c.scorer_tokens, c.flops) == (21, 42.0)
    prm = FakePRM(flops_per_token=3.0)
    score_steps(prm, LM, ["ab"], ["x\ny"], c)
    assert c.scorer_tokens == 21 + 5 == 21 + prm.read and c.flops == 42.0 + 15.0
    score(PRMOutcome(prm, "min"), LM, ["ab"], ["x"], c)
    assert c.scorer_tokens == 26 + 3


def test_a_scorer_returning_the_wrong_number_of_scores_is_reported():
    class Broken(FakeORM):
        def score(self, prompts, completions):
            return [0.5]

    with pytest.raises(ModelError, match="1 scores for 2"):
        score(Broken(), LM, ["a", "b"], ["c", "d"], Compute())

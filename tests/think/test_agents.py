import pytest

from ponder.errors import ConfigError
from ponder.think import Budget, Scorers, get_strategy
from ponder.think.agents import DEFAULT_EXPLORERS, agents, explorer_budget
from ponder.think.steps import derive_seed
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

EXPLORERS = [
    {"strategy": "greedy"},
    {"strategy": "vote", "temperature": 1.0, "n": 6},
    {"strategy": "beam", "n": 8, "options": {"beam_width": 2, "aggregate": "min"}},
]


def test_selector_picks_the_explorer_that_found_the_answer():
    lm, prm, orm = RecordingLM(step_policy(0.5)), FakePRM(), FakeORM()
    res = agents(PROBLEM, lm, Budget(options={"explorers": EXPLORERS, "select": "best",
                                              "scorer": "orm"}), Scorers(prm=prm, orm=orm))
    assert res.meta["candidates"][0] == WRONG  # greedy
    assert res.meta["candidates"][2] == RIGHT  # PRM-guided beam search
    assert res.answer == RIGHT and res.meta["chosen_explorer"] == 2
    assert {t.meta["explorer"] for t in res.traces} == {0, 1, 2}
    assert_accounted(res, lm, prm, orm)


def test_vote_selector_and_verifier_selector():
    scorers = Scorers(prm=FakePRM(), verifier=verifier)
    voted = agents(PROBLEM, step_policy(0.5), Budget(options={"explorers": EXPLORERS}), scorers)
    assert voted.answer == WRONG  # two of three explorers answer wrong
    oracle = agents(PROBLEM, step_policy(0.5), Budget(options={
        "explorers": EXPLORERS, "select": "best", "scorer": "verifier"}), scorers)
    assert oracle.answer == RIGHT


def test_compute_is_the_sum_over_explorers_plus_the_selector():
    scorers = Scorers(prm=FakePRM(), orm=FakeORM())
    budget = Budget(n=4, options={"explorers": EXPLORERS, "select": "best", "scorer": "orm"})
    res = agents(PROBLEM, step_policy(0.5), budget, scorers, seed=7)
    parts = [get_strategy(e["strategy"])(PROBLEM, step_policy(0.5), explorer_budget(e, budget),
                                         scorers, seed=derive_seed(7, "explorer", k))
             for k, e in enumerate(EXPLORERS)]
    assert [p.answer for p in parts] == res.meta["candidates"]
    selector = sum(len(PROBLEM.prompt) + len("\n<think>\n") + len(p.completion) for p in parts)
    for key in ("prompt_tokens", "generated_tokens", "samples"):
        assert getattr(res.compute, key) == sum(getattr(p.compute, key) for p in parts)
    assert res.compute.scorer_tokens == sum(p.compute.scorer_tokens for p in parts) + selector
    assert res.compute.flops == pytest.approx(sum(p.compute.flops for p in parts)
                                              + selector * FakeORM().flops_per_token)


def test_default_explorers_and_budget_defaults():
    lm = RecordingLM(step_policy(0.5))
    res = agents(PROBLEM, lm, Budget(n=3, temperature=0.3))
    assert len(res.meta["candidates"]) == len(DEFAULT_EXPLORERS)
    b = explorer_budget({"strategy": "vote"}, Budget(n=3, temperature=0.3))
    assert (b.n, b.temperature) == (3, 0.3)
    assert_accounted(res, lm)


@pytest.mark.parametrize("explorers,msg", [
    ([], "non-empty"), ([{"strategy": "agents"}], "cannot itself"),
    ([{"strategy": "nope"}], "unknown strategy"),
    ([{"strategy": "vote", "seed": 1}], "unknown key"),
    ([{"temperature": 1.0}], "'strategy' key"),
    ([{"strategy": "vote", "n": "4"}], "n must be an integer"),
    ([{"strategy": "vote", "options": "weighted"}], "options must be a dict"),
    ([{"strategy": "vote", "options": {"weighted": True}}], r"vote: unknown option"),
])
def test_config_errors(explorers, msg):
    with pytest.raises(ConfigError, match=msg):
        agents(PROBLEM, step_policy(), Budget(options={"explorers": explorers}))
    with pytest.raises(ConfigError, match="needs a scorer"):
        agents(PROBLEM, step_policy(), Budget(options={"select": "best"}))

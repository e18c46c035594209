"""Compute accounting across every strategy: what a Result reports is what was spent."""

import doctest
import importlib
import json

import pytest

from ponder.think import STRATEGIES, Budget, Compute, Scorers, get_strategy
from ponder.think.optimal import Choice, Policy
from tests.think.fakes import (
    PROBLEM,
    FakeORM,
    FakePRM,
    RecordingLM,
    assert_accounted,
    step_policy,
)

POLICY = Policy(8, {b: Choice("beam" if b > 2 else "vote", 8, {"beam_width": 2} if b > 2
                              else {}) for b in range(1, 6)}, signal="orm")
CASES = {
    "greedy": {},
    "vote": {},
    "best_of_n": {"weighted": True, "aggregate": "min"},
    "beam": {"beam_width": 2, "lookahead": 1},
    "mcts": {"value": "rollout", "scorer": "prm", "children": 3},
    "revise": {"sequential": 4, "select": "weighted", "scorer": "orm"},
    "budget": {"think_tokens": 30, "extend": 2},
    "agents": {"explorers": [{"strategy": "beam", "options": {"beam_width": 4}},
                             {"strategy": "mcts"}], "select": "best", "scorer": "orm"},
    "optimal": {"policy": POLICY},
}
MODULES = ["steps", "scorers", "vote", "beam", "mcts", "revise", "budget", "difficulty",
           "optimal", "base"]


def test_every_registered_strategy_is_covered():
    assert set(CASES) == set(STRATEGIES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_reported_compute_is_what_was_spent(name):
    lm, prm, orm = RecordingLM(step_policy(0.6)), FakePRM(1000.0), FakeORM(300.0)
    res = get_strategy(name)(PROBLEM, lm, Budget(n=8, options=CASES[name]),
                             Scorers(prm=prm, orm=orm), seed=5)
    assert res.answer is not None and res.traces
    # every sample counts, the discarded ones too; FLOPs = policy + scorer tokens x rate
    assert_accounted(res, lm, prm, orm)
    if name not in ("greedy", "vote", "budget"):
        assert res.compute.scorer_tokens > 0
    json.dumps(res.meta)  # results are written as JSON records


def test_compute_adds_up():
    a = Compute(1, 2, 3, 4.0, 0.5, 1)
    b = Compute(10, 20, 30, 40.0, 1.0, 2)
    assert a + b == Compute(11, 22, 33, 44.0, 1.5, 3)
    a += b
    assert a.to_dict()["flops"] == 44.0


@pytest.mark.parametrize("module", MODULES)
def test_doctests(module):
    mod = importlib.import_module(f"ponder.think.{module}")
    failed, attempted = doctest.testmod(mod)
    assert failed == 0 and attempted > 0

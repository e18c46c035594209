import pytest

from ponder.errors import ConfigError
from ponder.think import Budget, Scorers, get_strategy
from ponder.think.optimal import (
    Cell,
    Choice,
    Policy,
    best_cell,
    fit_policy,
    load_policies,
    save_policies,
)
from tests.think.fakes import PROBLEM, FakePRM, answering, assert_accounted

# accuracy on training problems per (strategy, n, bin); bin 2 was never measured
TABLE = [
    # easy: everything works, so the cheapest best one wins the tie
    {"strategy": "vote", "n": 4, "bin": 1, "accuracy": 0.95},
    {"strategy": "vote", "n": 16, "bin": 1, "accuracy": 0.95},
    {"strategy": "beam", "n": 16, "bin": 1, "accuracy": 0.90, "options": {"beam_width": 4}},
    # medium: beam search is best
    {"strategy": "vote", "n": 16, "bin": 3, "accuracy": 0.55},
    {"strategy": "beam", "n": 16, "bin": 3, "accuracy": 0.70, "options": {"beam_width": 4}},
    {"strategy": "best_of_n", "n": 16, "bin": 3, "accuracy": 0.60},
    {"strategy": "beam", "n": 4, "bin": 4, "accuracy": 0.30, "options": {"beam_width": 2}},
    {"strategy": "revise", "n": 8, "bin": 4, "accuracy": 0.35, "options": {"sequential": 4}},
    # hard: the best cell costs 64 samples, over the budget of 16
    {"strategy": "best_of_n", "n": 64, "bin": 5, "accuracy": 0.40},
    {"strategy": "best_of_n", "n": 16, "bin": 5, "accuracy": 0.20},
    {"strategy": "vote", "n": 16, "bin": 5, "accuracy": 0.15},
]


def test_fit_policy_picks_the_best_configuration_per_bin_within_budget():
    p = fit_policy(TABLE, target_budget=16)
    assert p.choices[1] == Choice("vote", 4, {})
    assert p.choices[3] == Choice("beam", 16, {"beam_width": 4})
    assert p.choices[4] == Choice("revise", 8, {"sequential": 4})
    assert p.choices[5] == Choice("best_of_n", 16, {})
    assert p.choices[2] == p.choices[1]  # unmeasured: nearest bin, the easier one on ties
    big = fit_policy(TABLE, target_budget=64)
    assert big.choices[5] == Choice("best_of_n", 64, {})
    small = fit_policy(TABLE, target_budget=4)
    # only bins 1 and 4 have a cell within 4 samples; the others borrow the nearest
    assert small.choices[2] == small.choices[1] == Choice("vote", 4, {})
    assert small.choices[3] == small.choices[5] == Choice("beam", 4, {"beam_width": 2})
    with pytest.raises(ConfigError, match="costs at most"):
        fit_policy(TABLE, target_budget=2)


def test_fit_policy_by_flops():
    cells = [Cell("vote", 64, 1, 0.9, flops=100.0), Cell("beam", 16, 1, 0.8, flops=500.0)]
    assert best_cell(cells, 200.0, key="flops").strategy == "vote"
    p = fit_policy(cells, 600.0, key="flops", cuts=[0.5])
    assert set(p.choices) == {1, 2} and p.choices[2].strategy == "vote"


def test_policy_json_roundtrip(tmp_path):
    ps = [fit_policy(TABLE, 16, cuts=[0.1, 0.3, 0.5, 0.9], probe_n=6), fit_policy(TABLE, 64)]
    path = save_policies(tmp_path / "policy.json", ps)
    assert load_policies(path) == ps
    with pytest.raises(ConfigError, match="every bin"):
        Policy(16, {1: Choice("vote", 4)})


POLICY = Policy(target_budget=4, probe_n=4, choices={
    1: Choice("greedy", 1), 2: Choice("greedy", 1), 3: Choice("vote", 4),
    4: Choice("vote", 4), 5: Choice("best_of_n", 4, {"aggregate": "min"})})


def test_optimal_routes_by_predicted_difficulty_and_pays_for_the_probe(tmp_path):
    path = save_policies(tmp_path / "p.json", [POLICY])
    for values, want_bin, strategy, n in [(1, 1, "greedy", 1), (1000, 4, "vote", 4)]:
        lm, prm = answering(values), FakePRM()
        res = get_strategy("optimal")(PROBLEM, lm, Budget(n=4, options={"policy": str(path)}),
                                      Scorers(prm=prm))
        assert res.meta["bin"] == want_bin and res.meta["choice"]["strategy"] == strategy
        # a vote reuses the probes as its first samples: vote@4 after 4 probes draws none
        extra = max(0, n - POLICY.probe_n) if strategy == "vote" else n
        assert res.compute.samples == POLICY.probe_n + extra == len(res.traces)
        assert res.meta["probe_compute"]["samples"] == POLICY.probe_n
        assert_accounted(res, lm, prm)


def test_optimal_picks_the_policy_for_the_budget():
    other = Policy(16, {b: Choice("vote", 16) for b in range(1, 6)})
    res = get_strategy("optimal")(PROBLEM, answering(1),
                                  Budget(n=16, options={"policy": [POLICY, other]}))
    assert res.meta["choice"] == {"strategy": "vote", "n": 16, "options": {}}
    with pytest.raises(ConfigError, match="no policy fitted for budget n=8"):
        get_strategy("optimal")(PROBLEM, answering(1), Budget(n=8, options={"policy": POLICY}))
    with pytest.raises(ConfigError, match="needs options"):
        get_strategy("optimal")(PROBLEM, answering(1), Budget(n=4))


def test_a_vote_choice_counts_the_probes_as_its_first_samples():
    six = Policy(6, {**{b: Choice("vote", 6) for b in range(1, 5)}, 5: Choice("greedy", 1)},
                 probe_n=4)
    lm = answering(3)
    res = get_strategy("optimal")(PROBLEM, lm, Budget(n=6, options={"policy": six}), seed=2)
    assert res.meta["bin"] != 5
    assert res.meta["reused_probes"] == 4 and res.compute.samples == 6 == len(res.traces)
    assert res.meta["probe_compute"]["samples"] == 4
    assert sum(res.meta["votes"].values()) == 6
    assert res.answer == max(res.meta["votes"], key=res.meta["votes"].get)
    assert_accounted(res, lm)


def test_unreadable_policy_files_are_config_errors(tmp_path):
    bad = tmp_path / "bad.json"
    with pytest.raises(ConfigError, match="cannot read policy file"):
        load_policies(tmp_path / "absent.json")
    for text, msg in [("{not json", "is not JSON"), ('{"choices": {}}', "must hold"),
                      ('{"policies": [{"target_budget": 4}]}', "not a compute-optimal"),
                      ('{"policies": [{"target_budget": 4, "choices": {"x": {}}}]}',
                       "not a compute-optimal")]:
        bad.write_text(text)
        with pytest.raises(ConfigError, match=msg):
            load_policies(bad)
        with pytest.raises(ConfigError, match=msg):
            get_strategy("optimal")(PROBLEM, answering(1), Budget(n=4, options={
                "policy": str(bad)}))
    d = POLICY.to_dict()
    with pytest.raises(ConfigError, match="cost key"):
        Policy.from_dict({**d, "key": "tokens"})


def test_a_policy_with_one_choice_everywhere_draws_no_probes():
    same = Policy(4, {b: Choice("vote", 4) for b in range(1, 6)}, probe_n=4)
    lm = answering(3)
    res = get_strategy("optimal")(PROBLEM, lm, Budget(n=4, options={"policy": same}), seed=1)
    assert res.meta["probed"] is False and res.meta["bin"] is None
    assert res.meta["probe_compute"]["samples"] == 0
    assert res.compute.samples == 4 == len(res.traces)
    plain = get_strategy("vote")(PROBLEM, answering(3), Budget(n=4), seed=1)
    assert res.answer == plain.answer and res.compute.flops == plain.compute.flops
    assert_accounted(res, lm)

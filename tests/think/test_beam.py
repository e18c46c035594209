import pytest

from ponder.errors import ConfigError
from ponder.think import Budget, Scorers, get_strategy
from ponder.think.beam import beam, expansion_counts, top_k
from tests.think.fakes import (
    PROBLEM,
    RIGHT,
    WRONG,
    FakePRM,
    RecordingLM,
    assert_accounted,
    step_policy,
)

SEEDS = range(6)


def run(n=8, seed=0, p_ok=0.5, steps=3, **options):
    lm, prm = RecordingLM(step_policy(p_ok, steps)), FakePRM()
    res = beam(PROBLEM, lm, Budget(n=n, options=options), Scorers(prm=prm), seed=seed)
    return res, lm, prm


def test_beam_finds_the_answer_that_greedy_and_vote_miss():
    answers = [run(seed=s, beam_width=2, aggregate="min")[0].answer for s in SEEDS]
    assert answers == [RIGHT] * len(SEEDS)
    votes = [get_strategy("vote")(PROBLEM, step_policy(0.5), Budget(n=8), seed=s).answer
             for s in SEEDS]
    assert votes.count(RIGHT) <= 1
    assert get_strategy("greedy")(PROBLEM, step_policy(0.5), Budget()).answer == WRONG


def test_first_round_samples_n_steps_then_m_per_kept_prefix():
    res, lm, _ = run(n=8, beam_width=2, aggregate="min")
    first, second = lm.calls[0], lm.calls[1]
    assert first["n"] == 8 and len(first["prompts"]) == 1 and first["stop"] == ["\n"]
    # 4 = N/M prefixes kept, each expanded into M = 2 (equal prefixes share one request)
    assert second["n"] * len(second["prompts"]) == 8
    assert res.meta["finished"] == len(res.traces) <= 8


@pytest.mark.parametrize("n,m", [(8, 2), (8, 8), (6, 3), (4, 1)])
def test_never_more_than_n_finished_solutions(n, m):
    for seed in SEEDS:  # steps vary: some solutions end early, some late
        res, _, _ = run(n=n, seed=seed, p_ok=0.7, steps=4, beam_width=m)
        assert sum(t.answer is not None for t in res.traces) <= n
        assert all(not t.meta.get("unfinished") for t in res.traces)


def test_expansion_counts_respect_the_remaining_budget():
    for remaining in range(1, 20):
        for m in (1, 2, 3, 4):
            for beams in (1, 2, 4):
                c = expansion_counts(remaining, m, beams)
                assert sum(c) <= remaining and len(c) <= beams and all(1 <= x <= m for x in c)
                assert sum(c) == min(remaining, m * beams)
    assert top_k([0.1, 0.5, 0.5], 2) == [1, 2]


def test_lookahead_scores_steps_by_greedy_rollouts_and_pays_for_them():
    plain, lm0, prm0 = run(seed=1, beam_width=2, aggregate="min")
    ahead, lm, prm = run(seed=1, beam_width=2, aggregate="min", lookahead=2)
    assert ahead.answer == RIGHT
    greedy_calls = [c for c in lm.calls if c["temperature"] == 0]
    assert greedy_calls and all(c["stop"] == ["\n"] for c in greedy_calls)
    assert ahead.compute.generated_tokens > plain.compute.generated_tokens
    assert_accounted(ahead, lm, prm)
    # rollouts are only for scoring: kept solutions are 3 steps, closing and answer
    assert all(t.completion.count("\n") == 4 for t in ahead.traces)


def test_max_steps_leaves_unfinished_prefixes_without_answer():
    res, lm, prm = run(beam_width=2, max_steps=2)
    assert res.answer is None
    assert len(res.traces) == 4 and all(t.meta["unfinished"] for t in res.traces)
    assert_accounted(res, lm, prm)


def test_compute_accounting():
    for seed in SEEDS:
        res, lm, prm = run(seed=seed, beam_width=4, aggregate="prod")
        assert_accounted(res, lm, prm)


def test_sqrt_width_follows_the_budget():
    from ponder.think.beam import width_for

    assert [width_for("sqrt", n) for n in (1, 4, 16, 64)] == [1, 2, 4, 8]
    res, lm, _ = run(n=16, beam_width="sqrt", aggregate="min")
    second = lm.calls[1]  # 4 kept prefixes, each expanded into sqrt(16) = 4
    assert second["n"] * len(second["prompts"]) == 16 and res.meta["beam_width"] == 4
    res1, lm1, _ = run(n=1, beam_width="sqrt")  # budget 1: a single chain, no error
    assert lm1.calls[0]["n"] == 1 and len(res1.traces) == 1
    with pytest.raises(ConfigError, match="square budget"):
        width_for("sqrt", 8)


@pytest.mark.parametrize("options,msg", [
    ({"beam_width": 3}, "dividing"), ({"beam_width": 16}, "dividing"),
    ({"beam_width": "wide"}, "sqrt"), ({"beam_width": True}, "dividing"),
    ({"lookahead": -1}, "lookahead"), ({"select": "max"}, "selection"),
    ({"aggregate": "mean"}, "aggregate"), ({"width": 2}, "unknown option"),
])
def test_config_errors(options, msg):
    with pytest.raises(ConfigError, match=msg):
        beam(PROBLEM, step_policy(), Budget(n=8, options=options), Scorers(prm=FakePRM()))
    with pytest.raises(ConfigError, match="needs a PRM"):
        beam(PROBLEM, step_policy(), Budget(n=8), Scorers())

from ponder.eval.scale import ScaleConfig, plot, run_scale, summarize
from tests.toy import SumTask, noisy_policy


def test_vote_accuracy_rises_with_budget_and_compute_is_accounted(tmp_path):
    task, lm = SumTask(), noisy_policy(p_step=0.85)
    cfg = ScaleConfig(strategies=["greedy", "vote"], budgets=[1, 9], n_problems=30,
                      difficulty=[3], max_tokens=64)
    records = run_scale(lm, task, cfg)
    assert len(records) == 2 * 2 * 30
    s = summarize(records)
    acc = {(r["strategy"], r["budget"]): r for r in s["overall"]}
    assert acc[("vote", 9)]["accuracy"] > acc[("vote", 1)]["accuracy"] + 0.1
    # nine times the generated tokens; FLOPs grow a bit less since the prompt is shared
    assert abs(acc[("vote", 9)]["tokens"] - 9 * acc[("vote", 1)]["tokens"]) < 0.05 * 9 * 37
    assert 5 * acc[("vote", 1)]["flops"] < acc[("vote", 9)]["flops"] < 9 * acc[("vote", 1)]["flops"]
    assert acc[("greedy", 1)]["accuracy"] == 1.0  # the fake policy is exact at T=0
    cov = s["coverage"]
    assert cov["n"] == 9 and cov["pass_at_k"]["1"] <= cov["pass_at_k"]["8"]
    plot(s, str(tmp_path / "curve.png"), "toy")
    assert (tmp_path / "curve.png").stat().st_size > 1000


def test_config_errors_name_the_problem():
    import pytest

    from ponder.errors import ConfigError, UnknownName

    with pytest.raises(UnknownName, match="strategy"):
        ScaleConfig(strategies=["nope"], budgets=[1])
    with pytest.raises(ConfigError, match="budgets"):
        ScaleConfig(strategies=["vote"], budgets=[0])
    with pytest.raises(ConfigError, match="at least one level"):
        ScaleConfig(strategies=["vote"], budgets=[1], difficulty=[])
    with pytest.raises(ConfigError, match="map each strategy"):
        ScaleConfig(strategies=["beam"], budgets=[4], options={"beam_width": 2})
    with pytest.raises(ConfigError, match=r"options given for \['bean'\]"):
        ScaleConfig(strategies=["beam"], budgets=[4], options={"bean": {"beam_width": 2}})

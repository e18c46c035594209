from ponder.eval.optimal_fit import cells_from_records, fit_compute_optimal
from ponder.eval.scale import ScaleConfig, run_scale, summarize
from tests.toy import SumTask, noisy_policy


def test_cells_group_records_by_bin():
    recs = [{"strategy": "vote", "budget": 4, "problem": p, "correct": c, "flops": 10.0}
            for p, c in [("a", True), ("b", False), ("c", True)]]
    cells = cells_from_records(recs, {"a": 1, "b": 1, "c": 2}, {"vote": {"x": 1}})
    assert [(c.bin, c.accuracy, c.options) for c in cells] == [(1, 0.5, {"x": 1}),
                                                               (2, 1.0, {"x": 1})]


def test_fitted_policy_spends_on_hard_bins_and_beats_fixed_n_on_compute(tmp_path):
    # two-number sums are always right; four-number sums often wrong, errors diffuse
    task = SumTask()
    lm = noisy_policy(p_step=lambda k: 1.0 if k <= 2 else 0.7, spread=9)
    cfg = ScaleConfig(strategies=["vote"], budgets=[1, 9], n_problems=40, max_tokens=64,
                      difficulty=[1, 3])
    [policy], cells = fit_compute_optimal(lm, task, cfg, targets=[9], probe_n=4)
    seen = {c.bin for c in cells}
    assert len(seen) >= 2  # 4 probes give few distinct confidences, so bins may merge
    n_by_bin = {b: c.n for b, c in policy.choices.items()}
    assert n_by_bin[max(seen)] == 9  # the least confident problems get the whole budget
    assert n_by_bin[min(seen)] == 1  # the most confident ones do not need it
    # held-out: the policy costs less than vote@9 for a comparable accuracy
    from ponder.think.optimal import save_policies

    path = save_policies(tmp_path / "p.json", [policy])
    test_cfg = ScaleConfig(strategies=["optimal", "vote"], budgets=[9], n_problems=40,
                           max_tokens=64, difficulty=[1, 3],
                           options={"optimal": {"policy": str(path)}})
    s = summarize(run_scale(lm, task, test_cfg))
    row = {r["strategy"]: r for r in s["overall"]}
    assert row["optimal"]["flops"] < row["vote"]["flops"]
    assert row["optimal"]["accuracy"] >= row["vote"]["accuracy"] - 0.1

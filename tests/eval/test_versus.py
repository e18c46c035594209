import json

import pytest
from typer.testing import CliRunner

from ponder.cli import app
from ponder.errors import InvalidInput
from ponder.eval.versus import compare, compare_band


def row(strategy, budget, acc, flops, difficulty=None, n=10):
    r = {"strategy": strategy, "budget": budget, "accuracy": acc, "flops": flops, "n": n}
    if difficulty is not None:
        r["difficulty"] = difficulty
    return r


def test_band_matches_budgets_within_the_reference_flops():
    small = [row("vote", 1, 0.2, 10.0), row("vote", 4, 0.5, 40.0), row("vote", 16, 0.7, 160.0)]
    out = compare_band(small, {"accuracy": 0.45, "flops": 100.0, "n": 10})
    v = out["strategies"]["vote"]
    assert v["matched_budget"] == 4 and v["matched_accuracy"] == 0.5
    # 0.5 against 0.45 on 10 problems each is no evidence of a difference
    assert out["small_wins"] == [] and v["test"]["verdict"] == "no difference"
    assert not v["test"]["paired"] and v["test"]["why_unpaired"] == "no per-problem records"
    big = [{**r, "n": 2000} for r in small]
    won = compare_band(big, {"accuracy": 0.45, "flops": 100.0, "n": 2000})
    assert won["small_wins"] == ["vote"]
    assert won["strategies"]["vote"]["test"]["ci95"][0] > 0
    # 0.45 is reached between 10 and 40 FLOPs (log interpolation), well under 100
    assert 10.0 < v["flops_to_reach"] < 40.0
    assert v["flops_fraction_to_reach"] == pytest.approx(v["flops_to_reach"] / 100.0)


def test_band_is_lost_when_only_budgets_above_the_reference_win():
    small = [row("vote", 1, 0.2, 10.0), row("vote", 4, 0.25, 40.0), row("vote", 16, 0.9, 160.0)]
    out = compare_band(small, {"accuracy": 0.5, "flops": 30.0, "n": 10})
    assert out["small_wins"] == []
    assert out["strategies"]["vote"]["matched_accuracy"] == 0.2
    assert out["strategies"]["vote"]["flops_fraction_to_reach"] > 1


def test_compare_reports_per_level_and_needs_a_greedy_reference():
    small = {"overall": [row("vote", 4, 0.6, 40.0, n=1000)],
             "by_difficulty": [row("vote", 4, 0.9, 30.0, 1, n=500),
                               row("vote", 4, 0.3, 50.0, 2, n=500)]}
    large = {"overall": [row("greedy", 1, 0.5, 100.0, n=1000)],
             "by_difficulty": [row("greedy", 1, 0.8, 90.0, 1, n=500),
                               row("greedy", 1, 0.4, 110.0, 2, n=500)]}
    out = compare(small, large)
    assert out["bands_won"] == ["1"] and out["any_band_won"]
    assert out["bands"]["all"]["small_wins"] == ["vote"] and not out["paired"]
    assert out["bands"]["2"]["strategies"]["vote"]["test"]["verdict"] == "worse"
    no_greedy = {**large, "overall": [row("vote", 4, 0.5, 100.0)],
                 "by_difficulty": [row("vote", 4, 0.8, 90.0, 1)]}
    with pytest.raises(InvalidInput, match="greedy"):
        compare(small, no_greedy)


def test_compare_command_writes_a_report(tmp_path, monkeypatch):
    monkeypatch.setattr("ponder.eval.report.REPORTS_DIR", tmp_path)

    def report(path, model, results):
        path.write_text(json.dumps({"model": model, "seed": 0,
                                    "results": {"task": "arith", **results}}))
        return str(path)

    s = report(tmp_path / "s.json", "tiny", {
        "overall": [row("vote", 4, 0.6, 40.0, n=1000)],
        "by_difficulty": [row("vote", 4, 0.6, 40.0, 1, n=1000)]})
    big = report(tmp_path / "l.json", "base", {
        "overall": [row("greedy", 1, 0.5, 100.0, n=1000)],
        "by_difficulty": [row("greedy", 1, 0.5, 100.0, 1, n=1000)]})
    res = CliRunner().invoke(app, ["compare", s, big, "--name", "vs"])
    assert res.exit_code == 0, res.output
    assert "not paired" in res.output and "unpaired (no per-problem records): better" in res.output
    written = json.loads((tmp_path / "vs.json").read_text())
    assert written["results"]["bands_won"] == ["1"]
    assert written["results"]["small_model"] == "tiny"
    bad = CliRunner().invoke(app, ["compare", s, str(tmp_path / "missing.json")])
    assert bad.exit_code != 0


def records(strategy, budget, correct, difficulty=1):
    return [{"strategy": strategy, "budget": budget, "problem": f"p{i}",
             "difficulty": difficulty, "correct": c} for i, c in enumerate(correct)]


def test_paired_records_decide_what_unpaired_accuracies_cannot():
    # on the same 100 problems the small model keeps all 50 the large one solves and adds
    # 10: 0.60 vs 0.50 is a clear win when paired, not when compared as independent samples
    small_rec = records("vote", 4, [True] * 60 + [False] * 40)
    large_rec = records("greedy", 1, [True] * 50 + [False] * 50)
    small = [row("vote", 4, 0.6, 40.0, n=100)]
    ref = row("greedy", 1, 0.5, 100.0, n=100)
    paired = compare_band(small, ref, small_rec, large_rec)
    test = paired["strategies"]["vote"]["test"]
    assert test["paired"] and test["n"] == 100 and (test["wins"], test["losses"]) == (10, 0)
    assert test["p_value"] == pytest.approx(2 * 0.5**10) and paired["small_wins"] == ["vote"]
    unpaired = compare_band(small, ref)
    assert unpaired["small_wins"] == []
    # the same accuracies, but the small model loses 20 of the large one's problems
    shuffled = records("vote", 4, [True] * 30 + [False] * 20 + [True] * 30 + [False] * 20)
    assert compare_band(small, ref, shuffled, large_rec)["small_wins"] == []
    # records on other problems cannot be paired: the test says so
    elsewhere = [{**r, "problem": "q" + r["problem"]} for r in small_rec]
    test = compare_band(small, ref, elsewhere, large_rec)["strategies"]["vote"]["test"]
    assert not test["paired"] and "no problem id" in test["why_unpaired"]


def test_compare_pairs_records_per_level(tmp_path, monkeypatch):
    monkeypatch.setattr("ponder.eval.report.REPORTS_DIR", tmp_path)
    small_rec = (records("vote", 4, [True] * 30 + [False] * 10, difficulty=1)
                 + records("vote", 4, [False] * 40, difficulty=2))
    large_rec = (records("greedy", 1, [True] * 20 + [False] * 20, difficulty=1)
                 + records("greedy", 1, [False] * 40, difficulty=2))
    for r in small_rec[40:] + large_rec[40:]:
        r["problem"] = "hard-" + r["problem"]
    paths = []
    for name, model, strategy, budget, flops, recs in [
            ("s", "tiny", "vote", 4, 40.0, small_rec),
            ("l", "base", "greedy", 1, 100.0, large_rec)]:
        acc = {d: sum(r["correct"] for r in recs if r["difficulty"] == d) / 40 for d in (1, 2)}
        results = {"task": "arith",
                   "overall": [row(strategy, budget, (acc[1] + acc[2]) / 2, flops, n=80)],
                   "by_difficulty": [row(strategy, budget, acc[d], flops, d, n=40)
                                     for d in (1, 2)]}
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps({"model": model, "seed": 0, "results": results}))
        (tmp_path / f"{name}.records.jsonl").write_text(
            "".join(json.dumps(r) + "\n" for r in recs))
        paths.append(str(path))
    res = CliRunner().invoke(app, ["compare", *paths, "--name", "vs"])
    assert res.exit_code == 0, res.output
    assert "not paired" not in res.output and "paired on 40 problems" in res.output
    out = json.loads((tmp_path / "vs.json").read_text())["results"]
    assert out["paired"] and out["bands_won"] == ["1"]
    level1 = out["bands"]["1"]["strategies"]["vote"]["test"]
    assert (level1["wins"], level1["losses"]) == (10, 0) and level1["n"] == 40
    assert out["bands"]["2"]["strategies"]["vote"]["test"]["verdict"] == "no difference"
    assert out["bands"]["all"]["strategies"]["vote"]["test"]["n"] == 80

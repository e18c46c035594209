import json

import pytest
from typer.testing import CliRunner

from ponder.cli import app
from ponder.errors import InvalidInput
from ponder.eval.versus import compare, compare_band


def row(strategy, budget, acc, flops, difficulty=None):
    r = {"strategy": strategy, "budget": budget, "accuracy": acc, "flops": flops, "n": 10}
    if difficulty is not None:
        r["difficulty"] = difficulty
    return r


def test_band_matches_budgets_within_the_reference_flops():
    small = [row("vote", 1, 0.2, 10.0), row("vote", 4, 0.5, 40.0), row("vote", 16, 0.7, 160.0)]
    out = compare_band(small, {"accuracy": 0.45, "flops": 100.0, "n": 10})
    v = out["strategies"]["vote"]
    assert v["matched_budget"] == 4 and v["matched_accuracy"] == 0.5
    assert out["small_wins"] == ["vote"]
    # 0.45 is reached between 10 and 40 FLOPs (log interpolation), well under 100
    assert 10.0 < v["flops_to_reach"] < 40.0
    assert v["flops_fraction_to_reach"] == pytest.approx(v["flops_to_reach"] / 100.0)


def test_band_is_lost_when_only_budgets_above_the_reference_win():
    small = [row("vote", 1, 0.2, 10.0), row("vote", 4, 0.25, 40.0), row("vote", 16, 0.9, 160.0)]
    out = compare_band(small, {"accuracy": 0.5, "flops": 30.0})
    assert out["small_wins"] == []
    assert out["strategies"]["vote"]["matched_accuracy"] == 0.2
    assert out["strategies"]["vote"]["flops_fraction_to_reach"] > 1


def test_compare_reports_per_level_and_needs_a_greedy_reference():
    small = {"overall": [row("vote", 4, 0.6, 40.0)],
             "by_difficulty": [row("vote", 4, 0.9, 30.0, 1), row("vote", 4, 0.3, 50.0, 2)]}
    large = {"overall": [row("greedy", 1, 0.5, 100.0)],
             "by_difficulty": [row("greedy", 1, 0.8, 90.0, 1), row("greedy", 1, 0.4, 110.0, 2)]}
    out = compare(small, large)
    assert out["bands_won"] == ["1"] and out["any_band_won"]
    assert out["bands"]["all"]["small_wins"] == ["vote"]
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
        "overall": [row("vote", 4, 0.6, 40.0)], "by_difficulty": [row("vote", 4, 0.6, 40.0, 1)]})
    big = report(tmp_path / "l.json", "base", {
        "overall": [row("greedy", 1, 0.5, 100.0)],
        "by_difficulty": [row("greedy", 1, 0.5, 100.0, 1)]})
    res = CliRunner().invoke(app, ["compare", s, big, "--name", "vs"])
    assert res.exit_code == 0, res.output
    written = json.loads((tmp_path / "vs.json").read_text())
    assert written["results"]["bands_won"] == ["1"]
    assert written["results"]["small_model"] == "tiny"
    bad = CliRunner().invoke(app, ["compare", s, str(tmp_path / "missing.json")])
    assert bad.exit_code != 0

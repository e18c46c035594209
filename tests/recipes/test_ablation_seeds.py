"""The seed summary of an ablation arm (``recipes/ablations/seeds.py``) and the training
curve it reads (``summarize.training_end``)."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "recipes" / "ablations"))

import seeds  # noqa: E402
from summarize import training_end  # noqa: E402


def write_eval(path: Path, correct_by_level: dict[int, list[bool]]) -> None:
    records = [{"id": f"p{lv}-{i}", "difficulty": str(lv), "correct": ok}
               for lv, oks in correct_by_level.items() for i, ok in enumerate(oks)]
    path.write_text(json.dumps({"records": records}))


def test_levels_are_summarised_over_seeds_with_the_band_counted(tmp_path):
    write_eval(tmp_path / "a_arith.json", {6: [True] * 5 + [False] * 5, 7: [False] * 10})
    write_eval(tmp_path / "b_arith.json", {6: [True] * 9 + [False], 7: [True] * 3 + [False] * 7})
    run = tmp_path / "run"
    run.mkdir()
    losses = [float(s) for s in range(20, 0, -1)]  # 20 logged steps, falling
    run.joinpath("metrics.jsonl").write_text("\n".join(
        json.dumps({"kind": "train", "step": 10 * (i + 1), "loss": x, "tokens": 100 * i})
        for i, x in enumerate(losses)))
    out = seeds.main(["--task", "arith", "--out", str(tmp_path / "s.json"),
                      "--seed", f"0={tmp_path / 'a'}:{run}", "--seed", f"1={tmp_path / 'b'}"])
    level6, level7 = out["across_seeds"]["6"], out["across_seeds"]["7"]
    assert level6["accuracies"] == [0.5, 0.9] and level6["seeds_in_band"] == 1
    assert level7["accuracies"] == [0.0, 0.3] and level7["seeds_in_band"] == 1
    assert level6["mean"] == pytest.approx(0.7) and level6["sd"] == pytest.approx(0.2828, abs=1e-4)
    assert out["seeds"]["0"]["by_level"]["6"]["n"] == 10
    # the training curve: two logged steps a tenth, averaged
    assert out["seeds"]["0"]["training"]["train_loss_tenths"] == [
        19.5, 17.5, 15.5, 13.5, 11.5, 9.5, 7.5, 5.5, 3.5, 1.5]
    assert out["seeds"]["1"]["training"] is None
    assert json.loads((tmp_path / "s.json").read_text())["across_seeds"]["6"]["mean"] == 0.7


def test_an_evaluation_without_records_is_named(tmp_path, capsys):
    (tmp_path / "a_arith.json").write_text(json.dumps({"accuracy": 0.5}))
    with pytest.raises(SystemExit, match="a_arith.json holds no evaluation records"):
        seeds.main(["--out", str(tmp_path / "s.json"), "--seed", f"0={tmp_path / 'a'}"])
    with pytest.raises(SystemExit, match="no evaluation at"):
        seeds.main(["--out", str(tmp_path / "s.json"), "--seed", f"0={tmp_path / 'x'}"])


def test_a_run_without_logged_steps_has_no_curve(tmp_path):
    (tmp_path / "metrics.jsonl").write_text(json.dumps({"kind": "eval", "heldout_loss": 1.0}))
    assert training_end(tmp_path) is None
    assert training_end(tmp_path / "missing") is None

"""``ponder quiet-star train|eval|generate|compare`` on a tiny checkpoint, through the
console entry point, with reports in a temporary directory."""

from __future__ import annotations

import json

import pytest

from ponder.cli import main
from ponder.lm.checkpoint import save_checkpoint
from ponder.lm.tokenizer import CharTokenizer
from tests.quietstar.conftest import tiny_native


def run(capsys, *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as e:
        main(list(argv))
    out, err = capsys.readouterr()
    return e.value.code or 0, out, err


def test_train_eval_generate_compare(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("ponder.eval.report.REPORTS_DIR", tmp_path / "reports")
    base = tmp_path / "base"
    save_checkpoint(base, tiny_native().backbone.model, CharTokenizer())
    code, _, err = run(capsys, "quiet-star", "train", "--model", str(base), "--task", "arith",
                       "--out", str(tmp_path / "run"), "--steps", "2", "--batch-size", "2",
                       "--thought-tokens", "1", "--n-true", "2", "--reinforce-weight", "1e6")
    assert code == 0 and "step 2/2" in err
    trained = json.loads((tmp_path / "reports" / "quiet_star_train_quiet.json").read_text())
    assert trained["results"]["loss"]["reinforce_weight"] == 1e6
    assert (tmp_path / "run" / "checkpoint" / "quiet_star.safetensors").exists()
    code, _, err = run(capsys, "quiet-star", "train", "--model", str(base), "--task", "arith",
                       "--out", str(tmp_path / "plain"), "--mode", "plain", "--steps", "100",
                       "--batch-size", "2", "--match-flops", str(tmp_path / "run"))
    assert code == 0
    plain_steps = json.loads((tmp_path / "plain" / "train.json").read_text())["steps"]
    assert 1 < plain_steps < 100  # stopped at the Quiet-STaR run's FLOPs
    reports = []
    for name, model in (("ev_base", base), ("ev_qs", tmp_path / "run")):
        code, _, err = run(capsys, "quiet-star", "eval", "--model", str(model), "--task",
                           "arith", "--n", "2", "--lengths", "0,1", "--name", name)
        assert code == 0 and "1 thought tokens" in err
        reports.append(str(tmp_path / "reports" / f"{name}.json"))
    rec = json.loads((tmp_path / "reports" / "ev_qs.json").read_text())["results"]
    assert set(rec["loglik"]["by_length"]) == {"0", "1"}
    assert set(rec["direct_accuracy"]) == {"0", "1"}
    code, out, _ = run(capsys, "quiet-star", "compare", *reports)
    assert code == 0 and "ev_qs" in out and "diff" in out
    code, out, _ = run(capsys, "quiet-star", "generate", "What is 1 + 1?", "--model",
                       str(tmp_path / "run"), "--max-tokens", "3", "--show-thoughts")
    assert code == 0 and "->" in out


def test_bad_lengths_are_a_user_error(capsys):
    code, _, err = run(capsys, "quiet-star", "eval", "--lengths", "a,b")
    assert code == 2 and "--lengths" in err

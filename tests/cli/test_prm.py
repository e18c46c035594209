"""``ponder prm train`` through the console entry point, on a tiny model."""

import json

import pytest

from ponder.cli import main
from tests.cli.runner import run


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "tiny"
    with pytest.raises(SystemExit):
        main(["train", "--task", "chain", "--preset", "tiny", "--steps", "2",
              "--batch-size", "2", "--eval-n", "0", "--out", str(out), "-q"])
    return out / "checkpoint"


def test_trains_on_the_levels_asked_for_and_says_so(tiny_ckpt, tmp_path, monkeypatch,
                                                    capsys):
    monkeypatch.setattr("ponder.eval.report.REPORTS_DIR", tmp_path / "reports")
    code, out, err = run(capsys, "prm", "train", "--model", str(tiny_ckpt), "--task", "chain",
                         "--difficulty", "2-3", "--kind", "orm", "--problems", "3",
                         "--samples", "2", "--steps", "2", "--batch-size", "2",
                         "--max-tokens", "8", "--eval-problems", "2",
                         "--out", str(tmp_path / "orm"), "--name", "orm_test")
    assert code == 0, err
    report = json.loads((tmp_path / "reports" / "orm_test.json").read_text())
    assert report["results"]["difficulty"] == [2, 3] and report["results"]["kind"] == "orm"
    assert report["results"]["train_samples"] == 6
    recipe = json.loads((tmp_path / "orm" / "recipe.json").read_text())
    assert recipe["difficulty"] == [2, 3] and recipe["kind"] == "orm"


def test_bad_levels_are_named(capsys, tmp_path):
    code, out, err = run(capsys, "prm", "train", "--difficulty", "two", "--out",
                         str(tmp_path / "x"))
    assert code != 0 and "--difficulty" in out + err

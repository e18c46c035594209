import json

import pytest

from ponder.eval.report import regenerate_readme, write_report


def test_report_records_provenance_and_readme_is_regenerated(tmp_path):
    path = write_report("demo_eval", {"accuracy": 0.75, "by_difficulty": {"1": 1.0, "2": 0.5}},
                        model="m1", seed=3, directory=tmp_path)
    rec = json.loads(path.read_text())
    assert rec["results"]["accuracy"] == 0.75 and rec["model"] == "m1" and rec["seed"] == 3
    assert rec["command"]
    (tmp_path / "demo_eval.png").write_bytes(b"png")
    readme = regenerate_readme(tmp_path).read_text()
    assert "demo_eval" in readme and "| accuracy | 0.75 |" in readme
    assert "| by_difficulty.2 | 0.5 |" in readme and "demo_eval.png" in readme


def test_readme_sections_keep_their_own_figures_and_skip_non_reports(tmp_path):
    write_report("scale_chain", {"accuracy": 0.5}, directory=tmp_path)
    write_report("scale_chain_hard", {"accuracy": 0.25}, directory=tmp_path)
    for fig in ("scale_chain.png", "scale_chain.coverage.png", "scale_chain_hard.png"):
        (tmp_path / fig).write_bytes(b"png")
    (tmp_path / "policy.json").write_text(json.dumps({"results": [1, 2]}))  # not a report
    readme = regenerate_readme(tmp_path).read_text()
    first, second = readme.split("## scale_chain_hard")
    assert "(scale_chain.png)" in first and "(scale_chain.coverage.png)" in first
    assert "scale_chain_hard.png" not in first
    assert "(scale_chain_hard.png)" in second and "(scale_chain.png)" not in second
    assert "## policy" not in readme and "policy.json" not in readme


def test_flat_result_files_are_summarised_too(tmp_path):
    (tmp_path / "default_eval_arith.json").write_text(json.dumps(
        {"accuracy": 0.5, "n": 10, "by_difficulty": {"1": 0.9}, "command": "ponder eval",
         "model": "default", "split": "test", "seed": 0, "records": [1, 2]}))
    readme = regenerate_readme(tmp_path).read_text()
    assert "`ponder eval`" in readme and "| accuracy | 0.5 |" in readme
    assert "| by_difficulty.1 | 0.9 |" in readme and "records" not in readme


def test_readme_accuracy_table_is_refilled_from_eval_files(tmp_path):
    import doctest

    import ponder.eval.report as report_mod
    from ponder.errors import InvalidInput
    from ponder.eval.report import update_readme_table

    assert doctest.testmod(report_mod).failed == 0
    for name, direct, acc in [("arith", False, 0.5), ("arith", True, 0.125), ("perm", False, 0)]:
        suffix = "_direct" if direct else ""
        (tmp_path / f"default_eval_{name}{suffix}.json").write_text(json.dumps({
            "task": name, "accuracy": acc, "n": 8, "direct": direct,
            "by_difficulty": {"10": acc, "2": acc}, "command": "ponder eval"}))
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- accuracy-table -->\nstale\n<!-- /accuracy-table -->\nend\n")
    update_readme_table(readme, tmp_path)
    text = readme.read_text()
    assert "stale" not in text and text.startswith("intro\n") and text.endswith("end\n")
    lines = [ln for ln in text.splitlines() if ln.startswith("| arith") or ln.startswith("| perm")]
    # files without intervals (written before them): rebuilt from accuracy and n; levels
    # without a recorded n keep their bare accuracy
    assert lines == [
        "| arith | chain of thought | 0.500 [0.215, 0.785] (n=8) | 2, 10 | 2: 0.50 10: 0.50 |",
        "| arith | direct | 0.125 [0.022, 0.471] (n=8) | none | 2: 0.12 10: 0.12 |",
        "| perm | chain of thought | 0.000 [0.000, 0.324] (n=8) | none | 2: 0.00 10: 0.00 |"]
    # an eval of some levels only (the trained ones) follows its task's full rows
    (tmp_path / "default_eval_arith_trained.json").write_text(json.dumps({
        "task": "arith", "accuracy": 1.0, "n": 8, "direct": False, "difficulty": [1, 2],
        "by_difficulty": {"1": 1.0, "2": 1.0}, "command": "ponder eval"}))
    rows = [ln for ln in update_readme_table(readme, tmp_path).read_text().splitlines()
            if ln.startswith("| arith")]
    assert rows[2] == ("| arith | chain of thought, levels 1-2 | 1.000 [0.676, 1.000] (n=8) "
                       "| none | 1: 1.00 2: 1.00 |")
    # the ladder past the trained levels follows them, though its file sorts first
    (tmp_path / "default_eval_arith_ladder.json").write_text(json.dumps({
        "task": "arith", "accuracy": 0.5, "n": 8, "direct": False, "difficulty": [3, 4],
        "by_difficulty": {"3": 0.75, "4": 0.25}, "command": "ponder eval"}))
    rows = [ln for ln in update_readme_table(readme, tmp_path).read_text().splitlines()
            if ln.startswith("| arith")]
    assert [r.split(" | ")[1] for r in rows] == [
        "chain of thought", "direct", "chain of thought, levels 1-2",
        "chain of thought, levels 3-4"]
    assert rows[3].split(" | ")[3] == "3, 4"  # its edge of competence
    readme.write_text("no markers")
    with pytest.raises(InvalidInput, match="accuracy-table"):
        update_readme_table(readme, tmp_path)


def test_readme_accuracy_table_shows_intervals_per_level_and_partial_credit(tmp_path):
    from ponder.eval.report import accuracy_table

    old = {"task": "chain", "accuracy": 0.375, "n": 8, "command": "ponder eval",
           "by_difficulty": {"1": 0.5, "2": 0.25}, "n_by_difficulty": {"1": 4, "2": 4}}
    (tmp_path / "default_eval_chain.json").write_text(json.dumps(old))
    new = {**old, "task": "rg:x", "ci95": [0.1, 0.7], "score": 0.6,
           "ci95_by_difficulty": {"1": [0.2, 0.8], "2": [0.05, 0.7]}}
    (tmp_path / "default_eval_rgx.json").write_text(json.dumps(new))
    rows = accuracy_table(tmp_path).splitlines()
    assert "[95% CI]" in rows[0]
    # old file: every interval rebuilt from the accuracy and its n (Wilson)
    assert rows[2] == ("| chain | chain of thought | 0.375 [0.137, 0.694] (n=8) | 1, 2 | "
                       "1: 0.50 [0.15,0.85] 2: 0.25 [0.05,0.70] |")
    # new file: the recorded intervals, and the partial-credit score kept apart
    assert rows[3] == ("| rg:x | chain of thought | 0.375 [0.100, 0.700] (n=8); score 0.600 | "
                       "1, 2 | 1: 0.50 [0.20,0.80] 2: 0.25 [0.05,0.70] |")


def test_reports_are_strict_json_without_nan(tmp_path):
    import json as _json

    from ponder.eval.report import atomic_write_json, finite

    path = atomic_write_json(tmp_path / "r.json", {"loss": float("nan"),
                                                  "curve": (1.0, float("-inf")), "n": 3})
    text = path.read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert _json.loads(text) == {"loss": None, "curve": [1.0, None], "n": 3}
    assert finite({"x": [float("inf")]}) == {"x": [None]}

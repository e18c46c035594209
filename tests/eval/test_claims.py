"""The evidence table: paired tests read from scale records and eval files, verdicts
across seeds, and the rendered table."""

from __future__ import annotations

import json

from ponder.eval.claims import Check, Claim, evaluate_claims, outcome, render_table


def _scale_records(path, arms: dict[str, list[bool]]) -> None:
    with path.open("w") as f:
        for label, outcomes in arms.items():
            strategy, budget = label.split("@")
            for i, ok in enumerate(outcomes):
                f.write(json.dumps({"strategy": strategy, "budget": int(budget),
                                    "problem": f"p{i}", "difficulty": 1 + i % 2,
                                    "correct": ok}) + "\n")


CLAIM = Claim("x", "more samples help", "paper: yes", (
    Check("vote 1 -> 16", ("run_s{seed}", "vote@1"), ("run_s{seed}", "vote@16")),
    Check("missing arm", ("run_s{seed}", "vote@1"), ("run_s{seed}", "beam@16"))), "r.sh")


def test_a_claim_is_reproduced_when_every_seed_excludes_zero(tmp_path):
    n = 200
    for seed in (0, 1):  # b right on 60 more problems than a, never worse
        _scale_records(tmp_path / f"run_s{seed}.records.jsonl",
                       {"vote@1": [i < 80 for i in range(n)],
                        "vote@16": [i < 140 for i in range(n)]})
    (row,) = evaluate_claims(tmp_path, (CLAIM,))
    vote, missing = row["tests"]
    assert vote["verdict"] == "reproduced" and [s["seed"] for s in vote["seeds"]] == [0, 1]
    assert abs(vote["seeds"][0]["diff"] - 0.3) < 1e-9 and vote["seeds"][0]["n"] == n
    assert missing["verdict"] == "not measured" and row["verdict"] == "mixed"
    table = "\n".join(render_table([row]))
    assert "+0.300" in table and "**reproduced**" in table and "`recipes/r.sh`" in table


def test_seeds_that_disagree_are_not_robust_and_one_seed_says_so(tmp_path):
    _scale_records(tmp_path / "run_s0.records.jsonl",
                   {"vote@1": [i < 80 for i in range(200)],
                    "vote@16": [i < 140 for i in range(200)]})
    (row,) = evaluate_claims(tmp_path, (CLAIM,))
    assert row["tests"][0]["verdict"] == "reproduced (one seed)"
    _scale_records(tmp_path / "run_s1.records.jsonl",
                   {"vote@1": [i % 2 == 0 for i in range(200)],
                    "vote@16": [i % 2 == 0 for i in range(200)]})
    (row,) = evaluate_claims(tmp_path, (CLAIM,))
    assert row["tests"][0]["verdict"] == "not robust"


def test_levels_and_eval_files_select_their_problems(tmp_path):
    records = [{"id": f"p{i}", "difficulty": 1 + i % 2, "correct": i % 2 == 1}
               for i in range(100)]
    (tmp_path / "base_s0.json").write_text(json.dumps({"command": "c", "records": records}))
    flipped = [{**r, "correct": True} for r in records]
    (tmp_path / "rl_s0.json").write_text(json.dumps({"command": "c", "records": flipped}))
    claim = Claim("y", "RL helps on level 1", "p", (
        Check("level 1", ("base_s{seed}", "greedy"), ("rl_s{seed}", "greedy"), levels=(1,)),
        Check("level 2", ("base_s{seed}", "greedy"), ("rl_s{seed}", "greedy"), levels=(2,))),
        "")
    (row,) = evaluate_claims(tmp_path, (claim,))
    lvl1, lvl2 = row["tests"]
    assert lvl1["seeds"][0]["n"] == 50 and lvl1["seeds"][0]["diff"] == 1.0
    assert lvl2["seeds"][0]["diff"] == 0.0 and lvl2["verdict"] == "no difference (one seed)"


def test_outcomes_read_the_expected_direction():
    assert outcome("worse", "worse") == "reproduced"
    assert outcome("better", "worse") == "opposite"
    assert outcome("worse", "no difference") == "opposite"


def test_each_measured_claim_gets_a_plot_of_its_differences(tmp_path):
    from ponder.eval.claims import figure_name, plot_differences

    _scale_records(tmp_path / "run_s0.records.jsonl",
                   {"vote@1": [i < 80 for i in range(200)],
                    "vote@16": [i < 140 for i in range(200)]})
    (row,) = evaluate_claims(tmp_path, (CLAIM,))
    path = plot_differences(row, tmp_path / figure_name(row["key"]))
    assert path is not None and path.read_bytes()[:4] == b"\x89PNG"
    (row,) = evaluate_claims(tmp_path, (CLAIM,))  # the table links the plot now
    assert row["differences"] == "evidence_x.png"
    assert "[differences](evidence_x.png)" in "\n".join(render_table([row]))
    empty = Claim("z", "c", "p", (Check("none", ("nothing_s{seed}", "a@1"),
                                        ("nothing_s{seed}", "b@1")),), "r.sh")
    (row,) = evaluate_claims(tmp_path, (empty,))
    assert plot_differences(row, tmp_path / "z.png") is None and not (tmp_path / "z.png").exists()

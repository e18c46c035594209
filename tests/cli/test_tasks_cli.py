from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from ponder.cli import app
from ponder.tasks import Problem, get_task, split_of

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, ["tasks", *args], env={"COLUMNS": "300"})


def test_list_names_every_family_with_its_range_and_styles():
    result = invoke("list")
    assert result.exit_code == 0, result.output
    for row in ("arith", "1..9", "chain", "1..20", "countdown", "1..6", "search, optimal",
                "perm", "1..13", "cot, direct", "arith:add", "Products alone"):
        assert row in result.output


@pytest.mark.parametrize(("name", "difficulty", "style"), [
    ("arith", "3", None), ("chain", "4", None), ("countdown", "2", "optimal"),
    ("perm", "5", "direct"), ("arith:mul", "6", "consumed"),
])
def test_show_prints_prompt_trace_and_answer(name, difficulty, style):
    args = ["show", name, "--difficulty", difficulty, "-n", "2", "--seed", "3"]
    result = invoke(*args, *(["--style", style] if style else []))
    assert result.exit_code == 0, result.output
    task = get_task(name)
    problems = task.problems("train", 2, seed=3, difficulty=int(difficulty))
    for p in problems:
        assert p.id in result.output
        assert f"Answer: {p.answer}" in result.output
        assert p.prompt.split(".")[0] in result.output
        steps = task.trace_steps(p, style or task.styles[0])
        shown = task.trace_steps(p, task.styles[0])  # "direct" must show none of these
        assert all(s in result.output for s in steps)
        assert style != "direct" or not any(s in result.output for s in shown
                                            if s not in p.prompt)


def test_show_can_draw_from_the_test_split():
    result = invoke("show", "perm", "-d", "3", "-n", "1", "--split", "test")
    assert result.exit_code == 0, result.output
    (p,) = get_task("perm").problems("test", 1, difficulty=3)
    assert p.id in result.output and "test" in result.output


def test_unknown_task_is_a_clear_usage_error():
    result = invoke("show", "algebra")
    assert result.exit_code == 2
    assert "unknown task 'algebra'" in result.output
    assert "arith" in result.output  # lists what is available


@pytest.mark.parametrize("args", [
    ["show", "arith", "--difficulty", "10"],
    ["show", "perm", "--style", "search"],
    ["show", "arith", "--split", "validation"],
    ["export", "arith", "--out", "x.jsonl", "-n", "-1"],
])
def test_bad_options_are_usage_errors(args):
    result = invoke(*args)
    assert result.exit_code == 2
    assert "Invalid value" in result.output


def test_export_writes_jsonl_atomically_and_reports_the_count(tmp_path):
    out = tmp_path / "chain_test.jsonl"
    result = invoke("export", "chain", "--split", "test", "-n", "25", "--out", str(out),
                    "--difficulty", "7", "--seed", "5")
    assert result.exit_code == 0, result.output
    assert "wrote 25 chain problems (test split)" in result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 25
    task = get_task("chain")
    expected = task.problems("test", 25, seed=5, difficulty=7)
    for row, p in zip(rows, expected, strict=True):
        assert Problem.from_dict(row) == p
        assert row["trace"] == task.teacher_trace(p)
        assert split_of("chain", task.key(Problem.from_dict(row))) == "test"
        assert task.verify(p, row["trace"]) == 1.0
    assert [f.name for f in tmp_path.iterdir()] == [out.name]  # no temporary left behind


def test_export_style_and_overwrite(tmp_path):
    out = tmp_path / "cd.jsonl"
    out.write_text("old content\n")
    result = invoke("export", "countdown", "-n", "5", "--out", str(out), "--style", "optimal")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    task = get_task("countdown")
    assert len(rows) == 5
    assert all(r["trace"] == task.teacher_trace(Problem.from_dict(r), "optimal") for r in rows)


def test_export_reports_when_fewer_problems_exist(tmp_path):
    out = tmp_path / "tiny.jsonl"
    result = invoke("export", "arith", "-d", "1", "-n", "120", "--out", str(out))
    assert result.exit_code == 0, result.output
    count = len(out.read_text().splitlines())
    assert count < 110 and f"wrote {count} arith problems" in result.output
    assert "fewer distinct problems" in result.output


def test_export_into_a_missing_directory_fails_cleanly(tmp_path):
    out = tmp_path / "nope" / "x.jsonl"
    result = invoke("export", "perm", "-n", "3", "--out", str(out))
    assert result.exit_code == 2
    assert "does not exist" in result.output
    assert not out.parent.exists()


def test_show_works_for_data_sets_without_teacher_traces():
    from typer.testing import CliRunner

    from ponder.cli import app

    result = CliRunner().invoke(app, ["tasks", "show", "rg:basic_arithmetic", "-n", "1"])
    assert result.exit_code == 0, result.output
    assert "(no teacher trace)" in result.output and "answer:" in result.output

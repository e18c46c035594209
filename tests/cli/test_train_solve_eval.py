"""The train / solve / eval / demo commands, driven through the console entry point.

A tiny model trained for a few steps checks the plumbing with the real backend; a
function-backed "teacher" model that writes the teacher's trace checks what the
commands print and record when the answers are right.
"""

import doctest
import json
import random

import pytest

import ponder.cli._common as common_mod
import ponder.cli.demo as demo_mod
import ponder.cli.eval as eval_mod
import ponder.cli.solve as solve_mod
from ponder.cli import main
from ponder.cli.demo import spread_levels
from ponder.lm.function import FunctionLM
from ponder.lm.template import THINK_CLOSE, THINK_OPEN
from ponder.tasks import get_task
from ponder.train.data import task_example
from ponder.train.state import read_metrics, read_state
from tests.cli.runner import run
from tests.toy import chat_layout, own_layout


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A tiny model trained for 4 steps through the CLI."""
    out = tmp_path_factory.mktemp("runs") / "tiny"
    with pytest.raises(SystemExit) as e:
        main(["train", "--task", "arith,perm", "--preset", "tiny", "--steps", "4",
              "--batch-size", "4", "--eval-n", "0", "--save-every", "2", "--out", str(out),
              "-q"])
    assert e.value.code in (0, None)
    return out


def teacher_lm(problems) -> FunctionLM:
    """Writes the teacher's completion for every problem in ``problems`` (by prompt)."""
    index = {p.prompt: (get_task(p.task), p) for p in problems}

    def fn(prompt: str, rng: random.Random, temperature: float) -> str:
        question, _, rest = prompt.partition(f"\n{THINK_OPEN}\n")
        task, problem = index[question]
        style = "direct" if rest.startswith(THINK_CLOSE) else None
        return task_example(task, problem, style).completion

    return FunctionLM(fn, name="teacher")


def use_model(monkeypatch, lm) -> None:
    """Every command opens ``lm`` whatever --model says."""
    for module in (demo_mod, eval_mod, solve_mod):
        monkeypatch.setattr(module, "load_lm", lambda spec: lm)


def test_doctests():
    assert doctest.testmod(common_mod).failed == 0


# -- train -------------------------------------------------------------------------------
def test_train_writes_checkpoint_state_and_metrics_and_resumes(tiny_run, capsys):
    assert (tiny_run / "checkpoint" / "config.json").exists()
    state = read_state(tiny_run)
    assert state["run"]["step"] == 4
    assert tuple(state["run"]["meta"]["sft"]["tasks"]) == ("arith", "perm")
    assert state["run"]["meta"]["command"].startswith("ponder train --task arith,perm")
    assert [r["step"] for r in read_metrics(tiny_run) if r["kind"] == "eval"] == [4]

    code, _, err = run(capsys, "train", "--out", str(tiny_run), "--resume", "--preset",
                       "small", "--steps", "6")
    assert code == 2 and err.count("\n") == 1 and "cannot change --preset" in err
    code, _, err = run(capsys, "train", "--out", str(tiny_run), "--resume", "--no-pack",
                       "--steps", "6")
    assert code == 2 and "cannot change --pack/--no-pack" in err
    code, out, _ = run(capsys, "train", "--out", str(tiny_run), "--resume", "--steps", "6",
                       "-q")
    assert code == 0 and "step 6" in out
    assert read_state(tiny_run)["run"]["step"] == 6


def test_train_packs_by_default_and_no_pack_and_curriculum_are_recorded(tiny_run, tmp_path, capsys):
    recipe = json.loads((tiny_run / "checkpoint" / "recipe.json").read_text())
    assert recipe["train"]["pack"] is True and recipe["matmul_peak_flops"] > 0
    record = next(r for r in read_metrics(tiny_run) if r["kind"] == "train")
    assert record["pad_share"] < 0.2 and record["mfu"] > 0 and record["flops_per_s"] > 0
    out = tmp_path / "padded"
    code, _, _ = run(capsys, "train", "--task", "arith,chain", "--preset", "tiny", "--steps",
                     "1", "--batch-size", "2", "--eval-n", "0", "--no-pack", "--curriculum",
                     "competence", "--weights", "chain=0.5", "--prompt-pad", "chain=7",
                     "--pad-at", "words", "--out", str(out), "-q")
    assert code == 0
    assert read_state(out)["run"]["meta"]["sft"]["prompt_pad"] == {"chain": 7}
    assert read_state(out)["run"]["meta"]["sft"]["pad_at"] == "words"
    assert read_state(out)["run"]["meta"]["train"]["pack"] is False
    assert read_state(out)["run"]["meta"]["sft"]["curriculum"] == "competence"
    assert read_state(out)["run"]["meta"]["sft"]["weights"] == {"chain": 0.5}
    # the formats trained on are recorded, so a later change of defaults cannot hide them
    assert read_state(out)["run"]["meta"]["sft"]["styles"] == {"arith": "cot", "chain": "cot"}
    assert "frontier" in next(r for r in read_metrics(out) if r["kind"] == "train")
    assert read_state(out)["run"]["pack_len"] == 0


def test_train_init_continues_a_checkpoints_weights(tiny_run, tmp_path, capsys):
    import torch

    from ponder.lm.checkpoint import load_checkpoint
    from ponder.lm.registry import weights_digest

    out = tmp_path / "more"
    code, text, _ = run(capsys, "train", "--init", str(tiny_run), "--task", "arith",
                        "--steps", "1", "--lr", "1e-12", "--batch-size", "2", "--eval-n", "0",
                        "--position-span", "1.5", "--out", str(out), "-q")
    assert code == 0 and f"the model of {tiny_run / 'checkpoint'}" in text
    start, _, _ = load_checkpoint(tiny_run / "checkpoint")
    after, _, recipe = load_checkpoint(out / "checkpoint")
    # one step at a vanishing learning rate leaves the initial weights: they were loaded
    for (name, a), b in zip(start.state_dict().items(), after.state_dict().values(),
                            strict=True):
        assert torch.allclose(a, b, atol=1e-6), name
    assert recipe["sft"]["init"] == str(tiny_run / "checkpoint")
    assert recipe["init_sha256"] == weights_digest(str(tiny_run / "checkpoint"))
    assert recipe["train"]["position_span"] == 1.5
    code, _, err = run(capsys, "train", "--init", str(tiny_run), "--preset", "tiny",
                       "--steps", "1", "--out", str(tmp_path / "x"))
    assert code == 2 and "drop --preset" in err
    code, _, err = run(capsys, "train", "--init", str(tiny_run), "--positions", "none",
                       "--steps", "1", "--out", str(tmp_path / "x"))
    assert code == 2 and "drop --positions" in err
    code, _, err = run(capsys, "train", "--init", str(tmp_path), "--steps", "1",
                       "--out", str(tmp_path / "y"))
    assert code == 2 and "holds no ponder checkpoint" in err


def test_train_positions_none_trains_a_model_without_positions(tmp_path, capsys):
    from ponder.lm.checkpoint import load_checkpoint

    out = tmp_path / "nope"
    code, _, _ = run(capsys, "train", "--task", "arith", "--preset", "micro", "--steps", "1",
                     "--batch-size", "2", "--eval-n", "0", "--positions", "none",
                     "--out", str(out), "-q")
    assert code == 0
    model, _, recipe = load_checkpoint(out / "checkpoint")
    assert model.cfg.position_scale == 0.0 and recipe["sft"]["positions"] == "none"
    code, _, err = run(capsys, "train", "--task", "arith", "--steps", "1",
                       "--positions", "sideways", "--out", str(tmp_path / "bad"))
    assert code == 2 and "positions must be one of ['rope', 'none']" in err
    code, _, _ = run(capsys, "train", "--task", "arith", "--preset", "micro", "--steps", "1",
                     "--batch-size", "2", "--eval-n", "0", "--positions", "none",
                     "--digit-index", "12", "--out", str(tmp_path / "abacus"), "-q")
    assert code == 0
    model, _, recipe = load_checkpoint(tmp_path / "abacus" / "checkpoint")
    assert model.cfg.digit_index == 12 and recipe["sft"]["digit_index"] == 12
    assert model.model.embed_digits.weight.shape == (12, model.cfg.d_model)
    code, _, err = run(capsys, "train", "--task", "arith", "--steps", "1",
                       "--digit-index", "1", "--out", str(tmp_path / "bad"))
    assert code == 2 and "digit_index must be 0 (none) or >= 2" in err


def test_train_kv_heads_trains_a_grouped_query_model(tmp_path, capsys):
    import torch

    from ponder.lm.checkpoint import load_checkpoint

    out = tmp_path / "gqa"
    code, _, _ = run(capsys, "train", "--task", "arith", "--preset", "micro", "--steps", "1",
                     "--batch-size", "2", "--eval-n", "0", "--kv-heads", "1",
                     "--out", str(out), "-q")
    assert code == 0
    model, _, recipe = load_checkpoint(out / "checkpoint")
    assert model.cfg.kv_heads == 1 and model.cfg.n_head == 2 and recipe["sft"]["kv_heads"] == 1
    assert model.model.layers[0].self_attn.k_proj.weight.shape == (model.cfg.head_dim, 64)
    code, _, err = run(capsys, "train", "--task", "arith", "--preset", "small", "--steps",
                       "1", "--kv-heads", "3", "--out", str(tmp_path / "bad"))
    assert code == 2 and "kv_heads must divide the small preset's 4 heads" in err
    # with --init: the checkpoint's two heads pooled into one, then trained on
    mha = tmp_path / "mha"
    assert run(capsys, "train", "--task", "arith", "--preset", "micro", "--steps", "1",
               "--batch-size", "2", "--eval-n", "0", "--out", str(mha), "-q")[0] == 0
    code, _, _ = run(capsys, "train", "--init", str(mha), "--kv-heads", "1", "--steps", "1",
                     "--batch-size", "2", "--eval-n", "0", "--lr", "1e-9",
                     "--out", str(tmp_path / "up"), "-q")
    assert code == 0
    up = load_checkpoint(tmp_path / "up" / "checkpoint")[0]
    start = load_checkpoint(mha / "checkpoint")[0]
    assert up.cfg.kv_heads == 1 and start.cfg.kv_heads == 2
    pooled = start.model.layers[0].self_attn.v_proj.weight.view(2, -1, 64).mean(0)
    torch.testing.assert_close(up.model.layers[0].self_attn.v_proj.weight, pooled,
                               atol=1e-6, rtol=0)
    code, _, err = run(capsys, "train", "--init", str(tmp_path / "up"), "--kv-heads", "2",
                       "--steps", "1", "--out", str(tmp_path / "bad2"))
    assert code == 2 and "must divide the model's 1 key/value heads" in err


def test_train_needs_a_budget_and_a_known_task(tmp_path, capsys):
    code, _, err = run(capsys, "train", "--out", str(tmp_path / "x"))
    assert code == 2 and "--steps" in err
    code, _, err = run(capsys, "train", "--task", "nope", "--steps", "1",
                       "--out", str(tmp_path / "y"))
    assert code == 2 and "unknown task 'nope'" in err
    code, _, err = run(capsys, "train", "--task", "chain", "--steps", "1", "--weights",
                       "chain=lots", "--out", str(tmp_path / "z"))
    assert code == 2 and "--weights wants TASK=WEIGHT" in err and "chain='lots'" in err
    for bad, says in (("chain=x", "--prompt-pad wants"), ("-3", "--prompt-pad wants"),
                      ("perm=4", "not in the mixture")):
        code, _, err = run(capsys, "train", "--task", "chain", "--steps", "1",
                           "--prompt-pad", bad, "--out", str(tmp_path / "p"))
        assert code == 2 and says in err, err
    code, _, err = run(capsys, "train", "--task", "chain", "--steps", "1",
                       "--max-difficulty", "chain=top", "--out", str(tmp_path / "p"))
    assert code == 2 and "--max-difficulty wants TASK=LEVEL" in err and "chain=top" in err
    code, _, err = run(capsys, "train", "--task", "chain", "--steps", "1", "--pad-at",
                       "lines", "--out", str(tmp_path / "p"))
    assert code == 2 and "pad_at must be one of" in err
    for bad in ("nan", "inf", "-1"):  # parsed, then refused by the mixture's own check
        code, _, err = run(capsys, "train", "--task", "chain", "--steps", "1", "--weights",
                           f"chain={bad}", "--out", str(tmp_path / "z"))
        assert code == 2 and "task weights must be finite and >= 0" in err


# -- solve -------------------------------------------------------------------------------
def test_solve_a_drawn_problem_shows_thinking_answer_and_verdict(monkeypatch, capsys):
    task = get_task("arith")
    [p] = task.problems("test", 1, seed=3, difficulty=2)
    use_model(monkeypatch, teacher_lm([p]))
    code, out, _ = run(capsys, "solve", "--task", "arith", "--difficulty", "2", "--seed", "3")
    assert code == 0
    assert f"question: {p.prompt}" in out
    for step in task.trace_steps(p):
        assert f"  {step}" in out
    assert f"answer: {p.answer}" in out and "verified: yes" in out

    code, out, _ = run(capsys, "solve", "--task", "arith", "-d", "2", "--seed", "3",
                       "--hide-thoughts", "--direct")
    assert code == 0 and "thinking" not in out and f"answer: {p.answer}" in out


def test_solve_free_text_with_a_real_checkpoint_and_clear_errors(tiny_run, capsys):
    code, out, _ = run(capsys, "solve", "--model", str(tiny_run), "--max-tokens", "8",
                       "What is 2 + 2?")
    assert code == 0 and "question: What is 2 + 2?" in out and "answer:" in out
    code, _, err = run(capsys, "solve", "--model", str(tiny_run), "What is 2 × 2?")
    assert code == 2 and err.startswith("error:") and "'×'" in err and err.count("\n") == 1
    code, _, err = run(capsys, "solve", "--model", str(tiny_run), "1 + " * 400)
    assert code == 2 and "shorten the question" in err and err.count("\n") == 1
    code, _, err = run(capsys, "solve", "--model", str(tiny_run))
    assert code == 2 and "either a QUESTION or --task" in err


# -- eval --------------------------------------------------------------------------------
def test_eval_reports_accuracy_per_difficulty_as_table_and_json(monkeypatch, tmp_path,
                                                                 capsys):
    tasks = [get_task("arith"), get_task("chain")]
    use_model(monkeypatch, teacher_lm([p for t in tasks
                                       for p in t.problems("test", 6, seed=0, difficulty=[1, 2])]))
    out_json = tmp_path / "eval.json"
    code, out, _ = run(capsys, "eval", "--task", "arith", "--n", "6", "--difficulty", "1-2",
                       "--json", str(out_json))
    assert code == 0 and "held-out accuracy" in out
    result = json.loads(out_json.read_text())
    assert result["accuracy"] == 1.0 and result["n"] == 6
    assert result["by_difficulty"] == {"1": 1.0, "2": 1.0}
    assert result["ci95"] == [0.6097, 1.0] and result["ci95_by_difficulty"]["1"][1] == 1.0
    assert result["answer_rule"] == "answer-line" and result["score"] is None
    assert "1.000 [0.610, 1.000]" in out  # the table shows each accuracy's interval
    assert result["split"] == "test" and result["seed"] == 0 and result["model"] == "default"
    assert result["command"] == f"ponder eval --task arith --n 6 --difficulty 1-2 --json {out_json}"

    code, _, _ = run(capsys, "eval", "--task", "arith,chain", "--n", "6", "-d", "1,2",
                     "--direct", "--json", str(out_json))
    result = json.loads(out_json.read_text())
    assert code == 0 and result["direct"] and set(result["tasks"]) == {"arith", "chain"}
    assert result["tasks"]["chain"]["accuracy"] == 1.0 and result["n"] == 12


def test_eval_asks_a_model_with_its_own_layout_in_it(monkeypatch, tmp_path, capsys):
    problems = get_task("arith").problems("test", 4, seed=0, difficulty=[1])
    teacher, sent = teacher_lm(problems), []

    def fn(prompt: str, rng: random.Random, temperature: float) -> str:
        sent.append(prompt)
        question, _, rest = prompt.partition("\n<|end|>\n<|assistant|>\n")
        return teacher.fn(f"{question}\n{rest}", rng, temperature)

    use_model(monkeypatch, own_layout(FunctionLM(fn, name="chat")))
    out_json = tmp_path / "eval.json"
    for direct in (False, True):
        sent.clear()
        code, _, _ = run(capsys, "eval", "--task", "arith", "--n", "4", "-d", "1",
                         "--json", str(out_json), *["--direct"] * direct)
        result = json.loads(out_json.read_text())
        assert code == 0 and result["accuracy"] == 1.0 and result["answered"] == 1.0
        assert sorted(sent) == sorted(chat_layout(p.prompt, not direct) for p in problems)


def test_eval_rejects_direct_where_a_task_has_no_direct_format(capsys):
    code, _, err = run(capsys, "eval", "--task", "countdown", "--n", "2", "--direct")
    assert code == 2 and "no direct" in err and err.count("\n") == 1
    code, _, err = run(capsys, "eval", "--task", "arith", "--difficulty", "x")
    assert code == 2 and "--difficulty" in err


def test_eval_runs_the_real_backend_on_a_run_directory(tiny_run, tmp_path, capsys):
    out_json = tmp_path / "e.json"
    code, _, _ = run(capsys, "eval", "--model", str(tiny_run), "--task", "arith", "--n", "2",
                     "-d", "1", "--max-tokens", "4", "--json", str(out_json))
    result = json.loads(out_json.read_text())
    assert code == 0 and result["n"] == 2 and result["mean_tokens"] <= 4
    code, _, _ = run(capsys, "eval", "--model", str(tiny_run), "--task", "arith", "--n", "2",
                     "-d", "1", "--max-tokens", "4", "--kv-dtype", "bfloat16")
    assert code == 0
    code, _, err = run(capsys, "eval", "--model", str(tiny_run), "--task", "arith", "--n", "2",
                       "--kv-dtype", "int8")
    assert code != 0 and "kv_dtype must be one of float32, bfloat16" in err


# -- demo --------------------------------------------------------------------------------
def test_demo_without_a_bundled_model_says_how_to_train_it(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(demo_mod, "default_model_path", lambda: tmp_path / "nothing")
    code, _, err = run(capsys, "demo")
    assert code == 2 and "recipes/default_reasoner.sh" in err


def test_demo_solves_one_problem_per_family_and_prints_the_table(monkeypatch, tmp_path,
                                                                 capsys):
    tasks = [get_task(n) for n in ("arith", "chain", "countdown", "perm")]
    problems = [p for t in tasks for p in t.problems("test", 1, seed=0,
                                                     difficulty=spread_levels(t)[1])]
    problems += [p for t in tasks for p in t.problems("test", 4, seed=0,
                                                      difficulty=spread_levels(t))]
    use_model(monkeypatch, teacher_lm(problems))
    code, out, _ = run(capsys, "demo", "--model", "x", "--n", "4", "--json",
                       str(tmp_path / "demo.json"))
    assert code == 0
    assert out.count("verified: yes") == 4
    assert "held-out accuracy" in out and "mean over tasks: 1.000" in out
    assert json.loads((tmp_path / "demo.json").read_text())["accuracy"] == 1.0


def test_demo_shows_the_trained_levels_and_the_two_beyond(tmp_path):
    from ponder.cli.demo import demo_levels, trained_levels

    (tmp_path / "checkpoint").mkdir()
    (tmp_path / "checkpoint" / "recipe.json").write_text(json.dumps(
        {"sft": {"max_difficulty": {"arith": 4, "perm": 13}}}))
    caps = trained_levels(str(tmp_path))
    assert caps == {"arith": 4, "perm": 13}
    assert demo_levels(get_task("arith"), caps["arith"]) == [1, 2, 4, 5, 6]
    # trained on every level, or unknown: spread over the whole range
    assert demo_levels(get_task("perm"), caps["perm"]) == spread_levels(get_task("perm"))
    assert demo_levels(get_task("chain"), None) == spread_levels(get_task("chain"))
    assert trained_levels(str(tmp_path / "missing")) == {}

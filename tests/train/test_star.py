import doctest
import json
import random

import pytest
import torch

import ponder.train.star as star_mod
from ponder.errors import ConfigError
from ponder.lm.function import FunctionLM
from ponder.lm.template import THINK_CLOSE, format_prompt
from ponder.train.policy import NativePolicy
from ponder.train.rewards import task_verifier
from ponder.train.seed import seed_examples
from ponder.train.star import (
    HINT_PREFIX,
    StarConfig,
    collect_rationales,
    hint_prompt,
    hint_question,
    strip_hint,
)
from tests.toy import SumTask, chat_layout, nums_of, own_layout

TASK = SumTask()


def test_doctests():
    assert doctest.testmod(star_mod).failed == 0


def test_hint_round_trip():
    p = TASK.problems("train", 1, seed=0, difficulty=2)[0]
    hinted = hint_question(p.prompt, p.answer)
    assert HINT_PREFIX + p.answer in hinted
    assert strip_hint(hinted) == p.prompt
    assert strip_hint(p.prompt) == p.prompt
    assert hint_prompt(p) == format_prompt(hinted)


def hint_following_policy(solvable: set[int]):
    """Right without a hint only on problems whose first number is in ``solvable``;
    with a hint, writes a chain that reaches the hinted answer; on the odd sample it
    also answers wrong, to check that only verified rationales are kept."""

    def fn(prompt: str, rng: random.Random, temperature: float) -> str:
        nums = nums_of(prompt)
        sums, s = [], 0
        for x in nums:
            s += x
            sums.append(f"s={s}")
        body = "".join(f"{line}\n" for line in sums) + THINK_CLOSE + "\n"
        if HINT_PREFIX in prompt:
            return body + f"Answer: {prompt.split(HINT_PREFIX)[1].split()[0]}"
        if nums[0] in solvable:
            return body + f"Answer: {s}"
        return body + f"Answer: {s + 1}"

    return FunctionLM(fn)


def test_collect_keeps_only_verified_and_strips_hint():
    problems = TASK.problems("train", 30, seed=1, difficulty=2)
    solvable = {1, 2, 3, 4}
    lm = hint_following_policy(solvable)
    got = collect_rationales(lm, problems, task_verifier([TASK]), [64] * len(problems),
                             samples=2, rationalize=True)
    direct = [p for p in problems if p.meta["nums"][0] in solvable]
    assert 0 < len(direct) < len(problems)
    assert got.solved == len(direct)
    assert got.rationalized == len(problems) - len(direct)
    assert len(got.kept) == len(problems)  # keep_per_problem=1, identical samples deduped
    for k in got.kept:
        ex = k.example()
        assert HINT_PREFIX not in ex.prompt and ex.prompt == format_prompt(k.problem.prompt)
        assert TASK.verify(k.problem, ex.completion) == 1.0
        assert k.rationalized == (k.problem.meta["nums"][0] not in solvable)


def test_no_rationalization_keeps_only_direct_successes():
    problems = TASK.problems("train", 30, seed=1, difficulty=2)
    got = collect_rationales(hint_following_policy({1, 2, 3}), problems,
                             task_verifier([TASK]), [64] * 30, rationalize=False)
    assert got.rationalized == 0
    assert all(not k.rationalized for k in got.kept)
    assert {k.problem.id for k in got.kept} == \
        {p.id for p in problems if p.meta["nums"][0] in {1, 2, 3}}


def test_unfinished_and_unclosed_completions_are_not_kept():
    problems = TASK.problems("train", 4, seed=2, difficulty=1)

    def fn(prompt, rng, temperature):  # right answer, but never closes the thinking
        return f"Answer: {sum(nums_of(prompt))}"

    got = collect_rationales(FunctionLM(fn), problems, task_verifier([TASK]), [64] * 4)
    assert got.kept == []

    def long(prompt, rng, temperature):  # right answer, then runs out of tokens
        return f"{THINK_CLOSE}\nAnswer: {sum(nums_of(prompt))}\n" + "x" * 100

    got = collect_rationales(FunctionLM(long), problems, task_verifier([TASK]), [40] * 4)
    assert got.kept == []


def test_seed_examples_include_hinted_copies():
    exs = seed_examples([TASK], per_family=40, seed=0, hint_fraction=0.5)
    hinted = [e for e in exs if HINT_PREFIX in e.prompt]
    plain = [e for e in exs if HINT_PREFIX not in e.prompt]
    assert len(plain) == 40 and 5 < len(hinted) < 35
    # a hinted example is the same trace as the plain one of its problem
    by_prompt = {e.prompt: e.completion for e in plain}
    for e in hinted:
        question = e.prompt.split("\n<think>")[0]
        assert by_prompt[format_prompt(strip_hint(question))] == e.completion
    assert seed_examples([TASK], 40, seed=0) == seed_examples([TASK], 40, seed=0)


def test_star_config_validation():
    with pytest.raises(ConfigError):
        StarConfig(rounds=0)
    with pytest.raises(ConfigError):
        StarConfig(step_growth=0.5)
    assert json.dumps(StarConfig().__dict__)


class ScriptedPolicy(NativePolicy):
    """A built-in model that trains for real but samples from a scripted LM."""

    def __init__(self, model, tok, sampler):
        super().__init__(model, tok)
        self.sampler = sampler

    def lm(self):
        return self.sampler

    def copy(self, frozen=False):
        c = super().copy(frozen)
        return ScriptedPolicy(c.model, c.tok, self.sampler)

    def reopen(self, path):
        r = super().reopen(path)
        return ScriptedPolicy(r.model, r.tok, self.sampler)


def test_run_star_finetunes_the_original_base_each_round(tmp_path, monkeypatch):
    import torch

    import ponder.train.star as star
    from ponder.lm.checkpoint import load_checkpoint
    from ponder.lm.tokenizer import CharTokenizer
    from ponder.train.loop import TrainConfig
    from ponder.train.sft import build_model

    tok = CharTokenizer()
    model = build_model("tiny", tok, seed=0, max_seq_len=96)
    base_state = {k: v.clone() for k, v in model.state_dict().items()}
    started_from_base = []
    real_finetune = star.finetune_policy

    def spy(policy, *a, **kw):
        started_from_base.append(all(torch.equal(v, base_state[k])
                                     for k, v in policy.model.state_dict().items()))
        return real_finetune(policy, *a, **kw)

    monkeypatch.setattr(star, "finetune_policy", spy)
    base = ScriptedPolicy(model, tok, hint_following_policy({1, 2, 3}))
    cfg = StarConfig(rounds=2, problems=12, difficulty=[1], samples=2, eval_n=4)
    results = star.run_star(base, [TASK], cfg, TrainConfig(steps=3, batch_size=4,
                                                           save_every=0),
                            tmp_path, progress=False)
    assert [r.round for r in results] == [0, 1, 2]
    assert [r.steps for r in results] == [0, 3, 4]  # 3 steps, then x1.2 rounded
    assert started_from_base == [True, True]
    kept = [json.loads(x) for x in (tmp_path / "round1" / "kept.jsonl").read_text()
            .splitlines()]
    assert len(kept) == 12 and any(k["rationalized"] for k in kept)
    assert all(HINT_PREFIX not in k["prompt"] for k in kept)
    assert load_checkpoint(tmp_path / "round2" / "checkpoint")[0] is not None
    # a finished run is not redone: rounds are read back from star.jsonl
    again = star.run_star(base, [TASK], cfg, TrainConfig(steps=3, batch_size=4),
                          tmp_path, progress=False)
    assert [r.collected for r in again] == [r.collected for r in results]
    assert len(started_from_base) == 2


def test_seed_and_star_commands_write_checkpoints_and_reports(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from ponder.cli import app

    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    r = runner.invoke(app, ["seed", "--task", "arith", "--difficulty", "1", "--per-family",
                            "20", "--preset", "tiny", "--steps", "3", "--batch-size", "4",
                            "--eval-n", "2", "--out", "seed", "--name", "s"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "seed" / "checkpoint" / "config.json").exists()
    rep = json.loads((tmp_path / "reports" / "s.json").read_text())
    assert rep["results"]["steps"] == 3
    # continued SFT from that checkpoint: starts from its weights, not a fresh model
    from ponder.lm.checkpoint import load_checkpoint

    r = runner.invoke(app, ["seed", "--init", "seed", "--task", "arith", "--difficulty", "1",
                            "--per-family", "8", "--steps", "1", "--batch-size", "2",
                            "--lr", "1e-9", "--eval-n", "0", "--seed", "1", "--out", "more",
                            "--name", "s2"])
    assert r.exit_code == 0, r.output
    a, _, _ = load_checkpoint(tmp_path / "seed" / "checkpoint")
    b, _, _ = load_checkpoint(tmp_path / "more" / "checkpoint")
    assert all(torch.allclose(x, y, atol=1e-5) for x, y in
               zip(a.state_dict().values(), b.state_dict().values(), strict=True))
    init = json.loads((tmp_path / "reports" / "s2.json").read_text())["results"]["config"]
    assert init["init"].endswith("seed/checkpoint")
    r = runner.invoke(app, ["star", "--model", "seed", "--task", "arith", "--difficulty", "1",
                            "--rounds", "1", "--problems", "4", "--samples", "1",
                            "--steps", "2", "--eval-n", "2", "--no-rationalize",
                            "--out", "star", "--name", "st"])
    assert r.exit_code == 0, r.output
    rep = json.loads((tmp_path / "reports" / "st.json").read_text())
    assert len(rep["results"]["accuracy_by_round"]) == 2
    assert rep["results"]["config"]["rationalize"] is False


def test_check_steps_drops_right_answers_reached_by_wrong_steps():
    from ponder.train.star import step_check

    problems = TASK.problems("train", 20, seed=3, difficulty=2)

    def fn(prompt, rng, temperature):  # right answer; steps wrong when the first number is odd
        nums = nums_of(prompt)
        bad = nums[0] % 2
        lines, s = [], 0
        for x in nums:
            s += x
            lines.append(f"s={s + bad}")
        return "".join(f"{x}\n" for x in lines) + f"{THINK_CLOSE}\nAnswer: {s}"

    lm, verify = FunctionLM(fn), task_verifier([TASK])
    loose = collect_rationales(lm, problems, verify, [64] * 20, rationalize=False)
    strict = collect_rationales(lm, problems, verify, [64] * 20, rationalize=False,
                                check=step_check([TASK]))
    assert len(loose.kept) == 20
    assert {k.problem.id for k in strict.kept} == \
        {p.id for p in problems if p.meta["nums"][0] % 2 == 0}


def test_a_model_with_its_own_layout_is_asked_in_it_and_examples_stay_raw():
    problems = TASK.problems("train", 12, seed=1, difficulty=2)
    lm = own_layout(hint_following_policy({1, 2, 3, 4}))
    inner, seen = lm.fn, []
    lm.fn = lambda prompt, rng, temperature: seen.append(prompt) or inner(prompt, rng,
                                                                           temperature)
    got = collect_rationales(lm, problems, task_verifier([TASK]), [64] * len(problems))
    plain = {chat_layout(p.prompt) for p in problems}
    hinted = {chat_layout(hint_question(p.prompt, p.answer)) for p in problems}
    assert got.rationalized and plain <= set(seen) <= plain | hinted
    assert hint_prompt(problems[0], lm) == chat_layout(hint_question(problems[0].prompt,
                                                                     problems[0].answer))
    # the kept examples train ponder's own model, in its raw layout
    assert all(k.example().prompt == format_prompt(k.problem.prompt) for k in got.kept)


def test_run_star_finetunes_a_transformers_model(tmp_path):
    """A tiny random Llama as the base: the verified rationales (scripted sampling)
    fine-tune a copy of it through the same loop; the round's model is an HF directory."""
    import torch

    import ponder.train.star as star
    from ponder.train.hf_policy import HFPolicy
    from ponder.train.loop import TrainConfig
    from tests.train.test_policy import hf_dir

    class ScriptedHF(HFPolicy):
        sampler = hint_following_policy({1, 2, 3})

        def lm(self):
            return self.sampler

        def copy(self, frozen=False):
            c = super().copy(frozen)
            c.__class__ = ScriptedHF
            return c

    base = ScriptedHF.load(hf_dir(tmp_path, "llama"), device="cpu")
    before = {k: v.clone() for k, v in base.module.state_dict().items()}
    cfg = StarConfig(rounds=1, problems=8, difficulty=[1], samples=2, eval_n=2)
    results = star.run_star(base, [TASK], cfg, TrainConfig(steps=2, batch_size=4, lr=1e-2,
                                                           save_every=0),
                            tmp_path / "star", progress=False)
    assert [r.steps for r in results] == [0, 2] and results[1].collected["kept"] > 0
    tuned = HFPolicy.load(tmp_path / "star" / "round1" / "checkpoint", device="cpu")
    changed = [k for k, v in tuned.module.state_dict().items()
               if not torch.equal(v, before[k])]
    assert changed  # the copy was trained ...
    assert all(torch.equal(v, before[k]) for k, v in base.module.state_dict().items())
    # ... and the base left as it was


def test_seed_gives_a_transformers_model_a_cold_start_in_its_own_layout(tmp_path, monkeypatch):
    """ponder seed --init hf:DIR: teacher traces, prompted through the model's chat
    template, fine-tune it; the result is an HF directory that moved."""
    import torch
    from transformers import AutoTokenizer
    from typer.testing import CliRunner

    from ponder.cli import app
    from ponder.train.hf_policy import HFPolicy
    from ponder.train.seed import seed_examples
    from tests.lm.test_hf_chat import TEMPLATE
    from tests.train.test_policy import hf_dir

    monkeypatch.setattr("ponder.eval.report.REPORTS_DIR", tmp_path / "reports")
    path = hf_dir(tmp_path, "llama")
    tok = AutoTokenizer.from_pretrained(path)
    tok.chat_template = TEMPLATE
    tok.save_pretrained(path)
    before = HFPolicy.load(path, device="cpu")
    exs = seed_examples([TASK], per_family=4, seed=0, lm=before.lm())
    assert all(e.prompt.startswith("<bos><|system|>") for e in exs)  # the chat layout
    r = CliRunner().invoke(app, ["seed", "--init", f"hf:{path}", "--task", "arith",
                                 "--difficulty", "1", "--per-family", "4", "--steps", "2",
                                 "--batch-size", "2", "--lr", "1e-2", "--eval-n", "0",
                                 "--out", str(tmp_path / "cold"), "--name", "cold"])
    assert r.exit_code == 0, r.output
    after = HFPolicy.load(tmp_path / "cold" / "checkpoint", device="cpu")
    assert any(not torch.equal(a, b) for a, b in
               zip(before.module.state_dict().values(), after.module.state_dict().values(),
                   strict=True))

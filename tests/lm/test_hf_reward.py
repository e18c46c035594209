"""Reward models on transformers models (tiny random Llama and Qwen2 built in the tests):
read at the same steps as ponder's own, trained from an HF policy, saved and reopened."""

import pytest
import torch

from ponder.lm.reward import CharEncoder, open_scorer, save_scorer
from ponder.lm.tokenizer import CharTokenizer
from ponder.tasks import get_task
from ponder.train.hf_policy import HFPolicy
from ponder.train.prm import RewardTrainConfig, Sample, step_accuracy, train_reward_model
from tests.train.test_policy import hf_dir

COMPLETION = "a=1\nbb=22\n</think>\nAnswer: 22"


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("rm")
    return {arch: hf_dir(root, arch) for arch in ("llama", "qwen2")}


def test_heads_are_read_where_ponders_own_reads_them(dirs):
    from ponder.lm.hf_reward import hf_reward_from_policy

    policy = HFPolicy.load(dirs["llama"], device="cpu")
    _, encode = hf_reward_from_policy(policy, "prm")
    prompt = "Sum 1 2\n<think>\n"
    hf_ids, hf_pos = encode(prompt, COMPLETION, "prm")
    ids, pos = CharEncoder(CharTokenizer())(prompt, COMPLETION, "prm")
    # the same character tokenizer on both sides: the same ids and the same positions
    assert hf_ids == ids and hf_pos == pos and len(pos) == 3
    assert encode(prompt, COMPLETION, "orm")[1] == [len(ids) - 1]


@pytest.mark.parametrize("arch", ["llama", "qwen2"])
def test_train_save_and_reopen_a_reward_model_on_an_hf_policy(dirs, arch, tmp_path):
    task = get_task("arith")
    policy = HFPolicy.load(dirs[arch], device="cpu")
    problems = task.problems("train", 6, seed=0, difficulty=[1])
    samples = [Sample(p, f"x\n</think>\nAnswer: {p.answer}", [1.0, 1.0], 1.0) for p in problems]
    samples += [Sample(p, "x\n</think>\nAnswer: 999", [1.0, 0.0], 0.0) for p in problems]
    before = {k: v.clone() for k, v in policy.module.state_dict().items()}
    scorer = train_reward_model(policy, samples, RewardTrainConfig(
        kind="orm", steps=30, batch_size=12, lr=3e-3, warmup=2))
    # the policy itself is untouched: the reward model trains a copy
    assert all(torch.equal(v, before[k]) for k, v in policy.module.state_dict().items())
    lm = policy.lm()
    prompts = [lm.format_prompt(s.problem.prompt) for s in samples]
    scores = scorer.score(prompts, [s.completion for s in samples])
    right, wrong = scores[:6], scores[6:]
    assert min(right) > max(wrong)  # it learned to tell the right answers from 999
    acc = step_accuracy(scorer, samples, lm)
    assert acc["outcome_accuracy"] == 1.0
    save_scorer(tmp_path / "orm", scorer, {"t": 1})
    again = open_scorer(tmp_path / "orm")
    assert again.kind == "orm"
    assert again.score(prompts, [s.completion for s in samples]) == pytest.approx(scores,
                                                                                   abs=1e-5)


def test_prm_train_command_takes_an_hf_model(dirs, tmp_path, capsys, monkeypatch):
    from tests.cli.runner import run

    monkeypatch.setattr("ponder.eval.report.REPORTS_DIR", tmp_path / "reports")
    code, out, err = run(capsys, "prm", "train", "--model", f"hf:{dirs['qwen2']}",
                         "--task", "arith", "--difficulty", "1", "--problems", "2",
                         "--samples", "2", "--steps", "2", "--batch-size", "2",
                         "--max-tokens", "8", "--eval-problems", "2",
                         "--out", str(tmp_path / "prm"), "--name", "p")
    assert code == 0, err
    assert open_scorer(tmp_path / "prm").kind == "prm"

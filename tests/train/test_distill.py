import pytest

from ponder.errors import ConfigError
from ponder.lm.checkpoint import load_checkpoint
from ponder.train.distill import DistillConfig, run_distill
from ponder.train.loop import TrainConfig
from ponder.train.state import read_metrics
from tests.toy import SumTask, noisy_policy


def test_distill_trains_a_student_on_verified_teacher_traces(tmp_path):
    teacher = noisy_policy(p_step=0.7)
    teacher.flops_per_token = 1e9  # a "large" teacher
    cfg = DistillConfig(preset="tiny", problems=24, difficulty=[2], samples=2, eval_n=4,
                        max_seq_len=96)
    student_lm = []

    def factory(model, tok):
        student_lm.append(model)
        return noisy_policy(p_step=0.5)  # stands in for the student's sampler

    res = run_distill(teacher, [SumTask()], cfg,
                      TrainConfig(steps=30, batch_size=8, lr=3e-3, warmup_steps=5,
                                  save_every=0, log_every=5),
                      tmp_path, lm_factory=factory, progress=False)
    data = res["data"]
    assert 0 < data["kept"] <= 24 and data["kept"] == data["solved"]  # one per solved problem
    losses = [r["loss"] for r in read_metrics(tmp_path) if r.get("kind") == "train"]
    assert losses[-1] < losses[0]  # the student fit the traces
    student, _, _ = load_checkpoint(tmp_path / "checkpoint")
    assert student.num_params() == res["student"]["params"]
    assert student_lm and student_lm[0].num_params() == student.num_params()
    for who in ("teacher", "student"):
        r = res[who]
        assert 0.0 <= r["accuracy"] <= 1.0
        assert r["flops_per_answer"] == pytest.approx(
            r["flops_per_token"] * (r["prompt_tokens"] + r["generated_tokens"]))
    assert res["teacher"]["flops_per_answer"] > 0


def test_distill_trains_a_transformers_student_in_its_own_layout(tmp_path, monkeypatch):
    """``ponder distill --init hf:PATH``: the teacher's traces, put in the student's chat
    layout, fine-tune a transformers model, saved as a transformers directory."""
    import json

    import torch
    from typer.testing import CliRunner

    from ponder.cli import app
    from ponder.train.hf_policy import HFPolicy
    from tests.train.test_policy import hf_dir

    path = hf_dir(tmp_path, "llama")
    policy = HFPolicy.load(path, device="cpu")
    before = {k: v.clone() for k, v in policy.module.state_dict().items()}
    cfg = DistillConfig(problems=12, difficulty=[2], samples=2, eval_n=2)
    res = run_distill(noisy_policy(p_step=0.7), [SumTask()], cfg,
                      TrainConfig(steps=3, batch_size=4, lr=1e-3, save_every=0),
                      tmp_path / "run", student=policy, progress=False)
    assert res["data"]["kept"] > 0 and res["data"]["unencodable"] == 0
    assert res["student"]["params"] == sum(p.numel() for p in policy.module.parameters())
    assert any(not torch.equal(v, before[k]) for k, v in policy.module.state_dict().items())
    assert HFPolicy.load(tmp_path / "run" / "checkpoint", device="cpu").describe()["kind"] == "hf"

    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(app, ["distill", "--model", f"hf:{path}", "--task", "arith",
                                 "--difficulty", "1", "--problems", "8", "--samples", "1",
                                 "--steps", "1", "--batch-size", "2", "--eval-n", "1",
                                 "--out", "cli", "--name", "d"])
    assert r.exit_code == 0, r.output  # the bundled teacher solves arith level 1
    rep = json.loads((tmp_path / "reports" / "d.json").read_text())
    assert rep["results"]["student"]["params"] == res["student"]["params"]
    r = CliRunner().invoke(app, ["distill", "--lora", "4", "--out", "x"])
    assert r.exit_code != 0 and "--lora" in r.output


def test_distill_config_validation():
    with pytest.raises(ConfigError):
        DistillConfig(preset="huge")
    with pytest.raises(ConfigError):
        DistillConfig(samples=0)

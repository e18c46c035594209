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


def test_distill_config_validation():
    with pytest.raises(ConfigError):
        DistillConfig(preset="huge")
    with pytest.raises(ConfigError):
        DistillConfig(samples=0)

"""A few Quiet-STaR steps on direct-answer text: loss goes down, the meta embeddings and
mixing head learn, and the saved model loads back with the same predictions."""

from __future__ import annotations

import json

import pytest
import torch

from ponder.errors import ConfigError
from ponder.quietstar.model import ThoughtConfig, load_quietstar
from ponder.quietstar.thoughts import rollout
from ponder.quietstar.train import TrainConfig, direct_text, train
from ponder.tasks import get_task
from tests.quietstar.conftest import tiny_native


def test_train_save_load_roundtrip(tmp_path):
    qs = tiny_native(cfg=ThoughtConfig(thought_tokens=2, n_thoughts=2, n_true=2))
    meta0 = qs.meta.weight.detach().clone()
    cfg = TrainConfig(steps=4, batch_size=4, lr=1e-3, warmup_steps=1, log_every=1)
    lines: list[str] = []
    summary = train(qs, [get_task("arith")], cfg, tmp_path, log=lines.append)
    assert summary["steps"] == 4 and summary["flops"] > 0 and len(lines) == 4
    rec = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert {"loss", "nll_mixed", "reinforce", "mix_weight"} <= set(rec[-1])
    assert not torch.equal(qs.meta.weight, meta0)
    back, _ = load_quietstar(str(tmp_path))
    assert back.cfg == qs.cfg
    ids = torch.tensor([qs.codec.encode("What is 1 + 2?\n", bos=True)])
    with torch.no_grad():
        a = rollout(qs, ids, thought_tokens=2, temperature=0.0)
        b = rollout(back, ids, thought_tokens=2, temperature=0.0)
    assert torch.allclose(a.talk_hidden, b.talk_hidden, atol=1e-5)
    assert torch.equal(back.meta.weight, qs.meta.weight)


def test_flops_budget_stops_the_plain_control(tmp_path):
    qs = tiny_native()
    summary = train(qs, [get_task("arith")], TrainConfig(mode="plain", steps=50, batch_size=2,
                                                         max_flops=1.0), tmp_path,
                    log=lambda _: None)
    assert summary["steps"] == 1 and summary["schedule_steps"] == 1


def test_answer_targets_train_on_the_answer_only(tmp_path):
    from ponder.quietstar.mask import causal
    from ponder.quietstar.objective import plain_loss
    from ponder.quietstar.train import text_batch

    qs = tiny_native()
    stream = direct_text([get_task("arith")], 0)
    ids, valid, answer = text_batch([stream[i] for i in range(3)], qs)
    assert (answer <= valid).all() and answer.any() and (valid & ~answer).any()
    ex = stream[0]
    marked = ids[0][answer[0]].tolist()
    assert qs.codec.decode(marked[:-1]) == ex.completion and marked[-1] == qs.codec.eos_id
    # the answer-only loss is the mean over answer tokens of the whole-text per-token loss
    pos = torch.arange(ids.shape[1])[None].expand_as(ids)
    with torch.no_grad():
        h, _ = qs.backbone.forward(qs.embed(ids), pos, None,
                                   causal(ids.shape[1], "cpu")[None, None])
    logp = torch.log_softmax(qs.backbone.logits(h), -1)
    tgt = logp[:, :-1].gather(-1, ids[:, 1:, None])[..., 0]
    want = -tgt[answer[:, 1:] & valid[:, :-1]].mean()
    with torch.no_grad():
        got = plain_loss(qs, ids, valid, answer).loss
        whole = plain_loss(qs, ids, valid).loss
    assert torch.allclose(got, want, atol=1e-5) and not torch.allclose(got, whole)
    summary = train(qs, [get_task("arith")], TrainConfig(steps=2, batch_size=2,
                    targets="answer"), tmp_path, log=lambda _: None)
    assert summary["train"]["targets"] == "answer"
    with pytest.raises(ConfigError, match="targets"):
        TrainConfig(targets="prose")


def test_meta_tokens_start_as_a_dash(qs):
    dash = qs.backbone.embed(torch.tensor([qs.codec.encode("-")[0]]))[0]
    assert torch.allclose(qs.meta.weight[0], dash) and torch.allclose(qs.meta.weight[1], dash)
    assert qs.codec.encode("<|startofthought|>a") == [101, qs.codec.stoi["a"]]
    assert qs.codec.stoi["a"] == type(qs.codec).__mro__[1]().stoi["a"]  # ids unchanged


def test_tasks_without_direct_text_are_refused():
    with pytest.raises(ConfigError, match="direct"):
        direct_text([get_task("countdown")], 0)


def test_the_text_can_stop_at_a_level():
    from ponder.quietstar.evaluate import held_out_examples

    capped = direct_text([get_task("arith")], 0, max_level=2)
    levels = {capped[i].source[1] for i in range(200)}
    assert levels <= {1, 2} and all(capped[i].source[2] == "direct" for i in range(20))
    assert max(direct_text([get_task("arith")], 0)[i].source[1] for i in range(200)) > 2
    test = held_out_examples([get_task("arith")], 20, 0, levels=[1, 2])
    assert len(test) == 20 and all(e.source[1] in (1, 2) for e in test)


def test_meta_embeddings_get_their_own_larger_learning_rate(qs):
    from ponder.quietstar.train import optimizer

    groups = optimizer(qs, TrainConfig(lr=1e-3, meta_lr_mult=100.0)).param_groups
    base, meta, mixer = groups
    assert meta["params"] == [qs.meta.weight] and meta["lr"] == pytest.approx(0.1)
    assert base["lr"] == pytest.approx(1e-3) and len(mixer["params"]) == 6
    n_all = sum(p.numel() for p in qs.parameters())
    assert sum(p.numel() for g in groups for p in g["params"]) == n_all


def test_an_interrupted_run_resumes_to_the_same_weights(tmp_path):
    cfg = TrainConfig(steps=4, batch_size=2, lr=1e-3, warmup_steps=1, log_every=1,
                      save_minutes=1e-9)  # saves after every step

    def fresh():
        return tiny_native(cfg=ThoughtConfig(thought_tokens=2, n_thoughts=2, n_true=2))

    straight = fresh()
    train(straight, [get_task("arith")], cfg, tmp_path / "a", log=lambda _: None)

    class Killed(Exception):
        pass

    def kill_at_step_3(line: str) -> None:
        if line.startswith("step 3/"):
            raise Killed

    with pytest.raises(Killed):
        train(fresh(), [get_task("arith")], cfg, tmp_path / "b", log=kill_at_step_3)
    with pytest.raises(ConfigError, match="resume"):  # a new run may not overwrite it
        train(fresh(), [get_task("arith")], cfg, tmp_path / "b", log=lambda _: None)
    resumed = fresh()
    summary = train(resumed, [get_task("arith")], cfg, tmp_path / "b", log=lambda _: None,
                    resume=True)
    assert summary["steps"] == 4
    for p, q in zip(straight.parameters(), resumed.parameters(), strict=True):
        assert torch.allclose(p, q, atol=1e-6)
    steps = [json.loads(x)["step"] for x in
             (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4]  # the killed step's record is not kept twice

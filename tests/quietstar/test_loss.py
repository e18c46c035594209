"""The objective: horizon targets, rewards against the per-position mean, and a REINFORCE
term whose gradient reaches thought tokens only."""

from __future__ import annotations

import torch

from ponder.quietstar import loss as L
from ponder.quietstar.model import ThoughtConfig
from ponder.quietstar.objective import LossConfig, quiet_star_loss


def test_horizon_targets_stop_at_padding():
    ids = torch.tensor([[1, 10, 11, 12, 0]])
    valid = ids != 0
    got = L.horizon_targets(ids, valid, 2)
    assert got[0].tolist() == [[10, 11], [11, 12], [12, -1], [-1, -1], [-1, -1]]


def test_horizon_targets_keep_only_marked_tokens():
    ids = torch.tensor([[1, 10, 11, 12, 13]])
    answer = torch.tensor([[False, False, False, True, True]])
    got = L.horizon_targets(ids, ids != 0, 2, answer)
    assert got[0].tolist() == [[-1, -1], [-1, 12], [12, 13], [13, -1], [-1, -1]]


def test_shift_stack_pairs_each_horizon_token_with_its_base_prediction():
    x = torch.arange(4)[None, :, None].float()  # (1, L=4, 1)
    got = L.shift_stack(x, 2)[0, :, :, 0]
    assert got.tolist() == [[0, 1], [1, 2], [2, 3], [3, 3]]


def test_rewards_are_relative_to_the_mean_at_each_position():
    talk = torch.tensor([[[1.0, -2.0], [3.0, -4.0]]])  # (B=1, N=2, L=2)
    r = L.thought_rewards(talk, positive_only=False)
    assert r.tolist() == [[[-1.0, 1.0], [1.0, -1.0]]]
    assert torch.allclose(r.sum(1), torch.zeros(1, 2))
    assert L.thought_rewards(talk).tolist() == [[[0.0, 1.0], [1.0, 0.0]]]


def test_reinforce_gradient_reaches_only_thought_tokens(qs, text_ids):
    cfg = ThoughtConfig(thought_tokens=3, n_thoughts=2, n_true=2)
    qs.train()
    out = quiet_star_loss(qs, text_ids, text_ids != qs.codec.pad_id, cfg,
                          LossConfig(positive_only=False), torch.Generator().manual_seed(0))
    ro = out.rollout
    B, Lt = text_ids.shape
    targets = L.horizon_targets(text_ids, text_ids != qs.codec.pad_id, cfg.n_true)
    gain = L.target_logprobs(out.mixed_logits, targets.repeat_interleave(2, 0))
    rewards = L.thought_rewards(gain.view(B, 2, Lt, -1).sum(-1), positive_only=False)
    rl = L.reinforce_loss(L.thought_logprob(ro.logits, ro.tokens).view(B, 2, Lt), rewards,
                          targets[..., 0] >= 0)
    text_side = [ro.base_logits, ro.base_hidden, ro.talk_hidden, out.mixed_logits, out.weights]
    grads = torch.autograd.grad(rl, [ro.logits, *text_side, *qs.mixer.parameters()],
                                allow_unused=True, retain_graph=True)
    assert grads[0] is not None and grads[0].abs().sum() > 0  # thought-token logits
    for g in grads[1:]:  # text predictions, post-thought predictions, mixing head: nothing
        assert g is None or g.abs().sum() == 0
    # and within the thought logits, only the positions that are scored get a gradient
    scored = (targets[..., 0] >= 0).repeat_interleave(2, 0)
    assert grads[0][~scored].abs().sum() == 0
    # the model's weights are trained through the thoughts' log-probabilities
    w = qs.backbone.model.model.layers[0].mlp.up_proj.weight
    assert torch.autograd.grad(rl, w, retain_graph=True)[0].abs().sum() > 0


def test_reinforce_term_depends_on_rewards_only_as_constants():
    lp = torch.randn(1, 2, 3, requires_grad=True)
    src = torch.randn(1, 2, 3, requires_grad=True)
    rl = L.reinforce_loss(lp, L.thought_rewards(src, positive_only=False),
                          torch.ones(1, 3, dtype=torch.bool))
    g_lp, g_src = torch.autograd.grad(rl, [lp, src], allow_unused=True)
    assert g_src is None
    assert torch.allclose(g_lp, -L.thought_rewards(src, False) / 6)


def test_pause_control_has_no_reinforce_term(qs, text_ids):
    out = quiet_star_loss(qs, text_ids, text_ids != 0, ThoughtConfig(thought_tokens=2, pause=True,
                                                                   n_thoughts=1),
                          LossConfig(), None)
    assert "reinforce" not in out.metrics and out.loss.requires_grad

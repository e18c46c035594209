import doctest

import pytest
import torch

import ponder.train.losses as loss_mod
from ponder.errors import ConfigError
from ponder.train.losses import (
    LossConfig,
    aggregate,
    clipped_surrogate,
    kl_k3,
    masked_mean,
    policy_loss,
)


def test_doctests():
    assert doctest.testmod(loss_mod).failed == 0


def _grad(ratio: float, advantage: float, eps: float = 0.2) -> float:
    old = torch.log(torch.tensor([[0.5]]))
    logp = (old + torch.log(torch.tensor(ratio))).clone().requires_grad_(True)
    loss, _ = clipped_surrogate(logp, old, torch.tensor([advantage]), eps)
    loss.sum().backward()
    return logp.grad.item()


def test_clip_zeroes_gradient_only_past_the_bound_in_the_advantage_direction():
    # positive advantage: pushing the ratio up is stopped above 1+eps ...
    assert _grad(1.5, +1.0) == 0.0
    # ... but not below 1-eps, where the update moves the ratio back towards 1
    assert _grad(0.5, +1.0) < 0.0
    # negative advantage: stopped below 1-eps, not above 1+eps
    assert _grad(0.5, -1.0) == 0.0
    assert _grad(1.5, -1.0) > 0.0
    # inside the trust region the gradient is -A * ratio (d/dlogp of -ratio*A)
    assert _grad(1.1, +2.0) == pytest.approx(-2.0 * 1.1, rel=1e-5)


def test_clip_higher_uses_separate_upper_bound():
    old = torch.zeros(1, 1)
    logp = torch.log(torch.tensor([[1.25]]))
    _, clipped_sym = clipped_surrogate(logp, old, torch.tensor([1.0]), 0.2)
    _, clipped_high = clipped_surrogate(logp, old, torch.tensor([1.0]), 0.2, eps_high=0.28)
    assert clipped_sym.item() and not clipped_high.item()


def test_on_policy_loss_gradient_is_reinforce():
    # at ratio 1 the surrogate's gradient is -A * grad logp (the policy gradient)
    logp = torch.tensor([[-1.0, -2.0]], requires_grad=True)
    out = policy_loss(LossConfig(), logp, logp.detach(), torch.tensor([3.0]),
                      torch.ones(1, 2))
    out.loss.backward()
    assert torch.allclose(logp.grad, torch.tensor([[-1.5, -1.5]]))
    assert out.stats["ratio"] == pytest.approx(1.0)
    assert out.stats["clip_frac"] == 0.0


def test_kl_k3_nonnegative_and_zero_when_equal():
    torch.manual_seed(0)
    a, b = -torch.rand(1000) * 5, -torch.rand(1000) * 5
    assert (kl_k3(a, b) >= 0).all()
    assert torch.equal(kl_k3(a, a), torch.zeros(1000))


def test_kl_k3_is_unbiased_estimate_of_kl():
    p = torch.tensor([0.7, 0.2, 0.1])
    q = torch.tensor([0.4, 0.4, 0.2])
    exact = (p * (p / q).log()).sum()
    # expectation over tokens sampled from p
    est = (p * kl_k3(p.log(), q.log())).sum()
    assert est.item() == pytest.approx(exact.item(), rel=1e-5)


def test_mask_excludes_prompt_and_padding():
    logp = torch.tensor([[-1.0, -1.0, -1.0]], requires_grad=True)
    mask = torch.tensor([[0.0, 1.0, 0.0]])
    out = policy_loss(LossConfig(), logp, logp.detach(), torch.tensor([1.0]), mask)
    out.loss.backward()
    assert logp.grad[0, 0] == 0 and logp.grad[0, 2] == 0 and logp.grad[0, 1] != 0
    assert masked_mean(torch.ones(2, 2), torch.zeros(2, 2)).item() == 0.0


def test_sequence_vs_token_aggregate():
    per_tok = torch.tensor([[2.0, 2.0, 2.0, 2.0], [6.0, 0.0, 0.0, 0.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0, 1.0], [1.0, 0.0, 0.0, 0.0]])
    assert aggregate(per_tok, mask, "token").item() == pytest.approx(14 / 5)
    assert aggregate(per_tok, mask, "sequence").item() == pytest.approx(4.0)


def test_kl_term_added_with_beta():
    logp = torch.tensor([[-1.0, -2.0]])
    ref = torch.tensor([[-1.5, -1.0]])
    mask = torch.ones(1, 2)
    base = policy_loss(LossConfig(), logp, logp, torch.tensor([0.0]), mask, ref)
    with_kl = policy_loss(LossConfig(beta=0.5), logp, logp, torch.tensor([0.0]), mask, ref)
    assert base.loss.item() == pytest.approx(0.0)
    assert with_kl.loss.item() == pytest.approx(0.5 * base.stats["kl"])
    assert base.stats["kl"] > 0


def test_config_validation():
    with pytest.raises(ConfigError):
        LossConfig(eps_low=0.0)
    with pytest.raises(ConfigError):
        LossConfig(beta=-1.0)
    with pytest.raises(ConfigError):
        LossConfig(aggregate="mean")
    with pytest.raises(ConfigError, match="reference"):
        policy_loss(LossConfig(beta=0.1), torch.zeros(1, 1), torch.zeros(1, 1),
                    torch.zeros(1), torch.ones(1, 1))

import doctest

import pytest
import torch

import ponder.train.advantages as adv_mod
from ponder.errors import ConfigError, UnknownName
from ponder.train.advantages import ema, get_advantage, grpo, reinforce, rloo


def test_doctests():
    assert doctest.testmod(adv_mod).failed == 0


def test_grpo_zero_mean_unit_std_per_group():
    r = torch.tensor([[1.0, 0.0, 0.0, 0.0, 1.0], [0.3, 0.9, 0.1, 0.5, 0.2]])
    a = grpo(r)
    assert torch.allclose(a.mean(dim=1), torch.zeros(2), atol=1e-6)
    assert torch.allclose(a.std(dim=1, unbiased=False), torch.ones(2), atol=1e-4)
    # order within the group is preserved: better reward -> larger advantage
    assert torch.equal(a.argsort(dim=1), r.argsort(dim=1))


def test_grpo_zero_when_all_rewards_equal():
    a = grpo(torch.tensor([[1.0, 1.0, 1.0], [0.0, 0.0, 0.0], [0.7, 0.7, 0.7]]))
    assert torch.equal(a, torch.zeros(3, 3))


def test_grpo_groups_are_independent():
    # a group's advantages do not depend on the other groups in the batch
    a1 = grpo(torch.tensor([[1.0, 0.0, 0.0]]))
    a2 = grpo(torch.tensor([[1.0, 0.0, 0.0], [5.0, -3.0, 2.0]]))
    assert torch.allclose(a1[0], a2[0])


def test_dr_grpo_is_centred_but_unscaled():
    a = get_advantage("dr_grpo")(torch.tensor([[1.0, 0.0, 0.0, 0.0]]))
    assert torch.allclose(a, torch.tensor([[0.75, -0.25, -0.25, -0.25]]))


def test_rloo_baseline_excludes_self():
    r = torch.tensor([[4.0, 1.0, 1.0, 0.0]])
    a = rloo(r)
    # sample 0: baseline is mean(1, 1, 0) = 2/3, not the group mean 1.5
    assert a[0, 0].item() == pytest.approx(4.0 - 2.0 / 3.0)
    for i in range(4):
        others = torch.cat([r[0, :i], r[0, i + 1:]])
        assert a[0, i].item() == pytest.approx(r[0, i].item() - others.mean().item())
    assert torch.equal(rloo(torch.ones(2, 5)), torch.zeros(2, 5))


def test_rloo_is_scaled_group_centring():
    # known identity: A_rloo = G/(G-1) * (r - mean)
    r = torch.rand(3, 6)
    assert torch.allclose(rloo(r), 6 / 5 * (r - r.mean(1, keepdim=True)), atol=1e-6)


def test_reinforce_uses_batch_or_given_baseline():
    r = torch.tensor([[1.0], [0.0], [0.0], [0.0]])
    assert torch.allclose(reinforce(r), r - 0.25)
    assert torch.allclose(reinforce(r, baseline=1.0), r - 1.0)


def test_group_size_and_shape_are_validated():
    with pytest.raises(ConfigError, match="group"):
        grpo(torch.tensor([[1.0]]))
    with pytest.raises(ConfigError, match="group"):
        rloo(torch.tensor([[1.0], [0.0]]))
    with pytest.raises(ConfigError, match="shape"):
        grpo(torch.tensor([1.0, 0.0]))
    with pytest.raises(UnknownName):
        get_advantage("ppo")
    with pytest.raises(ConfigError):
        ema(0.0, 1.0, decay=1.0)

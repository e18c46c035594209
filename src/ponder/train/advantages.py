"""Advantage estimators for RL with verifiable rewards: pure functions of the rewards.

Every estimator takes ``rewards`` of shape (P, G) — P prompts, G sampled completions per
prompt (a *group*) — and returns advantages of the same shape. The advantage of a
completion is given to every one of its tokens by the loss (``ponder.train.losses``); no
value network is learned, which is what makes these methods cheap enough for a CPU.

- ``grpo``: group-normalised rewards (Shao et al. 2024, DeepSeekMath §4.1.2, outcome
  supervision): ``A_i = (r_i - mean(r)) / (std(r) + eps)``. ``scale=False`` drops the
  division, as Dr. GRPO (Liu et al. 2025) argues the std term biases learning towards
  too-easy and too-hard prompts.
- ``rloo``: REINFORCE leave-one-out (Ahmadian et al. 2024, eq. 5 after Kool et al.
  2019): the baseline of sample i is the mean reward of the *other* G-1 samples.
- ``reinforce``: REINFORCE (Williams 1992) with one scalar baseline shared by the batch
  (the batch mean by default, or a running average kept by the caller with ``ema``).

A group whose rewards are all equal carries no learning signal under grpo and rloo:
its advantages are exactly zero.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ponder.errors import ConfigError, UnknownName

Advantage = Callable[[torch.Tensor], torch.Tensor]


def _check(rewards: torch.Tensor, min_group: int = 1) -> torch.Tensor:
    if rewards.dim() != 2:
        raise ConfigError(f"rewards must have shape (prompts, group), got {tuple(rewards.shape)}")
    if rewards.shape[1] < min_group:
        raise ConfigError(f"this advantage needs groups of at least {min_group} samples, "
                          f"got {rewards.shape[1]}; raise --group")
    return rewards.float()


def grpo(rewards: torch.Tensor, scale: bool = True, eps: float = 1e-6) -> torch.Tensor:
    """Group-normalised advantages: zero mean and (with ``scale``) unit std per group.

    The std is the population std (``unbiased=False``), so each normalised group has
    exactly unit std; DeepSeekMath does not say which, TRL uses the sample std.

    >>> grpo(torch.tensor([[1.0, 0.0, 0.0, 1.0], [1.0, 1.0, 1.0, 1.0]])).round().tolist()
    [[1.0, -1.0, -1.0, 1.0], [0.0, 0.0, 0.0, 0.0]]
    >>> grpo(torch.tensor([[1.0, 0.0]]), scale=False).tolist()
    [[0.5, -0.5]]
    """
    r = _check(rewards, min_group=2)
    centred = r - r.mean(dim=1, keepdim=True)
    if not scale:
        return centred
    return centred / (r.std(dim=1, unbiased=False, keepdim=True) + eps)


def rloo(rewards: torch.Tensor) -> torch.Tensor:
    """Leave-one-out advantages: ``A_i = r_i - mean_{j != i} r_j``.

    >>> rloo(torch.tensor([[1.0, 0.0, 0.0]])).tolist()
    [[1.0, -0.5, -0.5]]
    """
    r = _check(rewards, min_group=2)
    G = r.shape[1]
    baseline = (r.sum(dim=1, keepdim=True) - r) / (G - 1)  # (P, G): excludes sample i
    return r - baseline


def reinforce(rewards: torch.Tensor, baseline: float | None = None) -> torch.Tensor:
    """REINFORCE with one baseline for the whole batch (default: the batch mean reward).

    Unlike grpo/rloo this does not compare samples of the same prompt, so a prompt
    answered right by every sample still gets positive advantages when the batch is
    doing worse on average; it works with groups of one.

    >>> reinforce(torch.tensor([[1.0, 0.0], [1.0, 1.0]])).tolist()
    [[0.25, -0.75], [0.25, 0.25]]
    >>> reinforce(torch.tensor([[1.0]]), baseline=0.5).tolist()
    [[0.5]]
    """
    r = _check(rewards)
    b = r.mean() if baseline is None else torch.tensor(float(baseline))
    return r - b


def ema(previous: float | None, value: float, decay: float = 0.9) -> float:
    """Exponential moving average, for a running REINFORCE baseline across steps.

    >>> ema(None, 1.0)
    1.0
    >>> round(ema(1.0, 0.0, decay=0.9), 3)
    0.9
    """
    if not 0.0 <= decay < 1.0:
        raise ConfigError(f"ema decay must be in [0, 1), got {decay}")
    return value if previous is None else decay * previous + (1.0 - decay) * value


ADVANTAGES: dict[str, Advantage] = {
    "grpo": grpo,
    "dr_grpo": lambda r: grpo(r, scale=False),
    "rloo": rloo,
    "reinforce": reinforce,
}


def get_advantage(name: str) -> Advantage:
    if name not in ADVANTAGES:
        raise UnknownName("advantage estimator", name, list(ADVANTAGES))
    return ADVANTAGES[name]

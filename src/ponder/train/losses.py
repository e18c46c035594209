"""Policy-gradient losses over per-token log-probs: pure functions of tensors.

Shapes: ``logp``, ``old_logp``, ``ref_logp`` and ``mask`` are (B, T) — one row per
sampled completion, one column per completion token (prompt and padding positions have
``mask == 0``); ``advantages`` is (B,) — one scalar per completion, shared by its tokens —
or (B, T).

The surrogate is PPO's clipped objective (Schulman et al. 2017, eq. 7) applied per token
as in GRPO (Shao et al. 2024, eq. 3):

    L = -min(rho_t * A, clip(rho_t, 1 - eps_low, 1 + eps_high) * A),   rho_t = p/p_old

plus ``beta * KL`` to a frozen reference model with the k3 estimator (Schulman 2020,
"Approximating KL divergence"; GRPO eq. 4), which is unbiased and never negative.

Where we depart from GRPO: by default the loss is averaged over all completion tokens of
the batch (``aggregate="token"``, as DAPO, Yu et al. 2025 §3.3) instead of per-sequence
then over sequences (``aggregate="sequence"``, GRPO's 1/|o_i|), so long chains of thought
are not down-weighted per token. ``eps_high`` may exceed ``eps_low`` (DAPO's clip-higher).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ponder.errors import ConfigError

AGGREGATES = ("token", "sequence")


def masked_mean(x: torch.Tensor, mask: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    """Mean of ``x`` over positions where ``mask`` is 1 (0 where there are none).

    >>> masked_mean(torch.tensor([[1.0, 3.0, 100.0]]), torch.tensor([[1.0, 1.0, 0.0]]))
    tensor(2.)
    """
    mask = mask.to(x.dtype)
    total = (x * mask).sum() if dim is None else (x * mask).sum(dim)
    count = mask.sum() if dim is None else mask.sum(dim)
    return total / count.clamp(min=1.0)


def aggregate(per_token: torch.Tensor, mask: torch.Tensor, how: str = "token") -> torch.Tensor:
    """Reduce a (B, T) per-token loss to a scalar: over all tokens, or per sequence first.

    >>> l = torch.tensor([[1.0, 1.0, 1.0], [4.0, 0.0, 0.0]])
    >>> m = torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
    >>> aggregate(l, m, "token").item(), aggregate(l, m, "sequence").item()
    (1.75, 2.5)
    """
    if how == "token":
        return masked_mean(per_token, mask)
    if how == "sequence":
        return masked_mean(per_token, mask, dim=1).mean()
    raise ConfigError(f"loss aggregate must be one of {AGGREGATES}, got {how!r}")


def live_share(lengths: torch.Tensor, live: torch.Tensor, how: str = "token") -> float:
    """The factor that turns ``aggregate`` over the ``live`` rows alone into ``aggregate``
    over all rows when every other row's per-token loss is exactly zero: the live rows'
    share of the denominator (their tokens for "token", their count for "sequence").
    ``lengths`` (B,) are the rows' loss-bearing tokens, ``live`` (B,) a bool mask.

    >>> live_share(torch.tensor([3, 1, 4]), torch.tensor([True, False, True]))
    0.875
    >>> live_share(torch.tensor([3, 1, 4]), torch.tensor([True, False, True]), "sequence")
    0.6666666666666666
    """
    if how == "token":
        total = float(lengths.sum())
        return float(lengths[live].sum()) / total if total else 0.0
    if how == "sequence":
        return float(live.sum()) / max(len(live), 1)
    raise ConfigError(f"loss aggregate must be one of {AGGREGATES}, got {how!r}")


def clipped_surrogate(logp: torch.Tensor, old_logp: torch.Tensor, advantages: torch.Tensor,
                      eps_low: float = 0.2, eps_high: float | None = None,
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token PPO loss ``-min(rho*A, clip(rho)*A)`` and a mask of clipped tokens.

    The gradient through ``logp`` is zero where the clip is active: the ratio has moved
    past ``1 + eps_high`` for a positive advantage, or below ``1 - eps_low`` for a
    negative one — the update already went far enough in that direction.

    >>> lp = torch.log(torch.tensor([[0.5, 0.9]])); old = torch.log(torch.tensor([[0.5, 0.5]]))
    >>> loss, clipped = clipped_surrogate(lp, old, torch.tensor([1.0]))
    >>> [round(v, 3) for v in loss[0].tolist()], clipped.tolist()
    ([-1.0, -1.2], [[False, True]])
    """
    eps_high = eps_low if eps_high is None else eps_high
    adv = advantages[:, None] if advantages.dim() == 1 else advantages  # (B, 1) or (B, T)
    ratio = torch.exp(logp - old_logp)  # (B, T)
    unclipped = ratio * adv
    clipped = torch.clamp(ratio, 1.0 - eps_low, 1.0 + eps_high) * adv
    loss = -torch.minimum(unclipped, clipped)
    is_clipped = (clipped < unclipped).detach()  # the min picked the clipped branch
    return loss, is_clipped


def kl_k3(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """Per-token k3 estimate of KL(policy || reference) from tokens sampled by the policy:
    ``exp(ref - logp) - (ref - logp) - 1``; >= 0 everywhere, 0 where they agree.

    >>> kl_k3(torch.tensor([-1.0, -2.0]), torch.tensor([-1.0, -1.0])).tolist()[0]
    0.0
    >>> round(kl_k3(torch.tensor([-2.0]), torch.tensor([-1.0])).item(), 4)
    0.7183
    """
    d = ref_logp - logp
    return torch.exp(d) - d - 1.0


@dataclass
class LossConfig:
    """The RL objective.

    eps_low / eps_high: PPO clip range of the importance ratio (eps_high=None: same).
    beta: weight of the k3 KL penalty to the reference model (0 disables it and the
        reference model is never run).
    aggregate: "token" (mean over all completion tokens) or "sequence" (GRPO's
        per-sequence mean, then mean over sequences).
    """

    eps_low: float = 0.2
    eps_high: float | None = None
    beta: float = 0.0
    aggregate: str = "token"

    def __post_init__(self) -> None:
        if not 0.0 < self.eps_low < 1.0:
            raise ConfigError(f"eps_low must be in (0, 1), got {self.eps_low}")
        if self.eps_high is not None and self.eps_high <= 0.0:
            raise ConfigError(f"eps_high must be > 0, got {self.eps_high}")
        if self.beta < 0.0:
            raise ConfigError(f"the KL coefficient must be >= 0, got {self.beta}")
        if self.aggregate not in AGGREGATES:
            raise ConfigError(f"aggregate must be one of {AGGREGATES}, got {self.aggregate!r}")


@dataclass
class LossOut:
    loss: torch.Tensor  # scalar to backpropagate
    stats: dict[str, float] = field(default_factory=dict)


def policy_loss(cfg: LossConfig, logp: torch.Tensor, old_logp: torch.Tensor,
                advantages: torch.Tensor, mask: torch.Tensor,
                ref_logp: torch.Tensor | None = None) -> LossOut:
    """Clipped surrogate + ``beta`` * k3 KL, masked to completion tokens and aggregated.

    ``stats``: ``pg_loss``, ``kl`` (mean per token, also reported when beta is 0 if a
    reference was given), ``clip_frac`` (share of tokens clipped) and ``ratio``.
    """
    mask = mask.to(logp.dtype)
    pg, clipped = clipped_surrogate(logp, old_logp, advantages, cfg.eps_low, cfg.eps_high)
    pg_loss = aggregate(pg, mask, cfg.aggregate)
    loss = pg_loss
    stats = {
        "pg_loss": pg_loss.item(),
        "clip_frac": masked_mean(clipped.to(logp.dtype), mask).item(),
        "ratio": masked_mean(torch.exp(logp - old_logp).detach(), mask).item(),
    }
    if ref_logp is not None:
        kl = aggregate(kl_k3(logp, ref_logp), mask, cfg.aggregate)
        stats["kl"] = kl.item()
        if cfg.beta > 0.0:
            loss = loss + cfg.beta * kl
    elif cfg.beta > 0.0:
        raise ConfigError("beta > 0 needs reference log-probs (ref_logp)")
    return LossOut(loss, stats)

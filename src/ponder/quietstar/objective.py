"""One training step's loss: rollout -> mixed predictions -> rewards -> loss (§4, Alg. 1).

``quiet_star_loss`` is Quiet-STaR (or, with ``ThoughtConfig.pause``, the pause-token
control: the same mixing and horizon, no REINFORCE since nothing is sampled);
``plain_loss`` is the no-thought control: next-token loss on the same text.

Departure: the loss also keeps the base (no-thought) next-token loss with weight
``base_weight`` (the reference code's ``original_loss_weight`` = 0.5), so the model's
plain predictions, the "0 thought tokens" point of the evaluation, keep improving too.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ponder.errors import ConfigError
from ponder.quietstar import loss as L
from ponder.quietstar import mask
from ponder.quietstar.mixing import mix
from ponder.quietstar.model import QuietStar, ThoughtConfig
from ponder.quietstar.thoughts import Rollout, rollout


@dataclass
class LossConfig:
    """base_weight: share of the base next-token loss (the mixed loss gets the rest).
    reinforce_weight: weight of the REINFORCE term.
    positive_only: reward only thoughts better than the mean at their position."""

    base_weight: float = 0.5
    reinforce_weight: float = 1.0
    positive_only: bool = True

    def __post_init__(self) -> None:
        if not 0 <= self.base_weight < 1:
            raise ConfigError(f"base_weight must be in [0, 1), got {self.base_weight}")
        if self.reinforce_weight < 0:
            raise ConfigError(f"reinforce_weight must be >= 0, got {self.reinforce_weight}")


@dataclass
class StepResult:
    loss: torch.Tensor
    metrics: dict[str, float]
    rollout: Rollout | None = None
    mixed_logits: torch.Tensor | None = None  # (R, L, K, V)
    weights: torch.Tensor | None = None  # (R, L, K, 1) mixing weights


def mixed_predictions(qs: QuietStar, ro: Rollout, n_thoughts: int
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """(R, L, K, V) mixed logits of x_{i+k+1} after the thought at i, and (R, L, K, 1)
    mixing weights. The k-th post-thought prediction is mixed with the base prediction
    of the same token (made at text position i+k)."""
    K = ro.talk_hidden.shape[2]
    base_h = L.shift_stack(ro.base_hidden, K).repeat_interleave(n_thoughts, 0)  # (R,L,K,C)
    base_lg = L.shift_stack(ro.base_logits, K).repeat_interleave(n_thoughts, 0)
    w = qs.mixer(base_h, ro.talk_hidden)
    return mix(base_lg, qs.backbone.logits(ro.talk_hidden), w), w


def quiet_star_loss(qs: QuietStar, ids: torch.Tensor, valid: torch.Tensor, cfg: ThoughtConfig,
                    lcfg: LossConfig, generator: torch.Generator | None = None,
                    is_target: torch.Tensor | None = None) -> StepResult:
    """Loss on right-padded text ``ids`` (B, L) with ``valid`` (B, L) marking real tokens
    and ``is_target`` (B, L) the tokens scored (default: every real token)."""
    N, K = cfg.n_thoughts, cfg.n_true
    if N < 2 and not cfg.pause:
        raise ConfigError("Quiet-STaR needs n_thoughts >= 2: a thought is rewarded against "
                          "the mean of the thoughts at its position")
    ro = rollout(qs, ids, thought_tokens=cfg.thought_tokens, n_thoughts=N, n_true=K,
                 temperature=cfg.temperature, pause=cfg.pause, generator=generator)
    mixed, w = mixed_predictions(qs, ro, N)
    B, Lt = ids.shape
    targets = L.horizon_targets(ids, valid, K, is_target)  # (B, L, K)
    rep = targets.repeat_interleave(N, 0)  # (R, L, K)
    talk_lp = L.target_logprobs(mixed, rep)  # (R, L, K)
    nll_mixed = L.masked_nll(talk_lp, rep)
    nll_base = L.masked_nll(L.target_logprobs(ro.base_logits, targets[..., 0]), targets[..., 0])
    loss = (1 - lcfg.base_weight) * nll_mixed + lcfg.base_weight * nll_base
    gain = talk_lp.view(B, N, Lt, K).sum(-1)  # (B, N, L)
    scored = (targets >= 0).any(-1)  # some token of the horizon is scored
    metrics = {"nll_base": _f(nll_base), "nll_mixed": _f(nll_mixed),
               "mix_weight": _f(w[rep >= 0].mean()) if bool((rep >= 0).any()) else 0.0}
    if not cfg.pause and cfg.thought_tokens > 0:
        rewards = L.thought_rewards(gain, lcfg.positive_only)
        thought_lp = L.thought_logprob(ro.logits, ro.tokens).view(B, N, Lt)
        rl = L.reinforce_loss(thought_lp, rewards, scored)
        loss = loss + lcfg.reinforce_weight * rl
        metrics |= {"reinforce": _f(rl), "reward_spread": _f(
            (gain - gain.mean(1, keepdim=True)).abs()[scored[:, None].expand_as(gain)].mean())}
    metrics["loss"] = _f(loss)
    return StepResult(loss, metrics, ro, mixed, w)


def plain_loss(qs: QuietStar, ids: torch.Tensor, valid: torch.Tensor,
               is_target: torch.Tensor | None = None) -> StepResult:
    """Next-token loss on the same text with no thought (the compute-matched control)."""
    Lt = ids.shape[1]
    pos = torch.arange(Lt, device=ids.device)[None].expand_as(ids)
    h, _ = qs.backbone.forward(qs.embed(ids), pos, None, mask.causal(Lt, ids.device)[None, None])
    targets = L.horizon_targets(ids, valid, 1, is_target)[..., 0]
    nll = L.masked_nll(L.target_logprobs(qs.backbone.logits(h), targets), targets)
    return StepResult(nll, {"loss": _f(nll), "nll_base": _f(nll)})


def _f(x: torch.Tensor) -> float:
    return float(x.detach())


def step_tokens(ids_shape: tuple[int, int], cfg: ThoughtConfig | None) -> int:
    """Tokens run through the model by one step (text + every thought-step token): the
    unit of its FLOPs (forward ≈ flops_per_token each, backward twice that)."""
    B, Lt = ids_shape
    if cfg is None:
        return B * Lt
    return B * Lt * (1 + cfg.n_thoughts * (cfg.thought_tokens + 1 + cfg.n_true))

"""Quiet-STaR's objective as pure functions (§4.4, Eq. 1-3).

For the thought at position j, with p^talk the mixed prediction:

    r_j   = log p^talk(x_{j+1} .. x_{j+n_true}) - mean over the thoughts at j of the same
    L_RL  = - r_j * log p(thought_j)                 (REINFORCE; r_j is a constant)
    L_NLL = - mean log p^talk(x_{j+k+1}),  k < n_true

The baseline is the mean reward of the ``n_thoughts`` thoughts sampled at the same
position (the reference code's default; the paper describes it as the mean over
thoughts). ``positive_only`` keeps only thoughts that beat it, as the reference code
does by default. The start-of-thought token is given, not sampled, so it has no
log-probability; the end token is forced after ``t`` tokens, so it has none either
(the reference code adds a Gaussian "likelihood" for the meta embeddings, not done here).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def horizon_targets(ids: torch.Tensor, valid: torch.Tensor, n_true: int,
                    is_target: torch.Tensor | None = None) -> torch.Tensor:
    """(B, L, K) ids x_{i+k+1} that the thought at position i is scored on; -1 where
    that token is past the end or padding, position i itself is padding, or (when
    ``is_target`` (B, L) is given) the token is not marked as a target."""
    B, L = ids.shape
    out = ids.new_full((B, L, n_true), -1)
    for k in range(n_true):
        n = L - k - 1
        if n <= 0:
            break
        ok = valid[:, k + 1:] & valid[:, :n]
        if is_target is not None:
            ok = ok & is_target[:, k + 1:]
        out[:, :n, k] = ids[:, k + 1:].masked_fill(~ok, -1)
    return out


def shift_stack(x: torch.Tensor, n_true: int) -> torch.Tensor:
    """(B, L, ...) -> (B, L, K, ...): entry [b, i, k] = x[b, min(i+k, L-1)], the base
    prediction that the thought's k-th prediction is mixed with (clamped entries are
    never scored)."""
    L = x.shape[1]
    idx = (torch.arange(L, device=x.device)[:, None]
           + torch.arange(n_true, device=x.device)[None]).clamp(max=L - 1)  # (L, K)
    return x[:, idx]


def target_logprobs(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """log softmax(logits)[target] (...); 0 where the target is -1."""
    lp = F.log_softmax(logits.float(), dim=-1)
    got = lp.gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return got.masked_fill(targets < 0, 0.0)


def thought_rewards(talk_logp: torch.Tensor, positive_only: bool = True) -> torch.Tensor:
    """(B, N, L) summed log-likelihood of the horizon after each of N thoughts ->
    rewards against the mean of the N thoughts at the same position (detached)."""
    r = talk_logp.detach()
    r = r - r.mean(dim=1, keepdim=True)
    return r.clamp(min=0) if positive_only else r


def thought_logprob(logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """(R, L, t, V), (R, L, t) -> (R, L): log-probability of each whole thought under
    the model's own distribution (temperature 1)."""
    if tokens.shape[-1] == 0:
        return logits.new_zeros(tokens.shape[:2])
    return target_logprobs(logits, tokens).sum(-1)


def reinforce_loss(thought_lp: torch.Tensor, rewards: torch.Tensor, scored: torch.Tensor
                   ) -> torch.Tensor:
    """Mean over scored positions of -r * log p(thought): ``thought_lp`` and ``rewards``
    (B, N, L), ``scored`` (B, L) bool. The gradient flows only into ``thought_lp``."""
    w = scored[:, None].to(thought_lp.dtype)
    n = w.sum() * thought_lp.shape[1]
    return -(rewards.detach() * thought_lp * w).sum() / n.clamp(min=1)


def masked_nll(logp: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean negative log-likelihood over entries whose target is not -1."""
    ok = (targets >= 0).to(logp.dtype)
    return -(logp * ok).sum() / ok.sum().clamp(min=1)

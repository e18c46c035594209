"""Parallel thought generation (Quiet-STaR §4.2, Algorithm 1 lines 3-8).

After one causal pass over the text, every position's thought grows by one token per
forward pass, for all positions at once: step s feeds one token per position and
attends, through ``ponder.quietstar.mask.thought_step``, to the text up to that position
and to that position's own earlier thought tokens, over the text's cached keys and
values. For position i the fed tokens are

    <start>  z_1 .. z_t  <end>  x_{i+1} .. x_{i+n_true-1}

at rotary positions i+1, i+2, ... — exactly where they would sit if the thought were
written into the text after x_i, so a thought made here equals one made for that
position alone (``tests/quietstar/reference.py`` checks it). The hidden state after
``<end>`` predicts x_{i+1}; those after the teacher-forced tokens predict x_{i+2} ..
x_{i+n_true} (the non-myopic horizon, §4.4).

Thought tokens are drawn by inverse-CDF sampling with one uniform number per (row,
position) per step from ``generator``, so a thought depends only on the seed and its own
logits. ``n_thoughts`` thoughts per position are made by repeating each text row's cache
(row b -> rows b*n .. b*n+n-1).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ponder.quietstar import mask
from ponder.quietstar.model import QuietStar


@dataclass
class Rollout:
    """One batch of text with a thought (or ``n_thoughts``) at every position.
    B text rows, R = B * n_thoughts thought rows, L positions, t thought tokens,
    K = n_true, C hidden size, V logits."""

    base_hidden: torch.Tensor  # (B, L, C) text hidden states, no thought
    base_logits: torch.Tensor  # (B, L, V) their predictions of x_{i+1}
    tokens: torch.Tensor  # (R, L, t) thought tokens
    logits: torch.Tensor  # (R, L, t, V) the model's logits each thought token was drawn from
    talk_hidden: torch.Tensor  # (R, L, K, C) hidden states after <end> and x_{i+1..i+K-1}


def draw(logits: torch.Tensor, temperature: float, u: torch.Tensor) -> torch.Tensor:
    """One id per row of ``logits`` (..., V): argmax at temperature 0, else the inverse
    CDF of softmax(logits / temperature) at the uniform numbers ``u`` (...)."""
    if temperature == 0:
        return logits.argmax(-1)
    cdf = F.softmax(logits.detach().float() / temperature, dim=-1).cumsum(-1)
    idx = torch.searchsorted(cdf, (u * cdf[..., -1]).unsqueeze(-1).contiguous())
    return idx.squeeze(-1).clamp(max=logits.shape[-1] - 1)


def fed_token(qs: QuietStar, ids: torch.Tensor, thought: list[torch.Tensor], step: int,
              t: int, pad_id: int) -> torch.Tensor:
    """(R, L) tokens fed at ``step``: start, thought tokens, end, then the text that
    follows each position (``ids`` (R, L); past the end: ``pad_id``, never scored)."""
    R, L = ids.shape
    if step == 0:
        return torch.full((R, L), qs.start_id, dtype=torch.long, device=ids.device)
    if step <= t:
        return thought[step - 1]
    if step == t + 1:
        return torch.full((R, L), qs.end_id, dtype=torch.long, device=ids.device)
    k = step - t - 1  # x_{i+k}
    return F.pad(ids[:, k:], (0, k), value=pad_id)


def rollout(qs: QuietStar, ids: torch.Tensor, *, thought_tokens: int, n_thoughts: int = 1,
            n_true: int = 1, temperature: float = 1.0, pause: bool = False,
            generator: torch.Generator | None = None) -> Rollout:
    """Thoughts at every position of ``ids`` (B, L), right-padded text (padding is never
    attended to by real tokens, so its thoughts are simply not scored)."""
    bb, t = qs.backbone, thought_tokens
    B, L = ids.shape
    dev = ids.device
    pos = torch.arange(L, device=dev)[None].expand(B, L)
    base_hidden, cache = bb.forward(qs.embed(ids), pos, None, mask.causal(L, dev)[None, None])
    base_logits = bb.logits(base_hidden)
    R = B * n_thoughts
    if n_thoughts > 1:
        cache = bb.repeat(cache, n_thoughts)
    rows = ids.repeat_interleave(n_thoughts, 0)
    pos = torch.arange(L, device=dev)[None].expand(R, L)
    thought: list[torch.Tensor] = []
    logits: list[torch.Tensor] = []
    talk: list[torch.Tensor] = []
    for step in range(t + 1 + n_true):
        x = qs.embed(fed_token(qs, rows, thought, step, t, qs.codec.pad_id))
        h, cache = bb.forward(x, pos + 1 + step, cache, mask.thought_step(L, step, dev)[None, None])
        if step < t:  # the output of step s draws thought token s+1
            if pause:
                z = torch.full((R, L), qs.pause_id, dtype=torch.long, device=dev)
            else:
                lg = bb.logits(h)  # (R, L, V)
                u = torch.rand((R, L), generator=generator, device=dev)
                z = draw(lg, temperature, u)
                logits.append(lg)
            thought.append(z)
        elif step > t:
            talk.append(h)
    V = base_logits.shape[-1]
    C = base_hidden.shape[-1]
    return Rollout(
        base_hidden=base_hidden, base_logits=base_logits,
        tokens=torch.stack(thought, 2) if thought else ids.new_zeros((R, L, 0)),
        logits=torch.stack(logits, 2) if logits else base_logits.new_zeros((R, L, 0, V)),
        talk_hidden=torch.stack(talk, 2) if talk else base_hidden.new_zeros((R, L, 0, C)))

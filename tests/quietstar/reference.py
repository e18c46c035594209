"""A slow reference for parallel thoughts: each position's thought made alone, by
writing it into a copy of the text prefix and running plain causal forwards with no
cache and no custom mask."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from ponder.quietstar.model import QuietStar
from ponder.quietstar.thoughts import draw

Hidden = Callable[[torch.Tensor], torch.Tensor]  # (1, T, C) embeddings -> (1, T, C) hidden


def native_hidden(qs: QuietStar) -> Hidden:
    from ponder.quietstar.mask import causal

    def f(x: torch.Tensor) -> torch.Tensor:
        T = x.shape[1]
        return qs.backbone.forward(x, torch.arange(T)[None], None, causal(T)[None, None])[0]
    return f


def hf_hidden(qs: QuietStar) -> Hidden:
    def f(x: torch.Tensor) -> torch.Tensor:  # transformers' own causal path, no 4D mask
        return qs.backbone.decoder(inputs_embeds=x, use_cache=False).last_hidden_state
    return f


def thoughts_alone(qs: QuietStar, ids: torch.Tensor, hidden: Hidden, *, thought_tokens: int,
                   n_thoughts: int, n_true: int, temperature: float, seed: int):
    """(tokens (R, L, t), logits (R, L, t, V), talk hidden (R, L, K, C)) as
    ``rollout`` would give them, one (row, position) at a time."""
    B, L = ids.shape
    R, t = B * n_thoughts, thought_tokens
    g = torch.Generator().manual_seed(seed)
    us = [torch.rand((R, L), generator=g) for _ in range(t)]  # rollout's draws, in order
    tokens = torch.zeros(R, L, t, dtype=torch.long)
    logits, talk = [], []
    pad = qs.codec.pad_id
    for r in range(R):
        row_lg, row_talk = [], []
        b = r // n_thoughts
        for i in range(L):
            seq = [*ids[b, : i + 1].tolist(), qs.start_id]
            lgs = []
            for k in range(t):
                h = hidden(qs.embed(torch.tensor([seq])))
                lg = qs.backbone.logits(h[0, -1])
                lgs.append(lg)
                z = int(draw(lg[None], temperature, us[k][r, i : i + 1])[0])
                tokens[r, i, k] = z
                seq.append(z)
            after = ids[b, i + 1 : i + n_true].tolist()
            seq += [qs.end_id, *after, *[pad] * (n_true - 1 - len(after))]
            h = hidden(qs.embed(torch.tensor([seq])))
            row_talk.append(h[0, -n_true:])
            V = qs.backbone.n_logits
            row_lg.append(torch.stack(lgs) if lgs else torch.zeros(0, V))
        logits.append(torch.stack(row_lg))
        talk.append(torch.stack(row_talk))
    return tokens, torch.stack(logits), torch.stack(talk)


def logsoftmax_close(a: torch.Tensor, b: torch.Tensor, atol: float = 1e-3) -> bool:
    return torch.allclose(F.log_softmax(a, -1), F.log_softmax(b, -1), atol=atol)

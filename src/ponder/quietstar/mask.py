"""Attention masks of Quiet-STaR's parallel thoughts (Zelikman et al. 2024, §4.2, Fig. 3).

Training text of length L is run once, causally; its keys and values stay in the cache.
Then every thought step adds one token *per text position*: step s feeds L tokens (token
i continues the thought that starts after text token i). The keys after s steps are laid
out as

    [ text (L) | step 0 (L) | step 1 (L) | ... | step s (L) ]

and the query of position i at step s may see text tokens j <= i and the tokens of its
*own* thought (key i of every step block so far) — never another position's thought and
never later text. That is a causal block followed by s + 1 diagonal blocks. Masks here are
boolean, True where attention is allowed; ``additive`` turns one into the float form
Hugging Face eager attention expects.
"""

from __future__ import annotations

import torch


def causal(T: int, device: torch.device | str | None = None) -> torch.Tensor:
    """(T, T): query t sees keys 0..t."""
    return torch.ones(T, T, dtype=torch.bool, device=device).tril()


def thought_step(L: int, step: int, device: torch.device | str | None = None) -> torch.Tensor:
    """(L, L * (step + 2)): the mask of thought step ``step`` (0 = the start-of-thought
    token) over the text and the steps 0..step, laid out as in the module docstring."""
    eye = torch.eye(L, dtype=torch.bool, device=device)
    return torch.cat([causal(L, device), *([eye] * (step + 1))], dim=1)


def padded_prefill(valid: torch.Tensor) -> torch.Tensor:
    """(B, 1, T, T) causal mask of left-padded prompts: ``valid`` (B, T) marks real tokens.
    A padding query sees itself only, so no row of the mask is empty (an all-masked row
    would give NaN in scaled_dot_product_attention and leak into later layers)."""
    T = valid.shape[1]
    eye = torch.eye(T, dtype=torch.bool, device=valid.device)
    return ((causal(T, valid.device) & valid[:, None, :]) | eye)[:, None]


def decode(valid_keys: torch.Tensor) -> torch.Tensor:
    """(B, 1, 1, K): one new token per row seeing every valid key (``valid_keys`` (B, K),
    the new token's own slot included)."""
    return valid_keys[:, None, None, :]


def additive(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Boolean mask -> 0 where allowed, the dtype's most negative value elsewhere."""
    out = torch.zeros(mask.shape, dtype=dtype, device=mask.device)
    return out.masked_fill(~mask, torch.finfo(dtype).min)

"""The few operations Quiet-STaR needs from a language model, and the built-in decoder's.

Parallel thoughts feed *embeddings* (the thought tokens have their own, learned rows),
at explicit rotary positions, under a custom 4D mask, on top of a key/value cache that the
text pass filled. ``ponder.lm.model.Transformer`` has no such entry point (its cached
path writes at positions and builds its own causal mask), so ``NativeBackbone.forward``
recomputes its blocks from the same weights — tests hold it to ``Transformer.forward``
under a plain causal mask. Hugging Face Llama/Qwen2 models get the same interface in
``ponder.quietstar.hf``.

The native cache is a list of (k, v) tensors per layer, (B, nh, K, hs), extended by
concatenation, so it stays differentiable (training backpropagates through thought
generation) and an older cache object stays valid after a forward (generation drops a
thought by going back to it).
"""

from __future__ import annotations

from typing import Any, Protocol

import torch
import torch.nn as nn
import torch.nn.functional as F

from ponder.errors import ConfigError
from ponder.lm.model import Transformer, _rotate_half, rope_tables

NativeCache = list[tuple[torch.Tensor, torch.Tensor]]


class Backbone(Protocol):
    """A causal LM seen through embeddings, positions, masks and a cache."""

    module: nn.Module  # the parameters to train
    hidden_size: int
    n_logits: int  # columns of ``logits``: the ids a text token may take
    flops_per_token: float  # forward FLOPs per token (compute accounting)
    max_context: int

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        """(B, T) text ids -> (B, T, C) input embeddings."""
        ...

    def forward(self, x: torch.Tensor, positions: torch.Tensor, cache: Any,
                mask: torch.Tensor) -> tuple[torch.Tensor, Any]:
        """Final-norm hidden states (B, T, C) of embeddings ``x`` at rotary ``positions``
        (B, T), attending over ``cache`` followed by these tokens as boolean ``mask``
        (B or 1, 1, T, K) allows; and the cache with these tokens appended (``cache`` None:
        an empty one). The old cache object may be reused (native) or extended in place
        (transformers): callers use only the one returned."""
        ...

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """(..., C) -> (..., n_logits)."""
        ...

    def cache_len(self, cache: Any) -> int: ...

    def truncate(self, cache: Any, n: int) -> Any:
        """The cache cut to its first ``n`` slots."""
        ...

    def repeat(self, cache: Any, n: int) -> Any:
        """Each row repeated ``n`` times (row b -> rows b*n .. b*n+n-1)."""
        ...


class NativeBackbone:
    """``ponder.lm.model.Transformer`` (the module itself, not a copy)."""

    def __init__(self, model: Transformer, n_logits: int | None = None):
        if model.cfg.digit_index:
            raise ConfigError("Quiet-STaR runs on models without digit-index embeddings; "
                              "this one has them (ModelConfig.digit_index)")
        self.model = self.module = model
        self.cfg = model.cfg
        self.hidden_size = model.cfg.d_model
        # the tokenizer may be smaller than the embedding table: ids past it never occur
        self.n_logits = n_logits or model.cfg.vocab_size
        self.flops_per_token = model.flops_per_token()
        self.max_context = model.cfg.max_seq_len

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        return self.model.model.embed_tokens(ids)

    def forward(self, x: torch.Tensor, positions: torch.Tensor, cache: NativeCache | None,
                mask: torch.Tensor) -> tuple[torch.Tensor, NativeCache]:
        B, T, C = x.shape
        nh, nkv, hs = self.cfg.n_head, self.cfg.kv_heads, self.cfg.head_dim
        cos, sin = rope_tables(self.cfg, positions)  # (B, 1, T, hs)
        new: NativeCache = []
        for i, blk in enumerate(self.model.model.layers):
            a = blk.self_attn
            h = blk.input_layernorm(x)
            q = a.q_proj(h).view(B, T, nh, hs).transpose(1, 2)  # (B, nh, T, hs)
            k = a.k_proj(h).view(B, T, nkv, hs).transpose(1, 2)  # (B, nkv, T, hs)
            v = a.v_proj(h).view(B, T, nkv, hs).transpose(1, 2)
            q = q * cos + _rotate_half(q) * sin
            k = k * cos + _rotate_half(k) * sin
            if cache is not None:
                k = torch.cat([cache[i][0], k], dim=2)  # (B, nkv, K, hs)
                v = torch.cat([cache[i][1], v], dim=2)
            new.append((k, v))
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask,
                                               enable_gqa=nkv != nh)  # (B, nh, T, hs)
            x = x + a.o_proj(y.transpose(1, 2).reshape(B, T, C))
            x = x + blk.mlp(blk.post_attention_layernorm(x))
        return self.model.model.norm(x), new

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.model.lm_head(hidden)[..., : self.n_logits]

    def cache_len(self, cache: NativeCache) -> int:
        return cache[0][0].shape[2]

    def truncate(self, cache: NativeCache, n: int) -> NativeCache:
        return [(k[:, :, :n], v[:, :, :n]) for k, v in cache]

    def repeat(self, cache: NativeCache, n: int) -> NativeCache:
        return [(k.repeat_interleave(n, 0), v.repeat_interleave(n, 0)) for k, v in cache]

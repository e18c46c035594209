"""Quiet-STaR on Hugging Face Llama- and Qwen2-architecture models.

The decoder is called with ``inputs_embeds`` (thought tokens have their own embedding
rows), explicit ``position_ids`` and a custom 4D attention mask, which transformers
passes through unchanged to the attention kernels (as an additive float mask, so eager
and SDPA attention read it alike). The cache is kept as plain per-layer (k, v) tensors,
as in ``NativeBackbone``, and wrapped in a fresh ``DynamicCache`` for each call: the
cache a caller holds is never changed in place, so generation drops a thought by going
back to the cache it had before it, and training can backpropagate through it.

Models with sliding-window attention are refused: a plain ``DynamicCache`` would keep
keys a sliding layer must not see.
"""

from __future__ import annotations

from typing import Any

import torch

from ponder.errors import ModelError
from ponder.lm.hf import cache_arg
from ponder.quietstar.mask import additive

HFCache = list[tuple[torch.Tensor, torch.Tensor]]
SUPPORTED = ("llama", "qwen2")


class HFBackbone:
    """A ``LlamaForCausalLM`` / ``Qwen2ForCausalLM`` (the module itself, not a copy)."""

    def __init__(self, model: Any):
        cfg = model.config
        if getattr(cfg, "model_type", None) not in SUPPORTED:
            raise ModelError(f"Quiet-STaR supports the {', '.join(SUPPORTED)} architectures; "
                             f"this model is {getattr(cfg, 'model_type', type(model).__name__)!r}")
        if getattr(cfg, "use_sliding_window", False) and getattr(cfg, "sliding_window", None):
            raise ModelError("Quiet-STaR needs full attention; this model uses a sliding "
                             "window (set use_sliding_window=False in its config)")
        self.module = model
        self.decoder = model.get_decoder()
        self.head = model.get_output_embeddings()
        self.hidden_size = cfg.hidden_size
        self.n_logits = self.head.weight.shape[0]
        self.max_context = cfg.max_position_embeddings
        n = sum(p.numel() for p in self.decoder.parameters())
        n -= self.decoder.get_input_embeddings().weight.numel()
        self.flops_per_token = 2.0 * (n + self.head.weight.numel())
        self._cache_arg = cache_arg(self.decoder.forward)

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        return self.decoder.get_input_embeddings()(ids)

    def forward(self, x: torch.Tensor, positions: torch.Tensor, cache: HFCache | None,
                mask: torch.Tensor) -> tuple[torch.Tensor, HFCache]:
        from transformers import DynamicCache

        past = DynamicCache(ddp_cache_data=cache) if cache is not None else DynamicCache()
        B, T = x.shape[:2]
        mask = mask.expand(B, 1, T, mask.shape[-1])
        out = self.decoder(inputs_embeds=x, attention_mask=additive(mask, x.dtype),
                           position_ids=positions, use_cache=True, **{self._cache_arg: past})
        new = getattr(out, "cache", None) or out.past_key_values
        if hasattr(new, "layers"):
            return out.last_hidden_state, [(la.keys, la.values) for la in new.layers]
        return out.last_hidden_state, list(zip(new.key_cache, new.value_cache, strict=True))

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.head(hidden)

    def cache_len(self, cache: HFCache) -> int:
        return cache[0][0].shape[2]

    def truncate(self, cache: HFCache, n: int) -> HFCache:
        return [(k[:, :, :n], v[:, :, :n]) for k, v in cache]

    def repeat(self, cache: HFCache, n: int) -> HFCache:
        return [(k.repeat_interleave(n, 0), v.repeat_interleave(n, 0)) for k, v in cache]

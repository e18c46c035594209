"""ponder's built-in reasoner: a decoder-only transformer with the Llama architecture.

RMSNorm before each block, rotary position embeddings (the "rotate half" convention of
Hugging Face's Llama, so exported weights give the same logits; ``position_scale`` 0 turns
them off), SwiGLU feed-forward, no biases, tied input/output embeddings, optionally fewer
key/value heads than query heads (grouped-query attention, ``n_kv_head``), and optionally learned
embeddings of each digit's index in its number (``digit_index``, ``ponder.lm.digits``;
models with them have no transformers or llama.cpp counterpart). Parameter names
follow ``LlamaForCausalLM`` so that export is a renaming-free copy of the state dict.

``Transformer.forward`` is the one training and scoring path (full causal attention over
a batch; with a ``Context``, rows continue prompts whose keys and values were computed
once for all of them, as GRPO's samples of one problem do). Sampling runs on
``ponder.lm.fused.FusedDecoder``: the same math with its weights rearranged for fast
decoding and its own key/value cache; tests hold its logits and greedy outputs to
``forward``'s.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ponder.errors import UnknownName
from ponder.lm.digits import DIGITS, digit_runs


@dataclass
class ModelConfig:
    vocab_size: int = 128
    n_layer: int = 5
    n_head: int = 4
    # key/value heads (grouped-query attention, Ainslie et al. 2023): each serves
    # n_head / n_kv_head query heads, so the cache a decoding step reads shrinks by that
    # factor; 0 = one per query head (multi-head attention)
    n_kv_head: int = 0
    d_model: int = 128
    d_ff: int = 352  # SwiGLU hidden width
    max_seq_len: int = 1024
    rope_theta: float = 10000.0
    norm_eps: float = 1e-5
    # rotary positions are multiplied by this before rotating (linear rope scaling with
    # factor 1/position_scale in transformers and llama.cpp): a model trained on
    # randomized positions of mean gap s is run at its training scale with s; 0 turns
    # positions off (NoPE, Kazemnejad et al. 2023: order comes from the causal mask alone)
    position_scale: float = 1.0
    # learned embeddings of a digit's index in its number (Abacus; ponder.lm.digits):
    # the table's size (0: none), and the token id of "0" (the digits are ten ids from it)
    digit_index: int = 0
    digit_first: int = 0

    def __post_init__(self) -> None:
        if self.d_model % self.n_head or (self.d_model // self.n_head) % 2:
            raise ValueError(
                f"d_model ({self.d_model}) must split into n_head ({self.n_head}) heads "
                "of even size"
            )
        if self.n_kv_head < 0 or self.n_kv_head and self.n_head % self.n_kv_head:
            raise ValueError(f"n_kv_head ({self.n_kv_head}) must divide n_head "
                             f"({self.n_head}); 0 = one per query head")
        if not self.position_scale >= 0:
            raise ValueError(f"position_scale must be >= 0 (0: no positions), got "
                             f"{self.position_scale}")
        if self.digit_index < 0 or self.digit_index == 1:
            raise ValueError(f"digit_index must be 0 (none) or >= 2, got {self.digit_index}")
        if self.digit_index and not 0 <= self.digit_first <= self.vocab_size - DIGITS:
            raise ValueError(f"digit_first {self.digit_first} leaves no ten digit ids in a "
                             f"vocabulary of {self.vocab_size}")

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_head

    @property
    def kv_heads(self) -> int:
        """Key/value heads: ``n_kv_head``, or ``n_head`` when that is 0."""
        return self.n_kv_head or self.n_head

    @property
    def rope_scaling_factor(self) -> float:
        """The linear rope-scaling factor transformers and llama.cpp divide positions
        by; a model without positions gets one so large that every angle is 0 to
        float32 precision (positions up to 2**20 turn by at most 1e-24 radians)."""
        return 1.0 / self.position_scale if self.position_scale else NOPE_FACTOR

    def to_dict(self) -> dict:
        return asdict(self)


NOPE_FACTOR = 1e30  # rope scaling factor that stands for "no positions" in exports


# Size presets (parameter counts with a ~100-symbol vocabulary).
PRESETS: dict[str, dict[str, int]] = {
    "micro": dict(n_layer=2, n_head=2, d_model=64, d_ff=176),  # ~0.11M
    "tiny": dict(n_layer=3, n_head=4, d_model=96, d_ff=256),  # ~0.35M
    "small": dict(n_layer=5, n_head=4, d_model=128, d_ff=352),  # ~1.0M
    "base": dict(n_layer=5, n_head=8, d_model=256, d_ff=688),  # ~4.0M
    "large": dict(n_layer=7, n_head=8, d_model=384, d_ff=1024),  # ~12.4M
}


def preset(name: str, **overrides) -> ModelConfig:
    if name not in PRESETS:
        raise UnknownName("model preset", name, list(PRESETS))
    return ModelConfig(**{**PRESETS[name], **overrides})


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # normalise in float32 as Llama does, then cast back (matters under bf16 autocast)
        xf = x.float()
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * xf.to(x.dtype)


def rope_tables(cfg: ModelConfig, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """cos/sin for ``positions`` of shape (B, T) (integers, or floats from randomized
    training positions), scaled by ``cfg.position_scale`` -> two (B, 1, T, hs) tensors."""
    hs = cfg.head_dim
    inv_freq = 1.0 / (cfg.rope_theta ** (torch.arange(0, hs, 2, dtype=torch.float32) / hs))
    freqs = (positions.float() * cfg.position_scale)[..., None] * inv_freq  # (B, T, hs/2)
    emb = torch.cat([freqs, freqs], dim=-1)[:, None]  # (B, 1, T, hs)
    return emb.cos(), emb.sin()


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat([-x2, x1], dim=-1)


class Context:
    """What attention sees besides a batch's own tokens, for teacher forcing rows that
    continue shared prompts (``ponder.lm.sampler.completion_logprobs``): run the prompts
    with ``Context(record=True)`` to keep each layer's keys and values, then the
    continuations with ``Context(past, mask)``, where ``past`` holds, per layer, the
    prompt keys/values each row continues (B, key/value heads, P, hs) and ``mask``
    (B, 1, T, P + T) says which of those and of the row's own tokens each token may
    attend to. Gradients flow through ``past`` to the prompt pass."""

    def __init__(self, past: list[tuple[torch.Tensor, torch.Tensor]] | None = None,
                 mask: torch.Tensor | None = None, record: bool = False):
        if past is not None and mask is None:
            raise ValueError("Context: keys/values of earlier tokens need a mask saying "
                             "which of them each token sees")
        self.past, self.mask = past, mask
        self.kept: list[tuple[torch.Tensor, torch.Tensor]] | None = [] if record else None
        self._layer = 0

    def attend(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """This layer's keys and values to attend over; layers call it in order."""
        if self.kept is not None:
            self.kept.append((k, v))
        if self.past is not None:
            pk, pv = self.past[self._layer]
            k, v = torch.cat([pk, k], dim=2), torch.cat([pv, v], dim=2)
        self._layer += 1
        return k, v


class Attention(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.nh, self.nkv, self.hs = cfg.n_head, cfg.kv_heads, cfg.head_dim
        d = cfg.d_model
        self.q_proj = nn.Linear(d, d, bias=False)
        self.k_proj = nn.Linear(d, self.nkv * self.hs, bias=False)
        self.v_proj = nn.Linear(d, self.nkv * self.hs, bias=False)
        self.o_proj = nn.Linear(d, d, bias=False)

    def forward(self, x, cos, sin, ctx: Context | None = None):
        B, T, C = x.shape
        q = self.q_proj(x).view(B, T, self.nh, self.hs).transpose(1, 2)  # (B, nh, T, hs)
        k = self.k_proj(x).view(B, T, self.nkv, self.hs).transpose(1, 2)  # (B, nkv, T, hs)
        v = self.v_proj(x).view(B, T, self.nkv, self.hs).transpose(1, 2)  # (B, nkv, T, hs)
        q = q * cos + _rotate_half(q) * sin
        k = k * cos + _rotate_half(k) * sin
        if ctx is not None:
            k, v = ctx.attend(k, v)
        gqa = self.nkv != self.nh  # query head h reads key/value head h // (nh / nkv)
        if ctx is None or ctx.mask is None:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=gqa)
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=ctx.mask, enable_gqa=gqa)
        y = y.transpose(1, 2).reshape(B, T, C)  # (B, T, C)
        return self.o_proj(y)


class MLP(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.gate_proj = nn.Linear(cfg.d_model, cfg.d_ff, bias=False)
        self.up_proj = nn.Linear(cfg.d_model, cfg.d_ff, bias=False)
        self.down_proj = nn.Linear(cfg.d_ff, cfg.d_model, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.input_layernorm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.self_attn = Attention(cfg)
        self.post_attention_layernorm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.mlp = MLP(cfg)

    def forward(self, x, cos, sin, ctx: Context | None = None):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, ctx)
        return x + self.mlp(self.post_attention_layernorm(x))


class Backbone(nn.Module):
    """``LlamaModel``'s layout: embeddings, blocks, final norm."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.d_model)
        if cfg.digit_index:  # index 0 (not a digit) stays a zero vector
            self.embed_digits = nn.Embedding(cfg.digit_index, cfg.d_model, padding_idx=0)
        self.layers = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.norm = RMSNorm(cfg.d_model, cfg.norm_eps)


class Transformer(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.model = Backbone(cfg)
        self.lm_head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        self.lm_head.weight = self.model.embed_tokens.weight  # tied embeddings
        self.apply(self._init)
        for name, p in self.named_parameters():  # GPT-2 style scaled init of residual outs
            if name.endswith(("o_proj.weight", "down_proj.weight")):
                nn.init.normal_(p, std=0.02 / math.sqrt(2 * cfg.n_layer))
        if cfg.digit_index:
            with torch.no_grad():
                self.model.embed_digits.weight[0].zero_()

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, nn.Linear | nn.Embedding):
            nn.init.normal_(m.weight, std=0.02)

    def hidden(self, idx: torch.Tensor, positions: torch.Tensor | None = None,
               ctx: Context | None = None, digits: torch.Tensor | None = None
               ) -> torch.Tensor:
        """Final-norm hidden states (B, T, C); ``positions`` (B, T) are the rotary
        positions (default 0..T-1). With ``ctx``, attention also sees (or records) the
        keys and values of earlier tokens (``Context``). ``digits`` (B, T) are the digit
        indices of a model with digit-index embeddings (default: each token's run of
        digits in ``idx``, ``ponder.lm.digits``)."""
        B, T = idx.shape
        if positions is None:
            positions = torch.arange(T, device=idx.device).expand(B, T)
        cos, sin = rope_tables(self.cfg, positions)
        x = self.model.embed_tokens(idx)  # (B, T, C)
        if self.cfg.digit_index:
            if digits is None:
                digits = digit_runs(idx, self.cfg.digit_first)
            x = x + self.model.embed_digits(digits.clamp(max=self.cfg.digit_index - 1))
        for block in self.model.layers:
            x = block(x, cos, sin, ctx)
        return self.model.norm(x)

    def forward(self, idx: torch.Tensor, positions: torch.Tensor | None = None,
                digits: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (B, T, vocab)."""
        return self.lm_head(self.hidden(idx, positions, digits=digits))

    def num_params(self, non_embedding: bool = False) -> int:
        n = sum(p.numel() for p in self.parameters())  # tied weights counted once
        if not non_embedding:
            return n
        tables = [self.model.embed_tokens] + ([self.model.embed_digits]
                                              if self.cfg.digit_index else [])
        return n - sum(t.weight.numel() for t in tables)

    def flops_per_token(self, context: int | None = None) -> float:
        """Forward FLOPs per token (Kaplan et al. 2020): 2N for the matmuls plus
        2·n_layer·context·d_model for attention scores and values."""
        ctx = self.cfg.max_seq_len // 2 if context is None else context
        n = self.num_params(non_embedding=True) + self.cfg.vocab_size * self.cfg.d_model
        return 2.0 * n + 2.0 * self.cfg.n_layer * ctx * self.cfg.d_model


@torch.no_grad()
def pool_kv_heads(model: Transformer, kv_heads: int) -> Transformer:
    """A copy of ``model`` with ``kv_heads`` key/value heads, each the mean of the
    consecutive heads it replaces (key and value projections alike), as Ainslie et al.
    2023 start grouped-query attention from a multi-head checkpoint before continuing
    its training ("uptraining"); every other weight is copied."""
    cfg = model.cfg
    have = cfg.kv_heads
    if kv_heads < 1 or have % kv_heads:
        raise ValueError(f"kv_heads ({kv_heads}) must divide the model's {have} "
                         "key/value heads")
    out = Transformer(ModelConfig(**{**cfg.to_dict(), "n_kv_head": kv_heads}))
    state = model.state_dict()
    for key, w in state.items():
        if key.endswith(("k_proj.weight", "v_proj.weight")):
            state[key] = w.view(kv_heads, have // kv_heads, cfg.head_dim, -1).mean(1) \
                .reshape(kv_heads * cfg.head_dim, -1)
    out.load_state_dict(state)
    return out.train(model.training)

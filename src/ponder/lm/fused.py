"""The built-in model's decoding fast path: ``FusedDecoder``, a snapshot of a
``Transformer``'s weights laid out for few tensor operations per step, and the step
itself as a pure function (``fused_hidden``) that ``torch.compile`` can fuse.

At this model size on a CPU a decoding step is bound by per-operation overhead and by
reading the key/value cache, not by arithmetic. Compiling the step
(``FusedDecoder(compile=True)``; ``--compile`` on the commands that sample) fuses its
dozens of small element-wise operations into a few loops; the matmuls stay library
calls. It costs a compilation (about a minute on 2 cores, once per process: a step with
a mask and one without) and needs a C++ compiler; where compiling fails the step runs
uncompiled, with a warning. On the bundled model it was worth 0.98x / 1.03x / 1.16x at
batch 1 / 16 / 64 (``benchmarks/sampler.py --compile``), so it is off by default.
"""

from __future__ import annotations

import math
import threading
import warnings
from collections.abc import Callable

import torch
import torch.fx.experimental._config as fx_config
import torch.nn.functional as F

from ponder.lm.digits import digit_runs
from ponder.lm.model import Transformer, rope_tables


class FusedDecoder:
    """An inference-only snapshot of a ``Transformer``'s weights, rearranged so that a
    decoding step issues as few tensor operations as possible: at this model size on a
    CPU, per-operation overhead rather than arithmetic bounds sampling speed. The math is
    ``Transformer.forward``'s; only the layout differs:

    - each RMSNorm weight, and the norm's sqrt(d_model), is folded into the matmul that
      follows it (they scale its input columns), so a norm is x / hypot(|x|, sqrt(d·eps))
      — x / sqrt(|x|² + d·eps), the same value as RMSNorm's x / sqrt(mean(x²) + eps)
      times sqrt(d) — in three cheap operations (``F.rms_norm`` runs several more);
    - attention's 1/sqrt(head_dim) is folded into the query weights;
    - q/k/v projections are one matmul, gate/up another, residual adds ride in ``addmm``;
    - within each head, q and k dimensions are permuted from "rotate half" order to
      interleaved pairs (the same permutation on both leaves q·k unchanged), so rotary
      embedding is one complex multiply; v rides along with a unit rotation, so one
      multiply and one copy into the cache serve q, k and v;
    - cos/sin come from a table built once.

    Its cache (``new_cache``) stores keys in the permuted layout, as ``kv_dtype``:
    float32 by default; bfloat16 halves the bytes a decoding step reads, which bound it
    at large batches, and runs attention through the bfloat16 kernel of
    ``scaled_dot_product_attention`` (the cached keys and values are rounded to 8
    significant bits; everything else stays float32). The snapshot does not follow later
    weight updates: build a new one.
    """

    def __init__(self, model: Transformer, kv_dtype: torch.dtype = torch.float32,
                 compile: bool = False):
        if kv_dtype not in (torch.float32, torch.bfloat16):
            raise ValueError(f"kv_dtype must be torch.float32 or torch.bfloat16, not {kv_dtype}")
        self.kv_dtype = kv_dtype
        self.compile = compile
        cfg = self.cfg = model.cfg
        nh, nkv, hs, d = cfg.n_head, cfg.kv_heads, cfg.head_dim, cfg.d_model
        half = torch.arange(hs // 2)
        perm = torch.stack([half, half + hs // 2], dim=-1).flatten()  # [0, hs/2, 1, ...]

        def w(p: torch.Tensor) -> torch.Tensor:
            return p.detach().to(torch.float32).clone()

        def interleave(p: torch.Tensor, heads: int) -> torch.Tensor:
            return p.view(heads, hs, d)[:, perm].reshape(heads * hs, d)

        self.layers: list[tuple[torch.Tensor, ...]] = []
        for blk in model.model.layers:
            a, m = blk.self_attn, blk.mlp
            q = interleave(w(a.q_proj.weight), nh) * hs ** -0.5
            qkv = torch.cat([q, interleave(w(a.k_proj.weight), nkv), w(a.v_proj.weight)])
            qkv = qkv * (w(blk.input_layernorm.weight) * d ** 0.5)  # (d + 2·nkv·hs, d)
            gu = torch.cat([w(m.gate_proj.weight), w(m.up_proj.weight)])
            gu = gu * (w(blk.post_attention_layernorm.weight) * d ** 0.5)  # (2f, d)
            # stored (in, out) and contiguous: small CPU matmuls run ~2x faster this way
            # than on nn.Linear's (out, in) layout
            self.layers.append(tuple(t.t().contiguous() for t in
                                     (qkv, w(a.o_proj.weight), gu, w(m.down_proj.weight))))
        self.embed = w(model.model.embed_tokens.weight)
        # digit-index embeddings (ponder.lm.digits), or None; ``digit_first`` the id of "0"
        self.digits = w(model.model.embed_digits.weight) if cfg.digit_index else None
        self.digit_first = cfg.digit_first
        head = w(model.lm_head.weight) * w(model.model.norm.weight)  # (V, d)
        self.head = head.t().contiguous()  # (d, V)
        # what ``Engine`` reads: logits columns per row, token ids that may be sampled,
        # and cache columns a step uses past its own (a thinking decoder's thought)
        self.width = self.vocab = self.head.shape[1]
        self.scratch = 0
        device = self.embed.device
        self.norm_c = torch.tensor(math.sqrt(d * cfg.norm_eps), device=device)
        cos, sin = rope_tables(cfg, torch.arange(cfg.max_seq_len, device=device)[None])
        rot = torch.complex(cos[0, 0, :, : hs // 2], sin[0, 0, :, : hs // 2])  # (L, hs/2)
        unit = torch.ones_like(rot)  # v's "rotation"
        # one entry per head of the q/k/v projection's output: q's and k's heads rotate,
        # v's ride along unrotated
        heads = [rot] * (nh + nkv) + [unit] * nkv
        self.rope = torch.stack(heads, dim=1)  # (L, nh + 2·nkv, hs/2)
        # the same table as (cos, sin) pairs, for the compiled step: inductor generates
        # no code for complex numbers
        self.rope_pairs = torch.view_as_real(self.rope).contiguous()  # (L, nh+2nkv, hs/2, 2)

    def new_cache(self, batch: int, max_len: int, zero: bool = True) -> list[torch.Tensor]:
        """Per-layer (2, batch, nkv, max_len, hs) key/value buffers (nkv: the key/value
        heads), zeroed. The decoding step reads masked-out slots too (a probability of 0
        times their value), so a slot must never hold NaN or infinity, as uninitialised
        memory may; ``zero=False`` only for a cache whose every slot is written before it
        is read (a prefill of all its columns). Keys and values each keep (batch, nkv)
        mergeable into one dimension, which the decoding step's batched matmuls read
        without a copy."""
        cfg = self.cfg
        shape = (2, batch, cfg.kv_heads, max_len, cfg.head_dim)
        make = self.embed.new_zeros if zero else self.embed.new_empty
        return [make(shape, dtype=self.kv_dtype) for _ in range(cfg.n_layer)]

    @staticmethod
    def cache_rows(cache: list[torch.Tensor], rows: torch.Tensor | slice
                   ) -> list[torch.Tensor]:
        """The cache of a subset of rows: a view for a slice, a copy for an index."""
        if isinstance(rows, slice):
            return [kv[:, rows] for kv in cache]
        return [kv.index_select(1, rows) for kv in cache]

    def __call__(self, idx: torch.Tensor, positions: torch.Tensor, cache: list[torch.Tensor],
                 start: int, mask: torch.Tensor | None = None, first: int = 0,
                 digits: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (B, V) at the last of ``idx``'s (B, T) tokens, which every row writes to
        cache slots [start, start+T) — rows line up, so prompts are left-padded.
        ``positions`` (B, T) are the tokens' rotary positions; ``mask`` (B, 1, T,
        start+T) says which slots each token may attend to (None: causal, no padding).
        Slot 0 is the cache's column ``first``. ``digits`` (B, T): the tokens' digit
        indices, for a model with digit-index embeddings (default: the runs of digits
        in ``idx`` alone, right for rows that start where their sequence starts)."""
        return self.hidden(idx, positions, cache, start, mask, first, digits) @ self.head

    def hidden(self, idx: torch.Tensor, positions: torch.Tensor, cache: list[torch.Tensor],
               start: int, mask: torch.Tensor | None = None, first: int = 0,
               digits: torch.Tensor | None = None) -> torch.Tensor:
        """``__call__`` 's last hidden state (B, d), RMS-normalised without the final
        norm's weight (folded into ``head``)."""
        if mask is None and idx.shape[1] > 1 and start:
            raise ValueError("a causal step without a mask must start at slot 0")
        if self.digits is not None and digits is None:
            digits = digit_runs(idx, self.digit_first)
        return fused_hidden(self.layers, self.embed, self.rope, self.norm_c, self.cfg.n_head,
                            self.cfg.norm_eps, idx, positions, cache, start, mask, first,
                            self.digits, digits)

    def decode(self, tok: torch.Tensor, pos: torch.Tensor, cache: list[torch.Tensor],
               real: torch.Tensor, a: int, b: int, first: int, col: int,
               masked: bool, run: torch.Tensor | None = None) -> torch.Tensor:
        """One decoding step of rows [a, b) of an engine's buffers: ``tok`` and ``pos``
        (R,) hold each row's last token and its rotary position (``run`` (R,) its run of
        digits, for a model with digit-index embeddings), ``cache`` the whole
        per-layer cache (of more than ``b`` rows when compiled) and ``real`` (R, C) the
        columns each row holds. The rows write column ``col`` and attend over columns
        [first, col], under ``real`` when ``masked``. Returns ``__call__`` 's output for
        those rows. A compiled step gets whole buffers, integer bounds and a fresh mask,
        so its inputs have the same strides at every step (one compilation serves)."""
        mask = real[a:b, first: col + 1] if masked else None
        if (self.digits is None) != (run is None):
            raise ValueError("decode needs each row's run of digits exactly when the model "
                             "has digit-index embeddings")
        if self.compile:
            return compiled_step()(self.layers, self.embed, self.rope_pairs, self.norm_c,
                                   self.head, self.cfg.n_head, self.cfg.norm_eps, tok, pos,
                                   cache, None if mask is None else mask.contiguous(),
                                   a, b, first, col, self.digits, run)
        idx, positions, view = step_inputs(tok, pos, cache, a, b, self.rope.shape[0])
        digits = None if run is None else run.narrow(0, a, b - a)[:, None]
        return self(idx, positions, view, col - first,
                    None if mask is None else mask[:, None, None], first, digits)


def step_inputs(tok: torch.Tensor, pos: torch.Tensor, cache: list[torch.Tensor], a: int,
                b: int, context: int
                ) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
    """Rows [a, b) of ``FusedDecoder.decode`` 's buffers as ``__call__`` takes them:
    tokens (B, 1), positions (B, 1) capped below ``context`` and the cache views."""
    # narrow, not slicing: a slice's bounds are clamped to the size, which a compiled
    # step would have to guard on
    idx = tok.narrow(0, a, b - a)[:, None]
    positions = pos.narrow(0, a, b - a)[:, None].clamp(max=context - 1)
    return idx, positions, [kv.narrow(1, a, b - a) for kv in cache]


def decode_step(layers: list[tuple[torch.Tensor, ...]], embed: torch.Tensor,
                rope: torch.Tensor, norm_c: torch.Tensor, head: torch.Tensor, n_head: int,
                eps: float, tok: torch.Tensor, pos: torch.Tensor, cache: list[torch.Tensor],
                mask: torch.Tensor | None, a: int, b: int, first: int, col: int,
                digit_table: torch.Tensor | None = None, run: torch.Tensor | None = None
                ) -> torch.Tensor:
    """``FusedDecoder.decode`` as a pure function of the snapshot's tensors, ``mask``
    (B, col + 1 - first) or None: what ``torch.compile`` traces."""
    idx, positions, view = step_inputs(tok, pos, cache, a, b, rope.shape[0])
    digits = None if run is None else run.narrow(0, a, b - a)[:, None]
    return fused_hidden(layers, embed, rope, norm_c, n_head, eps, idx, positions, view,
                        col - first, None if mask is None else mask[:, None, None],
                        first, digit_table, digits) @ head


def fused_hidden(layers: list[tuple[torch.Tensor, ...]], embed: torch.Tensor,
                 rope: torch.Tensor, norm_c: torch.Tensor, n_head: int, eps: float,
                 idx: torch.Tensor, positions: torch.Tensor, cache: list[torch.Tensor],
                 start: int, mask: torch.Tensor | None, first: int = 0,
                 digit_table: torch.Tensor | None = None, digits: torch.Tensor | None = None
                 ) -> torch.Tensor:
    """``FusedDecoder.hidden`` as a pure function of the snapshot's tensors: ``idx``
    (B, T) tokens at rotary ``positions`` write cache slots [start, start+T) and attend
    over [0, start+T), under ``mask`` (B, 1, T, start+T) or causally when it is None;
    slot 0 is the cache's column ``first``. With a ``digit_table``, each token adds the
    row of its digit index in ``digits`` (B, T), capped at the table's last."""
    B, T = idx.shape
    d = embed.shape[1]
    N, nh, hs = B * T, n_head, d // n_head
    H = rope.shape[1]  # heads of the q/k/v projection: nh + 2 key/value heads
    nkv = (H - nh) // 2
    end = start + T
    causal = mask is None and T > 1

    def unit(x: torch.Tensor) -> torch.Tensor:
        # RMSNorm without its weight, divided by sqrt(d) (folded into the weights)
        return x / torch.hypot(torch.linalg.vector_norm(x, dim=-1, keepdim=True), norm_c)

    x = embed.index_select(0, idx.reshape(N))  # (N, d)
    if digit_table is not None and digits is not None:
        x = x + digit_table.index_select(
            0, digits.reshape(N).clamp(max=digit_table.shape[0] - 1))
    rot = rope[positions.reshape(N)]  # (N, H, hs/2), complex or as pairs
    for (qkv_w, o_w, gu_w, down_w), kv in zip(layers, cache, strict=True):
        y = unit(x) @ qkv_w  # (N, H·hs)
        y = _rotate(y.view(N, H, hs // 2, 2), rot).view(B, T, H, hs)
        kv.narrow(3, first + start, T).copy_(
            y[:, :, nh:].view(B, T, 2, nkv, hs).permute(2, 0, 3, 1, 4))  # (2,B,nkv,T,hs)
        k, v = kv.narrow(3, first, end).unbind(0)  # (B, nkv, end, hs) each
        if T == 1 and torch.compiler.is_compiling():  # loops reading the cache once
            att = _fused_attention(y[:, 0, :nh], k, v, mask)  # (B, nh, hs)
        elif T == 1 and k.dtype == torch.float32:
            att = _bmm_attention(y[:, 0, :nh], k, v, mask)
        else:
            q = y[:, :, :nh].transpose(1, 2).to(k.dtype)  # (B, nh, T, hs)
            att = F.scaled_dot_product_attention(q, k, v, attn_mask=mask,
                                                 is_causal=causal, scale=1.0,
                                                 enable_gqa=nkv != nh).transpose(1, 2)
            att = att.to(torch.float32)
        x = torch.addmm(x, att.reshape(N, d), o_w)
        gate, up = (unit(x) @ gu_w).chunk(2, dim=-1)
        x = torch.addmm(x, F.silu(gate).mul_(up), down_w)
    return F.rms_norm(x.view(B, T, d)[:, -1], (d,), eps=eps)


def _rotate(y: torch.Tensor, rot: torch.Tensor) -> torch.Tensor:
    """Rotary embedding of ``y``'s (..., hs/2, 2) pairs by ``rot``: one complex multiply
    when ``rot`` is complex (fastest uncompiled), else the same product written out over
    (cos, sin) pairs."""
    if rot.is_complex():
        return torch.view_as_real(torch.view_as_complex(y) * rot)
    re, im = y.unbind(-1)
    c, s = rot.unbind(-1)
    return torch.stack([re * c - im * s, re * s + im * c], dim=-1)


def _fused_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                     mask: torch.Tensor | None) -> torch.Tensor:
    """``_bmm_attention`` written as products and sums over the cache, which a compiled
    step turns into loops reading each key and value once (and which, unlike the
    batched matmuls' reshapes, asks nothing of the views' strides)."""
    B, nh, hs = q.shape
    nkv = k.shape[1]
    qg = q.view(B, nkv, nh // nkv, 1, hs).to(k.dtype)  # query heads grouped by their k/v
    scores = (qg * k[:, :, None]).sum(-1, dtype=torch.float32)  # (B, nkv, g, L)
    if mask is not None:
        scores = scores.masked_fill(~mask[:, 0, :, None], float("-inf"))  # over heads
    probs = scores.softmax(dim=-1)
    out = (probs[..., None] * v[:, :, None]).sum(-2, dtype=torch.float32)  # (B, nkv, g, hs)
    return out.view(B, nh, hs)


def _bmm_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                   mask: torch.Tensor | None) -> torch.Tensor:
    """Attention of one query per row: q (B, nh, hs) over k, v (B, nkv, L, hs) views of
    the cache, with an optional (B, 1, 1, L) mask of visible slots: two batched matmuls
    and a softmax, reading the cache views without a copy. With key/value heads shared
    by g = nh / nkv query heads, each matmul is (g, hs) @ (hs, L): the g queries of a
    group read their keys and values once. At batch 64 it is about as fast as CPU
    ``scaled_dot_product_attention`` (1.05x at 96 slots, 1.14x at 32): both are bound by
    reading the cache (``benchmarks/decode_attention.py``)."""
    B, nkv, L, hs = k.shape
    g = q.shape[1] // nkv
    # (g, hs) @ (hs, L) per key/value head: (1, hs) rows measured 1.35x faster than
    # (L, hs) @ (hs, 1) here
    scores = torch.bmm(q.reshape(B * nkv, g, hs), k.reshape(B * nkv, L, hs).transpose(1, 2))
    scores = scores.view(B, nkv * g, L)  # queries come scaled by 1/sqrt(hs)
    if mask is not None:
        scores.masked_fill_(~mask.view(B, 1, L), float("-inf"))
    probs = scores.softmax(dim=-1)
    return torch.bmm(probs.view(B * nkv, g, L), v.reshape(B * nkv, L, hs)).view(B, nkv * g, hs)


_COMPILED: Callable[..., torch.Tensor] | None = None
_COMPILE_LOCK = threading.Lock()


def compiled_step() -> Callable[..., torch.Tensor]:
    """``decode_step`` compiled once per process (shapes dynamic: every step of every
    batch reuses it; the weights are arguments, so a new snapshot after a training step
    does too), or ``decode_step`` itself where compiling fails."""
    global _COMPILED
    with _COMPILE_LOCK:
        if _COMPILED is None:
            _COMPILED = _guarded(torch.compile(decode_step, dynamic=True))
        return _COMPILED


def _guarded(fn: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
    """``fn``, falling back for good to ``decode_step`` the first time it fails to
    compile (no C++ compiler, an unsupported platform)."""
    failed = False

    def step(*args: object) -> torch.Tensor:
        nonlocal failed
        if not failed:
            try:
                # without duck sizing: with it, an integer bound that once equalled a
                # buffer's size (rows [0, R)) was taken for that size at later steps
                with fx_config.patch(use_duck_shape=False):
                    return fn(*args)
            except Exception as e:  # noqa: BLE001 - any compiler failure means: run eager
                failed = True
                warnings.warn(f"compiling the decoding step failed ({type(e).__name__}: "
                              f"{str(e).splitlines()[0] if str(e) else ''}); decoding "
                              "uncompiled", RuntimeWarning, stacklevel=2)
        return decode_step(*args)

    return step

"""Generation with thoughts through ponder's one generation engine (``ponder.lm.engine``).

``ThinkingDecoder`` is the built-in model's ``FusedDecoder`` with Quiet-STaR's additions:
the meta tokens' embeddings appended to its table, and a ``think`` step that the engine
calls before it samples each token. The decoder's output per row is the plain logits
and the final hidden state side by side; ``think`` then, for every decoded row at once,

    feeds <start>, z_1 .. z_t, <end> into the cache columns just past the text (the
    engine reserves ``scratch`` = t + 2 of them), each thought token drawn from the row's
    own generator, each step attending to the row's text and its own earlier thought
    tokens only; mixes the prediction after <end> with the plain one through the mixing
    head, and returns the mixed logits the engine samples from.

The thought's columns are never marked as holding text, so the next token overwrites
them and later thoughts never see earlier ones — as in training and in the per-batch
loop of ``ponder.quietstar.generate`` (which HF backbones and ``generate_decoded``, the
variant that returns the thoughts, still use). So Quiet-STaR models get continuous
batching across callers, shared prompt prefills and prefix reuse like every other
native model; with thought tokens 0 the decoder is the plain one.

Randomness: thought tokens take a uniform number each from the request's generator (the
one its Gumbel noise comes from), so a sample depends on its seed, not on its batch.
"""

from __future__ import annotations

import torch

from ponder.lm.fused import FusedDecoder
from ponder.lm.sampler import Sampler
from ponder.quietstar.backbone import NativeBackbone
from ponder.quietstar.mixing import mix
from ponder.quietstar.model import QuietStar
from ponder.quietstar.thoughts import draw


class ThinkingDecoder(FusedDecoder):
    """A snapshot of a native Quiet-STaR model for the engine; see the module docstring."""

    def __init__(self, qs: QuietStar, thought_tokens: int):
        if not isinstance(qs.backbone, NativeBackbone):
            raise TypeError("ThinkingDecoder needs the built-in model as backbone")
        model = qs.backbone.model
        super().__init__(model)
        V = qs.codec.meta_base  # text ids; START, END and PAUSE follow
        meta = qs.meta.weight.detach().to(self.embed.dtype)
        self.embed = torch.cat([self.embed[:V], meta]).contiguous()
        self.head = self.head[:, :V].contiguous()
        self.norm_w = model.model.norm.weight.detach().float().clone()
        self.t, self.mixer = thought_tokens, qs.mixer
        self.temperature, self.pause = qs.cfg.temperature, qs.cfg.pause
        self.start_id, self.end_id, self.pause_id = qs.start_id, qs.end_id, qs.pause_id
        self.vocab = V
        self.scratch = thought_tokens + 2 if thought_tokens > 0 else 0
        self.width = V + self.cfg.d_model if self.scratch else V

    def __call__(self, idx: torch.Tensor, positions: torch.Tensor, cache: list[torch.Tensor],
                 start: int, mask: torch.Tensor | None = None, first: int = 0,
                 digits: torch.Tensor | None = None) -> torch.Tensor:
        """(B, V) logits; when thinking, (B, V + d): the logits and the hidden state."""
        x = self.hidden(idx, positions, cache, start, mask, first, digits)
        logits = x @ self.head
        return torch.cat([logits, x * self.norm_w], dim=1) if self.scratch else logits

    def think(self, packed: torch.Tensor, cache: list[torch.Tensor], col: int,
              real: torch.Tensor, pos: torch.Tensor,
              gens: list[torch.Generator | None]) -> torch.Tensor:
        """Mixed logits (R, V) for the engine's first R rows: ``packed`` (R, V + d) is
        their decoder output, ``real`` (R, >= col) the cache columns holding their text,
        ``pos`` (R,) the position the next token takes, ``gens`` their generators (None:
        a free row, whose thought is computed and ignored). Writes the cache columns
        [col, col + t + 2) of those rows."""
        V, R, t = self.vocab, packed.shape[0], self.t
        base, h_base = packed[:, :V], packed[:, V:]
        ctx = self.cfg.max_seq_len
        mask = torch.zeros(R, 1, 1, col + t + 2, dtype=torch.bool)
        mask[:, 0, 0, :col] = real[:, :col]
        view = [kv[:, :R] for kv in cache]
        tok = torch.full((R, 1), self.start_id, dtype=torch.long)
        zero = torch.zeros(())
        for k in range(t + 2):  # feeds <start>, z_1 .. z_t, <end>
            mask[:, 0, 0, col + k] = True
            x = self.hidden(tok, (pos + k).clamp(max=ctx - 1)[:, None], view, col + k,
                            mask[..., : col + k + 1].contiguous())
            if k < t:
                if self.pause:
                    tok = torch.full_like(tok, self.pause_id)
                else:
                    u = torch.stack([torch.rand((), generator=g) if g is not None else zero
                                     for g in gens])
                    tok = draw(x @ self.head, self.temperature, u)[:, None]
            elif k == t:
                tok = torch.full_like(tok, self.end_id)
        return mix(base, x @ self.head, self.mixer(h_base, x * self.norm_w))


class ThinkingSampler(Sampler):
    """``Sampler`` (and so ``Engine``) over a native Quiet-STaR model: ids are the
    model's codec's, sampling never picks a meta token."""

    def __init__(self, qs: QuietStar, thought_tokens: int, max_batch: int = 256):
        self.qs, self.thought_tokens = qs, thought_tokens
        super().__init__(qs.backbone.model, qs.codec, max_batch=max_batch)  # type: ignore[arg-type]

    def decoder(self) -> ThinkingDecoder:  # type: ignore[override]
        """The snapshot, rebuilt when any weight (backbone, meta tokens, mixing head)
        changed since it was built."""
        key = tuple((p.data_ptr(), p._version) for p in self.qs.parameters())
        if self._decoder is None or key != self._weights_key:
            with torch.no_grad():
                self._decoder = ThinkingDecoder(self.qs, self.thought_tokens)
            self._weights_key = key
        return self._decoder  # type: ignore[return-value]

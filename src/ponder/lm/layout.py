"""The engine's rows and cache columns: growing them, filling holes, reclaiming dead
columns (see ``ponder.lm.engine`` for the layout they keep).

``RowLayout`` holds the buffers the engine decodes from — the per-layer key/value cache,
the mask of columns holding each row's tokens, and one entry per row of next-token
logits, Gumbel noise, positions and sampling settings — and the three operations that
change their shape or placement without changing what any row computes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from ponder.lm.model import FusedDecoder
    from ponder.lm.sampler import Sampler

NOISE_BLOCK = 32  # decoding steps of Gumbel noise drawn at once per row
MIN_COLUMNS = 256  # cache columns allocated at first
PREFILL_TOKENS = 8192  # cache slots per prefill forward (bounds activations and the mask)
HOLE_FRACTION = 0.25  # compact the rows once this share of them is free and none waits


class RowLayout:
    """Buffer management shared by ``Engine``; the attributes are the engine's."""

    sampler: Sampler
    dec: FusedDecoder | None
    rows: list[Any]
    cache: list[torch.Tensor]
    real: torch.Tensor
    col: int
    hi: int
    n_active: int
    steps: int
    _pending: Any

    _first: int | None = None  # cached ``_first_live``; None when rows changed
    _dense = False  # every decoded row holds every column from ``_first`` on

    def _first_live(self) -> int:
        """The first cache column a decoded row (or hole) holds: decoding attends from
        there, not from column 0. Recomputed only after rows came, went or moved, with
        whether every row holds every column since (then no mask is needed: decoding
        keeps it so, as each step adds one column to every row)."""
        if self._first is None:
            span = self.real[: self.hi, : self.col].view(torch.uint8)  # see _first_used
            self._first = _first_used(span, self.col)
            rest = span[:, self._first:]
            self._dense = not rest.numel() or bool(rest.amin())
        return self._first

    def _active(self) -> list[int]:
        return [r for r in range(self.hi) if self.rows[r] is not None]

    def _ensure(self, rows: int, cols: int) -> None:
        """Grow the buffers (doubling) to hold at least ``rows`` rows and ``cols``
        columns, keeping what the live rows have written."""
        have_r = len(self.rows)
        have_c = self.cache[0].shape[3] if self.cache else 0
        if rows <= have_r and cols <= have_c:
            return
        R = max(rows, min(2 * have_r, self.sampler.max_batch), 1)
        C = max(cols, 2 * have_c, MIN_COLUMNS)
        dec = self.dec
        assert dec is not None
        cache = dec.new_cache(R, C)
        V, W = dec.vocab, dec.width
        real = torch.zeros(R, C, dtype=torch.bool)
        keep_r, keep_c = min(have_r, self.hi), min(have_c, self.col)
        if self.cache:
            for new, old in zip(cache, self.cache, strict=True):
                new[:, :keep_r, :, :keep_c] = old[:, :keep_r, :, :keep_c]
            real[:keep_r, :keep_c] = self.real[:keep_r, :keep_c]

        def grow(t: torch.Tensor | None, shape: tuple[int, ...], dtype: torch.dtype
                 ) -> torch.Tensor:
            out = torch.zeros(shape, dtype=dtype)
            if t is not None:
                out[:keep_r] = t[:keep_r]
            return out

        old = bool(self.cache)
        for name, shape, dtype in (("logits", (R, W), torch.float32),
                                   ("noise", (R, NOISE_BLOCK, V), torch.float32),
                                   ("noise_t", (R,), torch.long), ("pos", (R,), torch.long),
                                   ("temp", (R,), torch.float32),
                                   ("top_p", (R,), torch.float32), ("tok", (R,), torch.long)):
            setattr(self, name, grow(getattr(self, name) if old else None, shape, dtype))
        self.cache, self.real = cache, real
        self.rows += [None] * (R - have_r)

    def _compact_rows(self) -> None:
        """Move the top rows into holes when holes are many and nobody waits to fill
        them: fewer rows to decode."""
        if self._pending or self.hi - self.n_active < HOLE_FRACTION * self.hi:
            return
        act = self._active()
        holes = [r for r in range(act[-1]) if self.rows[r] is None]
        if self._pending or len(holes) < HOLE_FRACTION * (act[-1] + 1):
            return
        movers = [r for r in reversed(act) if r > holes[0]][: len(holes)]
        pairs = [(h, m) for h, m in zip(holes, movers, strict=False) if h < m]
        if not pairs:
            return
        d = torch.tensor([h for h, _ in pairs])
        s = torch.tensor([m for _, m in pairs])
        c = self.col
        for kv in self.cache:
            kv[:, d, :, :c] = kv[:, s, :, :c]
        for t in (self.real, self.logits, self.noise, self.noise_t, self.pos, self.temp,
                  self.top_p, self.tok):
            t[d] = t[s]
        for h, m in pairs:
            self.rows[h], self.rows[m] = self.rows[m], None
            self.real[m] = False
            self.temp[m] = 0.0

    def _room(self) -> None:
        """Make column ``col`` writable: shift the live span to column 0 when the
        columns run out or most of them are dead, and grow only if that is not enough."""
        hi, col = self.hi, self.col
        C = self.cache[0].shape[3]
        s = 1 + self.dec.scratch if self.dec is not None else 1  # columns a step needs
        if col + s <= C and self.steps % 16:  # a dead span is looked for now and then
            return
        first = _first_used(self.real[:hi, :col].view(torch.uint8), col)
        if first and (col + s > C or (first >= 32 and first >= col // 2)):
            disjoint = col - first <= first  # the span moves past itself: no staging copy
            for kv in self.cache:
                src = kv[:, :hi, :, first:col]
                kv[:, :hi, :, : col - first] = src if disjoint else src.clone()
            self.real[:hi, : col - first] = self.real[:hi, first:col].clone()
            self.real[:hi, col - first:] = False
            self.col = col = col - first
            self._first = None
        if col + s > C:
            self._ensure(rows=len(self.rows), cols=col + s)


def _first_used(span: torch.Tensor, default: int) -> int:
    """The first column of the (rows, columns) 0/1 ``span`` set in some row (``default``
    if none). Reduced as bytes: torch's reductions over a strided bool slice run about
    ten times slower than ``amax`` / ``amin`` over the same bytes, and the engine asks
    this whenever rows come or go."""
    if not span.numel():
        return default
    used = span.amax(dim=0).nonzero()
    return int(used[0]) if len(used) else default

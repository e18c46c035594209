"""The engine's rows and cache columns: growing them, filling holes, reclaiming dead
columns (see ``ponder.lm.engine`` for the layout they keep).

``RowLayout`` holds the buffers the engine decodes from — the per-layer key/value cache,
the mask of columns holding each row's tokens, and one entry per row of next-token
logits, Gumbel noise, positions and sampling settings — and the three operations that
change their shape or placement without changing what any row computes.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, NamedTuple

import torch

from ponder.lm.digits import next_run

if TYPE_CHECKING:
    from ponder.lm.fused import FusedDecoder
    from ponder.lm.sampler import Sampler

NOISE_BLOCK = 32  # decoding steps of Gumbel noise drawn at once per row
MIN_COLUMNS = 256  # cache columns allocated at first
PREFILL_TOKENS = 8192  # cache slots per prefill forward (bounds activations and the mask)
HOLE_FRACTION = 0.25  # compact the rows once this share of them is free and none waits
MAX_SEGMENTS = 4  # runs of rows a decoding step attends over separately
SEGMENT_MIN_READS = 1024  # row-columns of reads a split must save (a forward's overhead)
SORT_HORIZON = 16  # steps over which putting rows in order must pay for the move


# the engine's per-row buffers besides the cache and ``real``: name -> (shape past the
# row: "W" the decoder's logits width, "noise" a block of Gumbel noise, "" one value;
# dtype). ``run`` is the row's run of digits (``ponder.lm.digits``) for decoders with
# digit-index embeddings.
ROW_BUFFERS: dict[str, tuple[str, torch.dtype]] = {
    "logits": ("W", torch.float32), "noise": ("noise", torch.float32),
    "noise_t": ("", torch.long), "pos": ("", torch.long), "temp": ("", torch.float32),
    "top_p": ("", torch.float32), "tok": ("", torch.long), "run": ("", torch.long),
}


class RowLayout:
    """Buffer management shared by ``Engine``; the attributes are the engine's."""

    sampler: Sampler
    dec: FusedDecoder | None
    rows: list[Any]
    cache: list[torch.Tensor]
    real: torch.Tensor
    tok: torch.Tensor
    run: torch.Tensor
    col: int
    hi: int
    n_active: int
    steps: int
    _pending: Any

    _segs: list[Segment] | None = None  # cached ``_segments``; None when rows changed
    _sorted_at = -(1 << 30)  # the step rows were last put in order of their first column

    def _segments(self) -> list[Segment]:
        """How a decoding step splits rows [0, hi): contiguous runs of rows, each
        attending from the first column one of its rows holds (see ``split_rows``), and
        whether each run is dense (every row holds every column from there on: then no
        mask is needed, and decoding keeps it so, as each step adds one column to every
        row). Recomputed only after rows came, went or moved; before that, rows are put
        in order of their first column when the reads saved pay for the move."""
        if self._segs is None:
            hi, col = self.hi, self.col
            span = self.real[:hi, : col + 1].view(torch.uint8)  # see _first_used
            starts = _row_starts(span, col)
            # a thinking decoder, or a compiled one: rows always from 0 (one shape class)
            one_run = bool(self.dec is not None and (self.dec.scratch or self.dec.compile))
            runs = [(0, hi)] if one_run else split_rows(starts, col + 1)
            if not one_run and self._reorder_pays(starts, runs):
                self._sort_rows(starts)
                hi = self.hi
                span = self.real[:hi, : col + 1].view(torch.uint8)
                starts = _row_starts(span, col)
                runs = split_rows(starts, col + 1)
            segs = []
            for a, b in runs:
                first = min(starts[a:b])
                rest = span[a:b, first:]
                segs.append(Segment(a, b, first, not rest.numel() or bool(rest.amin())))
            self._segs = segs
        return self._segs

    def _reorder_pays(self, starts: list[int], runs: list[tuple[int, int]]) -> bool:
        """Whether putting the active rows in order of their first column (holes
        dropped) saves more attention reads over the next ``SORT_HORIZON`` steps than
        moving their cache costs (about two reads of it), at most once every
        ``SORT_HORIZON`` steps; ``runs`` is how the rows split as they stand."""
        if self.steps - self._sorted_at < SORT_HORIZON:
            return False
        end = self.col + 1
        live = sorted(starts[r] for r in range(self.hi) if self.rows[r] is not None)
        now = _cost(starts, runs, end)
        after = _cost(live, split_rows(live, end), end)
        move = 2 * sum(end - s for s in live)
        return (now - after) * SORT_HORIZON > move

    def _sort_rows(self, starts: list[int]) -> None:
        """Put the active rows first, in order of the first column each holds."""
        act = sorted(self._active(), key=lambda r: starts[r])
        n, hi, col = len(act), self.hi, self.col
        order = torch.tensor(act)
        first = min(starts[r] for r in act)
        move_rows(self.cache, list(enumerate(act)), first, col)
        for t in self._row_tensors():
            t[:n] = t[order]
        self.rows[:n] = [self.rows[r] for r in act]
        self.rows[n:hi] = [None] * (hi - n)
        self.real[n:hi] = False
        self.temp[n:hi] = 0.0
        self.hi = n
        self._sorted_at = self.steps

    def _capacity(self, longest: int) -> int:
        """Rows of ``longest`` columns the cache budget holds (at most ``max_batch``)."""
        row_bytes = self._column_bytes() * longest
        return max(1, min(self.sampler.max_batch, self.sampler.cache_bytes // row_bytes))

    def _set_tok(self, tok: torch.Tensor) -> None:
        """The tokens the next step feeds, one per row from 0, and their runs of digits
        for a decoder with digit-index embeddings."""
        n = len(tok)
        self.tok[:n] = tok
        dec = self.dec
        assert dec is not None
        if dec.digits is not None:
            self.run[:n] = next_run(self.run[:n], tok, dec.digit_first)

    def _row_tensors(self) -> list[torch.Tensor]:
        """Every per-row buffer, which moves with its row."""
        return [self.real, *(getattr(self, name) for name in ROW_BUFFERS)]

    def _column_bytes(self) -> int:
        """Bytes one row's keys and values take per cache column, over all layers."""
        cfg = self.sampler.model.cfg
        return cfg.n_layer * 2 * cfg.kv_heads * cfg.head_dim * self.sampler.kv_itemsize

    def _active(self) -> list[int]:
        return [r for r in range(self.hi) if self.rows[r] is not None]

    def _ensure(self, rows: int, cols: int) -> None:
        """Reallocate the buffers when they hold fewer than ``rows`` rows or ``cols``
        columns, keeping what the live rows have written. The short dimension doubles (a
        new cache is zeroed, which costs its size); the other keeps its size unless the
        cache would then pass the sampler's ``cache_bytes``, and then sheds only what is
        over (one long row must not make a later batch of many rows allocate its width,
        and shedding more than that made rows and columns take turns growing back)."""
        have_r = len(self.rows)
        have_c = self.cache[0].shape[3] if self.cache else 0
        if rows <= have_r and cols <= have_c:
            return
        rows = max(rows, self.hi)
        R = _grow(have_r, rows, 1, self.sampler.max_batch)
        C = _grow(have_c, cols, MIN_COLUMNS)
        budget = self.sampler.cache_bytes // self._column_bytes()  # row-columns
        if rows <= have_r:
            R = min(R, max(rows, budget // C - 1, 1))
        if cols <= have_c:
            C = min(C, max(cols, budget // (R + 1), MIN_COLUMNS))
        dec = self.dec
        assert dec is not None
        # a row more than any step decodes: a compiled step then never sees all of the
        # cache's rows, which would be another shape class (another compilation)
        cache = dec.new_cache(R + 1, C)
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
        for name, (width, dtype) in ROW_BUFFERS.items():
            shape = (R, *{"W": (W,), "noise": (NOISE_BLOCK, V), "": ()}[width])
            setattr(self, name, grow(getattr(self, name) if old else None, shape, dtype))
        self.cache, self.real = cache, real
        self.rows = (self.rows + [None] * (R - have_r))[:R]  # rows past hi are free

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
        move_rows(self.cache, pairs, 0, self.col)
        for t in self._row_tensors():
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
            # left to right in pieces no wider than the shift: no piece overlaps where it
            # goes, and nothing is staged (a copy of the span would be a fresh allocation,
            # whose page faults cost more than the move)
            step = first if (col - first) <= 64 * first else col - first  # else staged
            for kv in self.cache:
                for a in range(first, col, step):
                    w = min(step, col - a)
                    src = kv[:, :hi, :, a: a + w]
                    kv[:, :hi, :, a - first: a - first + w].copy_(
                        src if w <= first else src.clone())
            self.real[:hi, : col - first] = self.real[:hi, first:col].clone()
            self.real[:hi, col - first:] = False
            self.col = col = col - first
            self._segs = None
        if col + s > C:
            self._ensure(rows=self.hi, cols=col + s)


class CacheArena:
    """Reused memory for the caches that live only while rows are admitted (the
    prefills, before their keys/values are copied into the rows). A fresh tensor of
    megabytes is fresh memory from the system, and its page faults cost more than the
    prefill writing it; these caches are views of per-layer buffers kept from one
    admission to the next. ``reset`` before each admission: earlier views are then
    overwritten."""

    def __init__(self) -> None:
        self.buffers: list[torch.Tensor] = []
        self.used = 0

    def reset(self) -> None:
        self.used = 0

    def release(self) -> None:
        """Give the memory back (an idle engine holds none)."""
        self.buffers, self.used = [], 0

    def new_cache(self, dec: FusedDecoder, batch: int, max_len: int, zero: bool = True
                  ) -> list[torch.Tensor]:
        """``dec.new_cache(batch, max_len, zero)`` in the arena's memory."""
        cfg = dec.cfg
        shape = (2, batch, cfg.kv_heads, max_len, cfg.head_dim)
        n = math.prod(shape)
        have = self.buffers[0] if self.buffers else None
        if (have is None or have.dtype != dec.kv_dtype or have.device != dec.embed.device
                or len(self.buffers) != cfg.n_layer or self.used + n > have.numel()):
            # views handed out before keep the old buffers alive until they are dropped
            size = max(n, 2 * have.numel() if have is not None else 0)
            self.buffers = [dec.embed.new_empty(size, dtype=dec.kv_dtype)
                            for _ in range(cfg.n_layer)]
            self.used = 0
        out = [b[self.used: self.used + n].view(shape) for b in self.buffers]
        self.used += n
        if zero:
            for t in out:
                t.zero_()
        return out


def move_rows(cache: list[torch.Tensor], pairs: list[tuple[int, int]], first: int,
              col: int) -> None:
    """Copy, in every layer's (2, rows, heads, columns, head size) cache, columns
    [first, col) of row ``src`` to row ``dst`` for each ``(dst, src)`` of ``pairs`` (the
    destinations distinct, the sources distinct), as if all were read before any is
    written. Row by row, in an order that writes a row only once nobody still reads it,
    with one row staged per cycle: an indexed copy of the rows would allocate their
    size afresh, and its page faults cost several times the move itself."""
    src_of = {d: s for d, s in pairs if d != s}
    if not src_of or col <= first:
        return
    for kv in cache:
        pending = dict(src_of)
        readers = {s: d for d, s in pending.items()}  # row -> the row waiting to read it
        stash: torch.Tensor | None = None  # a row staged to break a cycle
        free = [d for d in pending if d not in readers]  # written by nobody's loss
        while pending:
            if not free:  # only cycles left: stage one row, which breaks its cycle
                row = next(iter(pending))
                stash = kv[:, row, :, first:col].clone()
                pending[readers.pop(row)] = -1  # its reader reads the staged copy
                free.append(row)
            d = free.pop()
            s = pending.pop(d)
            if s == -1:
                assert stash is not None
                kv[:, d, :, first:col].copy_(stash)
                continue
            kv[:, d, :, first:col].copy_(kv[:, s, :, first:col])
            readers.pop(s, None)
            if s in pending:  # s has been read: it may be written now
                free.append(s)


def place_prefills(cache: list[torch.Tensor], real: torch.Tensor, logits: torch.Tensor,
                   col: int, groups: list[tuple[list[tuple[int, ...]], torch.Tensor,
                                               list[torch.Tensor], torch.Tensor | None]],
                   rows: list[tuple[int, tuple[int, ...]]]) -> None:
    """Copy each prefill group's keys/values (prompts, next-token logits (U, V), cache of
    width P, (U, P) mask of real slots or None) into the ``(row, prompt)`` rows that take
    its prompts, right-aligned before column ``col``, with their masks and logits."""
    for prompts, group_logits, tmp, real_u in groups:
        where = {p: u for u, p in enumerate(prompts)}
        mine = [(r, where[p]) for r, p in rows if p in where]
        d = torch.tensor([r for r, _ in mine])
        src = torch.tensor([u for _, u in mine])
        P = tmp[0].shape[3]
        c0 = col - P
        for dw, sw in waves(mine, len(prompts)):  # index_copy_: no gather/scatter
            for kv, t in zip(cache, tmp, strict=True):
                kv.narrow(3, c0, P).index_copy_(1, dw, t if sw is None
                                                else t.index_select(1, sw))
        real[d] = False
        real[d, c0:col] = real_u[src] if real_u is not None else True
        logits[d] = group_logits[src]


def waves(pairs: list[tuple[int, int]], n: int
          ) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
    """``(row, prompt)`` pairs (rows distinct, prompts in range(n), each any number of
    times) in waves of distinct prompts: the k-th row of each prompt in wave k, as the
    rows (a tensor) and the prompts, or None when they are exactly 0..n-1 in order (the
    prefill's own order: copied without a gather). m samples of each of the n prompts are
    m waves, none gathered."""
    groups: list[list[tuple[int, int]]] = []
    seen: dict[int, int] = {}
    for r, u in pairs:
        k = seen[u] = seen.get(u, -1) + 1
        if k == len(groups):
            groups.append([])
        groups[k].append((r, u))
    out = []
    for w in groups:
        us = [u for _, u in w]
        out.append((torch.tensor([r for r, _ in w]),
                    None if us == list(range(n)) else torch.tensor(us)))
    return out


def _grow(have: int, need: int, least: int, most: int | None = None) -> int:
    """A buffer dimension's new size: ``have`` doubled (capped at ``most``, never below
    ``need`` or ``least``) when short of ``need``, else unchanged."""
    if need <= have:
        return have
    return max(need, min(2 * have, most) if most else 2 * have, least)


def _first_used(span: torch.Tensor, default: int) -> int:
    """The first column of the (rows, columns) 0/1 ``span`` set in some row (``default``
    if none). Reduced as bytes: torch's reductions over a strided bool slice run about
    ten times slower than ``amax`` / ``amin`` over the same bytes, and the engine asks
    this whenever rows come or go."""
    if not span.numel():
        return default
    used = span.amax(dim=0).nonzero()
    return int(used[0]) if len(used) else default


class Segment(NamedTuple):
    """Rows [a, b) of a decoding step, attending from cache column ``first``."""

    a: int
    b: int
    first: int
    dense: bool


def _row_starts(span: torch.Tensor, default: int) -> list[int]:
    """The first column each row of the (rows, columns) 0/1 ``span`` holds (``default``
    for a row that holds none)."""
    if not span.numel():
        return [default] * span.shape[0]
    held = span.amax(dim=1).bool().tolist()
    return [s if h else default for s, h in zip(span.argmax(dim=1).tolist(), held,
                                                strict=True)]


def _cost(starts: list[int], runs: list[tuple[int, int]], end: int) -> int:
    """Row-columns a step reads when each run attends from its earliest start."""
    return sum((b - a) * (end - min(starts[a:b])) for a, b in runs if b > a)


def _best_split(starts: list[int], a: int, b: int, end: int) -> tuple[int, int]:
    """The split point k of rows [a, b) into [a, k) and [k, b) that saves the most
    reads, and how many it saves (0 and 0 when no split saves any)."""
    n = b - a
    if n < 2:
        return 0, 0
    fwd, m = [], end
    for s in starts[a:b]:
        m = min(m, s)
        fwd.append(m)
    bwd, m = [0] * n, end
    for i in range(n - 1, -1, -1):
        m = min(m, starts[a + i])
        bwd[i] = m
    whole = n * (end - fwd[-1])
    best, at = 0, 0
    for i in range(1, n):
        saved = whole - i * (end - fwd[i - 1]) - (n - i) * (end - bwd[i])
        if saved > best:
            best, at = saved, a + i
    return at, best


def split_rows(starts: list[int], end: int, max_segments: int | None = None,
               min_reads: int | None = None) -> list[tuple[int, int]]:
    """Contiguous runs of rows covering ``range(len(starts))`` such that a decoding step
    attending, for each run, from its earliest ``starts`` to ``end`` reads few columns:
    the run with the most to gain is split at its best point, up to ``max_segments``
    runs, while a split saves at least ``min_reads`` row-columns (a run costs one more
    forward call). Rows in order of their start split best (``_sort_rows``)."""
    max_segments = MAX_SEGMENTS if max_segments is None else max_segments
    min_reads = SEGMENT_MIN_READS if min_reads is None else min_reads
    runs = [(0, len(starts))]
    best = {runs[0]: _best_split(starts, 0, len(starts), end)}
    while len(runs) < max_segments:
        run = max(runs, key=lambda r: best[r][1])
        at, saved = best[run]
        if saved < max(min_reads, 1):
            break
        runs.remove(run)
        for new in ((run[0], at), (at, run[1])):
            runs.append(new)
            best[new] = _best_split(starts, new[0], new[1], end)
    return sorted(runs)

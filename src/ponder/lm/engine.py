"""Continuous batching: the one generation loop of the built-in model, shared by every
caller.

Callers on any thread submit ``Request`` s (one sampled continuation each) and wait on
their futures; a single worker thread owns the model and runs a loop of

    admit  -> pending requests fill free rows: their distinct prompts are prefilled
              once (the ``n`` samples of a prompt, the expansions of a search node
              share it) and their keys/values copied into the rows; a prompt that
              continues a stored sequence by a few tokens (a beam's next step) gets
              the stored keys/values in its row and decodes the rest with the batch;
    sample -> one token for every active row, each with its own temperature, nucleus,
              seed, stop strings and token limit; finished rows hand their
              ``Completion`` to the caller and free their row;
    decode -> one forward step over the active rows.

New requests join between two steps, while other rows are mid-way (continuous
batching, Yu et al. 2022, "Orca"), so a batch stays full while callers come and go:
the problems of an evaluation, the concurrent strategies of a scaling run, the clients
of the server.

Cache layout. Every row writes the same cache column at each step (one slice copy, as
``FusedDecoder`` expects), so rows are aligned on the right: a prompt admitted at
column ``c`` occupies columns ``[c - len, c)``. A boolean mask per row marks the columns
holding its tokens; rotary positions are per row, so a row's tokens need not be
contiguous. A decoding step splits the rows into a few contiguous runs and each run
attends from the first column one of its rows holds, so a row admitted late does not
read the columns of the oldest one (``layout.split_rows``; the rows are put in order of
their first column when that saves more reads than the move costs); when the columns
run out, or when every active row has left the first half of them unused, the filled
span is shifted to column 0, and the column count grows only when the live span needs
it (``ponder.lm.layout`` keeps these buffers).

A decoder with digit-index embeddings gets each row's run of digits beside its token
(``ponder.lm.digits``), set at admission and advanced with every token sampled or fed.

A decoder with ``scratch`` columns (a Quiet-STaR model's, ``ponder.quietstar.thinking``)
is asked to ``think`` before every sampling step: it may write that many columns past the
live span and returns the logits to sample from; those columns never count as a row's.

Randomness belongs to the request: a row draws Gumbel noise in blocks from its own
generator seeded by the request, exactly as ``Sampler`` always has, so a sample does not
depend on which rows share its batch (beyond floating-point rounding) and reruns repeat.
"""

from __future__ import annotations

import atexit
import threading
import time
import weakref
from collections import Counter, deque
from concurrent.futures import Future
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from ponder.lm import layout, threads
from ponder.lm.base import Cancelled, Completion
from ponder.lm.digits import trailing_run
from ponder.lm.layout import NOISE_BLOCK, CacheArena, RowLayout
from ponder.lm.prefix import FEED_MAX, PrefixStore, keep_row, prefill_many, split_hits
from ponder.lm.sampling import gumbel_choice

if TYPE_CHECKING:
    from ponder.lm.fused import FusedDecoder
    from ponder.lm.sampler import Sampler

_ENGINES: weakref.WeakSet[Engine] = weakref.WeakSet()


@atexit.register
def _stop_all() -> None:
    """Let every worker leave its loop before the interpreter tears torch down."""
    for engine in list(_ENGINES):
        engine.close()


@dataclass(eq=False)
class Request:
    """One continuation to sample. ``prompt`` is token ids (BOS included if wanted);
    ``eos`` is the id that ends it (-1: none); ``cancelled``, when set, drops it."""

    prompt: tuple[int, ...]
    limit: int
    seed: int
    temperature: float = 1.0
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    eos: int = -1
    cancelled: threading.Event | None = None
    future: Future = field(default_factory=Future)


@dataclass(eq=False)
class _Row:
    req: Request
    gen: torch.Generator
    share: int  # rows that shared this row's prefill
    toks: list[int] = field(default_factory=list)
    lps: list[float] = field(default_factory=list)
    stop_ends: frozenset[int] = frozenset()
    feed: deque[int] = field(default_factory=deque)  # prompt tokens still to decode


class Engine(RowLayout):
    """Continuous batching over ``sampler``'s model (see the module docstring).

    ``sampler.max_batch`` bounds the rows decoded together, and so does ``sampler.cache_bytes``
    for the cache they need; ``sampler.prefix_bytes`` for the keys/values of finished sequences
    kept for prompts that extend them; the prefills of an admission write into memory kept for
    the next (``arena``: up to twice the largest admission's prompts). Counters for benchmarks
    and tests: ``steps`` (decode steps), ``row_steps`` (active rows summed over them),
    ``peak_rows``, ``prefix_hits``, ``prefix_tokens_saved``, and the cache columns decoding
    attended over (``kv_read``: decoded rows times the span from the first live column) against
    those holding the active rows' own tokens (``kv_live``): their ratio is the share of
    attention reads that were needed. ``seconds`` adds up the worker's time by phase: ``admit``
    (prefills and copies into rows), ``sample`` (choosing tokens, finishing rows), ``layout``
    (moving rows and columns, splitting into runs) and ``forward`` (the decoding steps' forward
    calls). ``log``, when set to a list, receives ``(prompt ids, tokens generated,
    temperature)`` for every request that completes, so that a benchmark can replay the same
    work.
    """

    def __init__(self, sampler: Sampler):
        self.sampler = sampler
        self.log: list[tuple[tuple[int, ...], int, float]] | None = None
        self.steps = self.row_steps = self.peak_rows = 0
        self.seconds: Counter[str] = Counter()
        self.prefix_hits = self.prefix_tokens_saved = 0
        self.kv_read = self.kv_live = 0
        self.prefixes = PrefixStore(sampler.prefix_bytes)
        self.feed_max = FEED_MAX  # at most this many tokens past a stored prefix are fed
        self.arena = CacheArena()  # the prefills' caches, until copied into rows
        self._pending: deque[Request] = deque()
        self._cv = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._threads = threads.current_threads()
        self._reset()
        _ENGINES.add(self)

    # -- callers' side -------------------------------------------------------------------

    def submit(self, requests: list[Request]) -> None:
        """Queue ``requests``; each one's ``future`` gets its ``Completion`` (or the
        error that stopped it)."""
        with self._cv:
            # the worker computes with up to as many threads as the caller asked torch
            # for (OpenMP's setting is per thread, so a new thread would not inherit it)
            self._threads = threads.current_threads()
            self._closed = False
            self._pending.extend(requests)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="ponder-engine",
                                                daemon=True)
                self._thread.start()
            self._cv.notify()

    def close(self) -> None:
        """Stop the worker once the queue and the rows are empty (a later ``submit``
        starts a new one; an idle worker also stops by itself, see ``ponder.lm.threads``)."""
        with self._cv:
            self._closed = True
            self._cv.notify()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=10)

    # -- the worker ----------------------------------------------------------------------

    def _reset(self) -> None:
        self.rows: list[_Row | None] = []
        self.cache: list[torch.Tensor] = []
        self.dec: FusedDecoder | None = None
        self.col = 0  # the column the next decode step writes
        self.hi = 0  # rows [0, hi) are decoded; free rows below hi are holes
        self.n_active = 0  # rows holding a request
        self.n_feeding = 0  # rows still decoding the rest of their prompt
        self._admitting: list[Request] = []  # taken from the queue, not yet in a row
        self._segs = None

    def _loop(self) -> None:
        with torch.inference_mode():
            while True:
                with self._cv:
                    while not self._pending and not self.n_active:
                        idle = not self._cv.wait(timeout=threads.IDLE_EXIT_S)
                        if self._closed or idle and not self._pending:
                            self._thread = None  # under the lock: submit starts another
                            self.arena.release()
                            return
                try:
                    self._cycle()
                except BaseException as e:  # hand the error to everyone waiting
                    with self._cv:
                        waiting = ([r.req for r in self.rows if r] + self._admitting
                                   + list(self._pending))
                        self._pending.clear()
                    self._reset()
                    for req in waiting:
                        if not req.future.done():
                            req.future.set_exception(e)

    def _cycle(self) -> None:
        if not self.n_active:
            self._fresh_weights()
        self._set_threads()
        t0 = time.perf_counter()
        if self._pending:
            self._admit()
        t1 = time.perf_counter()
        if self.n_active:
            self._sample()
        t2 = time.perf_counter()
        self.seconds["admit"] += t1 - t0
        self.seconds["sample"] += t2 - t1
        if self.n_active:
            self._decode()  # counts its own phases
        else:
            self.hi = self.col = 0

    def _set_threads(self) -> None:
        """The caller's torch threads for a step with enough work, else one
        (``ponder.lm.threads``); rows waiting to be admitted count as work."""
        rows = min(self.n_active + len(self._pending), self.sampler.max_batch)
        threads.use_threads(threads.worker_threads(rows * self.sampler._flops[0],
                                                   self._threads))

    def _fresh_weights(self) -> None:
        """Between batches: the decoder follows weight updates (an RL step), and the
        FLOP terms of the model are read once."""
        s = self.sampler
        self.dec = s.decoder()
        f0 = s.model.flops_per_token(0)
        s._flops = (f0, s.model.flops_per_token(1) - f0)

    def _take(self) -> list[Request]:
        """Pending requests that fit the free rows, in arrival order."""
        taken: list[Request] = []
        if not self._pending:
            return taken
        live = [self.rows[r].req for r in self._active()]  # type: ignore[union-attr]
        longest = max((len(q.prompt) + q.limit for q in live), default=1)
        with self._cv:
            while self._pending:
                req = self._pending[0]
                if req.cancelled is not None and req.cancelled.is_set():
                    self._pending.popleft().future.set_exception(Cancelled())
                    continue
                if req.limit <= 0:
                    self._pending.popleft().future.set_result(
                        Completion("", len(req.prompt), 0, 0.0, [], "length"))
                    continue
                need = max(longest, len(req.prompt) + req.limit)
                if len(live) + len(taken) + 1 > self._capacity(need):
                    break
                longest = need
                taken.append(self._pending.popleft())
        return taken

    def _admit(self) -> None:
        taken = self._admitting = self._take()
        if not taken:
            return
        s, dec = self.sampler, self.dec
        assert dec is not None
        uniq = list(dict.fromkeys(q.prompt for q in taken))
        # a thinking decoder draws from a row's generator at every step: no feeding there
        cold, hot, fed = split_hits(self.prefixes, uniq, 0 if dec.scratch else self.feed_max)
        # (prompts, logits (U, V), cache of width P, (U, P) mask of real slots or None)
        groups: list[tuple[list[tuple[int, ...]], torch.Tensor, list[torch.Tensor],
                           torch.Tensor | None]] = []
        self.arena.reset()  # the last admission's prefill caches are no longer read
        new_cache = partial(self.arena.new_cache, dec)
        for p, (known, _) in [*hot, *fed.items()]:
            s.prefill_tokens += len(p) - known
            self.prefix_hits += 1
            self.prefix_tokens_saved += known
        while hot:  # continuations of stored sequences, in batches of bounded width
            width, n = len(hot[0][0]), 1
            while n < len(hot) and (n + 1) * width <= layout.PREFILL_TOKENS:
                n += 1
            part, hot = hot[:n], hot[n:]
            logits, tmp, real = prefill_many(dec, [p for p, _ in part], [h for _, h in part],
                                             new_cache)
            groups.append(([p for p, _ in part], logits, tmp, real))
        if cold:
            logits, tmp, _, real_u = s._prefill(dec, cold, new_cache)
            groups.append((cold, logits, tmp, real_u))
        self.col = max([self.col] + [g[2][0].shape[3] for g in groups]
                       + [known for known, _ in fed.values()])
        free = [r for r in range(self.hi) if self.rows[r] is None]
        free += range(self.hi, self.hi + len(taken) - len(free))
        dst = free[: len(taken)]
        self._ensure(rows=max(dst) + 1, cols=self.col + 1 + dec.scratch)
        self.hi = max(self.hi, max(dst) + 1)
        self.n_active += len(taken)
        self.peak_rows = max(self.peak_rows, self.n_active)
        self._segs = None
        layout.place_prefills(self.cache, self.real, self.logits, self.col, groups,
                              [(r, q.prompt) for r, q in zip(dst, taken, strict=True)])
        d = torch.tensor(dst)
        known = [fed[q.prompt][0] if q.prompt in fed else len(q.prompt) for q in taken]
        self.pos[d] = torch.tensor(known)
        self.noise_t[d] = 0
        if dec.digits is not None:  # the run of digits each row's fed part ends with
            self.run[d] = torch.tensor([trailing_run(q.prompt[:k], dec.digit_first)
                                        for q, k in zip(taken, known, strict=True)])
        self.temp[d] = torch.tensor([q.temperature for q in taken], dtype=self.temp.dtype)
        self.top_p[d] = torch.tensor([q.top_p for q in taken], dtype=self.top_p.dtype)
        shares = Counter(q.prompt for q in taken)
        ends: dict[tuple[str, ...], frozenset[int]] = {}  # token ids a stop string may end in
        for r, q in zip(dst, taken, strict=True):
            if q.stop not in ends:
                ends[q.stop] = frozenset(i for i, piece in enumerate(s.pieces)
                                         if any(x[-1] in piece for x in q.stop))
            row = self.rows[r] = _Row(q, torch.Generator().manual_seed(q.seed),
                                      shares[q.prompt], stop_ends=ends[q.stop])
            if q.prompt in fed:  # the stored part in place; the rest is fed by decoding
                known, kv = fed[q.prompt]
                for dst_kv, t in zip(self.cache, kv, strict=True):
                    dst_kv[:, r, :, self.col - known:self.col] = t
                self.real[r] = False
                self.real[r, self.col - known:self.col] = True
                row.feed = deque(q.prompt[known:])
                self.n_feeding += 1
        self._admitting = []

    def _sample(self) -> None:
        hi, dec = self.hi, self.dec
        assert dec is not None
        logits = self.logits[:hi]
        if dec.scratch:  # a thinking decoder: a thought before the token (Quiet-STaR)
            logits = dec.think(logits, self.cache, self.col, self.real[:hi], self.pos[:hi],
                               [r.gen if r else None for r in self.rows[:hi]])
        logp = F.log_softmax(logits, dim=-1)
        tok = logp.argmax(dim=-1)
        act = self._active()
        if self.n_feeding:  # rows decoding the rest of their prompt sample nothing yet
            act = self._feed(act, tok)
            if not act:
                self._set_tok(tok)
                return
        act_t = torch.tensor(act)
        sr = act_t[self.temp[act_t] > 0]
        if len(sr):
            # a fresh block of noise where a row's block is used up
            for r in sr[self.noise_t[sr] % NOISE_BLOCK == 0].tolist():
                row = self.rows[r]
                assert row is not None
                u = torch.rand(NOISE_BLOCK, logits.shape[-1], generator=row.gen)
                self.noise[r] = -torch.log(-torch.log(u))
            noise = self.noise[sr, self.noise_t[sr] % NOISE_BLOCK]
            tok[sr] = gumbel_choice(logits[sr], self.temp[sr], self.top_p[sr], noise)
            self.noise_t[sr] += 1
        lp = logp.gather(-1, tok[:, None]).squeeze(-1)
        self._set_tok(tok)
        done: list[int] = []  # rows that finished this step, freed together below
        for r, x, v in zip(act, tok[act_t].tolist(), lp[act_t].tolist(), strict=True):
            row = self.rows[r]
            assert row is not None
            q = row.req
            row.toks.append(x)
            row.lps.append(v)
            if q.cancelled is not None and q.cancelled.is_set():
                done.append(r)
                q.future.set_exception(Cancelled())
                continue
            reason = None
            if x == q.eos:
                reason = "eos"
            elif x in row.stop_ends and self.sampler._stopped(row.toks, list(q.stop)):
                reason = "stop"
            elif len(row.toks) == q.limit:
                reason = "length"
            if reason is not None:
                if self.log is not None:
                    self.log.append((q.prompt, len(row.toks), q.temperature))
                if self.prefixes.max_bytes:  # the next step of a beam, a node's children
                    keep_row(self.prefixes, self.cache, self.real[r], r,
                             q.prompt + tuple(row.toks[:-1]), self.col)
                done.append(r)
                q.future.set_result(self.sampler._completion(
                    len(q.prompt), row.toks, row.lps, reason, list(q.stop), share=row.share))
        if done:
            self._free(done)

    def _feed(self, act: list[int], tok: torch.Tensor) -> list[int]:
        """Set the next prompt token of each row still feeding its prompt, and return
        the rows that sample (a cancelled feeding row is dropped here)."""
        sampling, done = [], []
        for r in act:
            row = self.rows[r]
            assert row is not None
            if not row.feed:
                sampling.append(r)
            elif row.req.cancelled is not None and row.req.cancelled.is_set():
                done.append(r)
                row.req.future.set_exception(Cancelled())
            else:
                tok[r] = row.feed.popleft()
                self.n_feeding -= not row.feed
        if done:
            self._free(done)
        return sampling

    def _free(self, rows: list[int]) -> None:
        self._segs = None
        self.n_active -= len(rows)
        for r in rows:
            row = self.rows[r]
            if row is not None and row.feed:
                self.n_feeding -= 1
            self.rows[r] = None
        idx = torch.tensor(rows)
        self.real[idx] = False
        self.temp[idx] = 0.0

    def _decode(self) -> None:
        t0 = time.perf_counter()
        self._compact_rows()
        self._room()
        hi = self.hi
        while self.rows[hi - 1] is None:  # free rows at the top need no decoding
            hi -= 1
        self.hi = hi
        col = self.col
        self.real[:hi, col] = True  # holes too: a row that sees nothing would give NaN
        assert self.dec is not None
        segments = self._segments()  # may put the rows in a new order
        t1 = time.perf_counter()
        for a, b, first, dense in segments:
            # each run of rows attends from the first column one of them holds
            self.logits[a:b] = self.dec.decode(self.tok, self.pos, self.cache, self.real,
                                               a, b, first, col, not dense,
                                               None if self.dec.digits is None else self.run)
            self.kv_read += (b - a) * (col + 1 - first)
        self.seconds["layout"] += t1 - t0
        self.seconds["forward"] += time.perf_counter() - t1
        hi = self.hi
        self.pos[:hi] += 1
        self.col += 1
        self.steps += 1
        self.row_steps += self.n_active
        self.kv_live += sum(len(r.req.prompt) + len(r.toks) - len(r.feed)
                            for r in self.rows[:hi] if r)

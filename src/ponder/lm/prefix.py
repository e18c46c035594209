"""The prefix store of the generation engine: keys/values of finished sequences, found
again by the longest run of a new prompt's first tokens (``ponder.lm.engine``)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import torch

from ponder.lm.digits import sequence_runs

MIN_PREFIX = 16  # shorter finished sequences are not kept for reuse
# a prompt that continues a stored sequence by at most this many tokens is not prefilled:
# the stored keys/values go straight into its row and decoding steps feed the rest
FEED_MAX = 8


class _Node:
    __slots__ = ("children", "count", "entry")

    def __init__(self) -> None:
        self.children: dict[int, _Node] = {}
        self.count = 0  # stored sequences passing through this node
        self.entry: tuple[int, ...] | None = None  # one of them


class PrefixStore:
    """Keys/values of finished sequences in a token trie, least recently used dropped
    first once they hold more than ``max_bytes``. ``longest(prompt)`` finds the longest
    run of ``prompt``'s first tokens that some stored sequence starts with (one token
    at least is left to run, for its logits): the siblings of a search node share their
    parent's steps, the next step of a beam extends its last one."""

    def __init__(self, max_bytes: int):
        self.max_bytes, self.bytes = max_bytes, 0
        self.entries: OrderedDict[tuple[int, ...], list[torch.Tensor]] = OrderedDict()
        self.root = _Node()

    def put(self, key: tuple[int, ...], kv: list[torch.Tensor]) -> None:
        """Store ``kv`` under ``key``; a key already stored is only marked as recently
        used (``kv`` is then ignored)."""
        if key in self.entries:
            self.entries.move_to_end(key)
            return
        self.entries[key] = kv
        self.bytes += _nbytes(kv)
        node = self.root
        for t in key:
            node = node.children.setdefault(t, _Node())
            node.count += 1
            node.entry = key
        while self.bytes > self.max_bytes and self.entries:
            self._drop(next(iter(self.entries)))

    def _drop(self, key: tuple[int, ...]) -> None:
        self.bytes -= _nbytes(self.entries.pop(key))
        path = [self.root]
        for t in key:
            path.append(path[-1].children[t])
        for depth in range(len(key), 0, -1):  # deepest first: children are settled
            node, parent = path[depth], path[depth - 1]
            node.count -= 1
            if not node.count:
                del parent.children[key[depth - 1]]
            elif node.entry == key:  # another sequence passes on, or ends right here
                child = next(iter(node.children.values()), None)
                node.entry = child.entry if child is not None else key[:depth]

    def longest(self, prompt: tuple[int, ...]) -> tuple[int, list[torch.Tensor]] | None:
        node, depth = self.root, 0
        for t in prompt[:-1]:
            nxt = node.children.get(t)
            if nxt is None:
                break
            node, depth = nxt, depth + 1
        if not depth or node.entry is None:
            return None
        self.entries.move_to_end(node.entry)
        return depth, [t.narrow(2, 0, depth) for t in self.entries[node.entry]]


def keep_row(store: PrefixStore, cache: list[torch.Tensor], real: torch.Tensor, r: int,
             key: tuple[int, ...], col: int) -> None:
    """Store the keys/values that row ``r`` of an engine's ``cache`` holds for ``key``
    (its prompt and every sampled token but the last, which was never fed back; ``real``
    marks the row's columns, the last one decoded is ``col - 1``), for prompts that
    continue it: the next step of a beam, a node's children in MCTS, a revision."""
    if len(key) < MIN_PREFIX:
        return
    if key in store.entries:  # the same text again: no copy needed
        store.put(key, [])
        return
    start = col - len(key)
    if start >= 0 and bool(real[start:col].all()):  # one run: a slice
        store.put(key, [kv[:, r, :, start:col].clone() for kv in cache])
        return
    cols = real.nonzero().squeeze(1)  # a prefix continued after a gap
    if len(cols) != len(key):  # pragma: no cover - a bookkeeping error, not input
        return
    store.put(key, [kv[:, r].index_select(2, cols) for kv in cache])


Hit = tuple[int, list[torch.Tensor]]


def split_hits(store: PrefixStore, prompts: list[tuple[int, ...]], feed_max: int
               ) -> tuple[list[tuple[int, ...]], list[tuple[tuple[int, ...], Hit]],
                          dict[tuple[int, ...], Hit]]:
    """Sort ``prompts`` by what the store holds of them: (cold: prefilled whole; hot:
    prefilled after their stored part, longest first; fed: at most ``feed_max`` tokens
    past their stored part, left to decoding steps). A short shared head (the same
    instructions) is not worth a hit."""
    cold, hot, fed = [], [], {}
    for prompt in prompts:
        hit = store.longest(prompt)
        if hit is None or hit[0] < max(MIN_PREFIX, len(prompt) // 2):
            cold.append(prompt)
        elif len(prompt) - hit[0] <= feed_max:
            fed[prompt] = hit
        else:
            hot.append((prompt, hit))
    hot.sort(key=lambda h: -len(h[0]))
    return cold, hot, fed


def _nbytes(kv: list[torch.Tensor]) -> int:
    return sum(t.numel() * t.element_size() for t in kv)


def prefill_many(dec: Any, prompts: list[tuple[int, ...]],
                 hits: list[tuple[int, list[torch.Tensor]]],
                 new_cache: Callable[..., list[torch.Tensor]] | None = None
                 ) -> tuple[torch.Tensor, list[torch.Tensor], torch.Tensor]:
    """Prefill ``prompts`` in one decoder call when each one's first ``known`` tokens
    have stored keys/values (``hits[u] = (known, kv)``, from ``PrefixStore.longest``):
    only the rest of each prompt goes through the decoder ``dec``.

    Row u's stored prefix is placed right-aligned before column K (the longest prefix),
    its new tokens right-aligned in the T columns after it (T: the most new tokens), so
    every row writes the same columns; rotary positions are per token, so the gap of
    padding between the two parts changes nothing. Returns the next-token logits (U, V),
    the cache of width K + T and the (U, K + T) mask of the slots holding each prompt.
    ``new_cache(batch, width)`` makes that cache (default: ``dec.new_cache``)."""
    knowns = [k for k, _ in hits]
    news = [len(p) - k for p, k in zip(prompts, knowns, strict=True)]
    U, K, T = len(prompts), max(knowns), max(news)
    W = K + T
    cache = (new_cache or dec.new_cache)(U, W)
    real = torch.zeros(U, W, dtype=torch.bool)
    ids = torch.zeros(U, T, dtype=torch.long)  # padding: any id, never attended to
    pos = torch.zeros(U, T, dtype=torch.long)
    # a model with digit-index embeddings: each token's run of digits in the whole prompt
    digits = (torch.zeros(U, T, dtype=torch.long)
              if getattr(dec, "digits", None) is not None else None)
    for u, (prompt, (k, kv), n) in enumerate(zip(prompts, hits, news, strict=True)):
        for c, t in zip(cache, kv, strict=True):
            c[:, u, :, K - k:K] = t
        real[u, K - k:K] = True
        real[u, W - n:] = True
        ids[u, T - n:] = torch.tensor(prompt[k:])
        pos[u, T - n:] = torch.arange(k, len(prompt))
        if digits is not None:
            digits[u, T - n:] = torch.tensor(sequence_runs(prompt, dec.digit_first)[k:])
    slots = torch.arange(W)
    queries = slots[K:, None]  # (T, 1): the slot each new token is written to
    # causal over the prompt's own slots; a padding query sees itself (never nothing)
    mask = (real[:, None, :] & (slots <= queries)) | (slots == queries)  # (U, T, W)
    logits = dec(ids, pos, cache, K, mask[:, None], digits=digits)
    return logits, cache, real

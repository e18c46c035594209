"""Packed batches: rows of exactly ``T`` tokens filled with whole examples, no compute
spent on padding.

A window of upcoming examples is packed into rows by first-fit-decreasing (longest
example first, into the first row with room); each row is the examples concatenated in
stream order, ``<bos> prompt completion <eos> <bos> prompt ...``, and only the space
left at the end of a row is padding (target -1). The loss mask stays on completion
tokens, so the ``<eos> -> <bos>`` seam between two examples is never a target.

Where this departs from test time: ``Transformer.forward`` has no document mask, so
attention is causal over the whole row (an example also sees the ones packed before it)
and positions run 0..T-1 along the row instead of restarting per example. This is how
GPT-2 and nanoGPT pretrain; every example opens with ``<bos>``, which the model learns to
treat as a reset, and RoPE makes attention depend only on relative positions.

Resuming stays exact: the rows of a window are a pure function of the stream, the seed
and the window's first example, so a run position is ``(window start, rows taken)``.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import torch

from ponder.errors import InvalidInput
from ponder.lm.tokenizer import CharTokenizer
from ponder.train.data import Batch, Encoded, ExampleStream, Segment, encode_example

#: examples packed together; ~1000 examples of mixed lengths leave under 1% padding
PACK_WINDOW = 1024


def first_fit_decreasing(lengths: Sequence[int], capacity: int) -> list[list[int]]:
    """Bins of item indices, each holding at most ``capacity`` in total: items taken
    longest first (ties: lower index first), each into the first bin with room. Items
    inside a bin are listed in index order.

    >>> first_fit_decreasing([3, 5, 2, 4, 1], 6)
    [[1, 4], [2, 3], [0]]
    """
    if any(n > capacity for n in lengths):
        raise InvalidInput(f"an item of {max(lengths)} does not fit a bin of {capacity}")
    bins: list[list[int]] = []
    room: list[int] = []
    for i in sorted(range(len(lengths)), key=lambda i: (-lengths[i], i)):
        for b, free in enumerate(room):
            if lengths[i] <= free:
                bins[b].append(i)
                room[b] -= lengths[i]
                break
        else:
            bins.append([i])
            room.append(capacity - lengths[i])
    return [sorted(b) for b in bins]


def pack_batch(rows: Sequence[Sequence[tuple[Encoded, object]]], row_len: int,
               pad_id: int) -> Batch:
    """One batch of ``len(rows)`` rows of ``row_len`` next-token pairs; each row is a list
    of (encoded example, source) concatenated, whose tokens number at most ``row_len + 1``
    (a row of T inputs has T + 1 tokens: the last one is only a target)."""
    B = len(rows)
    idx = torch.full((B, row_len), pad_id, dtype=torch.long)
    targets = torch.full((B, row_len), -1, dtype=torch.long)
    mask = torch.zeros((B, row_len), dtype=torch.float32)
    segments: list[Segment] = []
    for r, row in enumerate(rows):
        ids = [t for (e, _), _ in row for t in e]
        m = [x for (_, em), _ in row for x in em]
        assert len(ids) <= row_len + 1, "a packed row overflows"
        n = len(ids) - 1
        idx[r, :n] = torch.tensor(ids[:-1])
        targets[r, :n] = torch.tensor(ids[1:])
        mask[r, :n] = torch.tensor(m[1:], dtype=torch.float32)
        start = 0
        for (e, _), source in row:  # the targets of example e's own tokens
            segments.append(Segment(r, start, start + len(e) - 1, source))
            start += len(e)
    return Batch(idx, targets, mask, segments)


class Packer:
    """Cuts a stream into batches of ``rows`` packed rows of ``row_len`` tokens.

    Window w holds examples ``start .. start + window - 1``; its rows come out of
    first-fit-decreasing in an order shuffled by ``(seed, start)`` (FFD puts the longest
    examples first). A batch takes the next ``rows`` rows, running on into the next
    window when one is used up, so no row is dropped.
    """

    def __init__(self, stream: ExampleStream, tok: CharTokenizer, rows: int, row_len: int,
                 window: int = PACK_WINDOW, seed: int = 0):
        self.stream, self.tok, self.seed = stream, tok, seed
        self.rows, self.row_len, self.window = rows, row_len, max(1, window)
        self._cache: tuple[int, list[list[tuple[Encoded, object]]]] | None = None

    def window_rows(self, start: int) -> list[list[tuple[Encoded, object]]]:
        """The packed rows of the window that begins at example ``start``."""
        if self._cache is None or self._cache[0] != start:
            examples = [self.stream[start + k] for k in range(self.window)]
            encoded = [encode_example(self.tok, ex) for ex in examples]
            too_long = max(len(ids) for ids, _ in encoded)
            if too_long > self.row_len + 1:
                raise InvalidInput(
                    f"a training example has {too_long} tokens, more than a packed row of "
                    f"{self.row_len + 1}; raise max_seq_len in the model config (or pack_len) "
                    f"or shorten the examples")
            bins = first_fit_decreasing([len(ids) for ids, _ in encoded], self.row_len + 1)
            random.Random(f"packed:{self.seed}:{start}").shuffle(bins)
            rows = [[(encoded[k], getattr(examples[k], "source", None)) for k in b]
                    for b in bins]
            self._cache = (start, rows)
        return self._cache[1]

    def __call__(self, start: int, row: int) -> tuple[Batch, int, int]:
        """The batch at run position (window ``start``, ``row`` rows of it taken) and the
        position after it."""
        taken: list[list[tuple[Encoded, object]]] = []
        while len(taken) < self.rows:
            rows = self.window_rows(start)
            need = self.rows - len(taken)
            taken += rows[row : row + need]
            row += need
            if row >= len(rows):
                start, row = start + self.window, 0
        return pack_batch(taken, self.row_len, self.tok.pad_id), start, row

"""Digit-index embeddings (Abacus, McLeish et al. 2024, "Transformers can do arithmetic
with the right embeddings"; in the spirit of position coupling, Cho et al. 2024).

Every digit token gets, besides its token embedding, a learned embedding of its index in
the run of digits it belongs to: 1 for a number's first digit, 2 for its second, and so
on; any other token gets index 0, whose embedding is fixed at zero. A step that copies a
number, or takes its last digit off, then finds the digit it needs by matching indices
instead of counting positions, which is what fails on numbers longer than any trained.
In training each row adds a random offset to its indices (drawn from
``[0, size // 2]``), so that the embeddings of high indices are trained on short numbers
too; at inference the offset is 0. Indices past the table's end share its last entry.

A run is counted causally (a token's index depends on the tokens before it only), so
decoding carries one number per row: the run of the last token (``next_run``). The
model's digits are the ten token ids from ``ModelConfig.digit_first``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

DIGITS = 10  # token ids digit_first .. digit_first + 9 are the digits 0-9


def is_digit(ids: torch.Tensor, first: int) -> torch.Tensor:
    """Whether each token id is one of the ten digits starting at ``first``."""
    return (ids >= first) & (ids < first + DIGITS)


def digit_runs(ids: torch.Tensor, first: int, carry: torch.Tensor | None = None
               ) -> torch.Tensor:
    """(B, T) long: for each token of ``ids`` (B, T), the number of digits in the run of
    consecutive digits that ends with it (0 for a token that is not a digit). ``carry``
    (B,) is each row's run just before its first token (a continued sequence)."""
    dig = is_digit(ids, first)
    count = dig.long().cumsum(dim=1)
    # the count at the last token that is not a digit, carried forward
    reset = torch.where(dig, 0, count).cummax(dim=1).values
    runs = count - reset
    if carry is not None:
        # tokens before the row's first non-digit continue the carried run
        leading = ~(~dig).long().cumsum(dim=1).bool()
        runs = runs + torch.where(leading, carry.to(runs.dtype)[:, None], 0)
    return runs


def next_run(run: torch.Tensor, tok: torch.Tensor, first: int) -> torch.Tensor:
    """The run after appending ``tok`` (B,) to sequences whose last run is ``run`` (B,)."""
    return torch.where(is_digit(tok, first), run + 1, 0)


def sequence_runs(seq: Sequence[int], first: int) -> list[int]:
    """``digit_runs`` of one sequence, as a list."""
    out, n = [], 0
    for t in seq:
        n = n + 1 if first <= t < first + DIGITS else 0
        out.append(n)
    return out


def trailing_run(seq: Sequence[int], first: int) -> int:
    """The run of digits ``seq`` ends with (its last token's run), read from the end."""
    return next((i for i, t in enumerate(reversed(seq)) if not first <= t < first + DIGITS),
                len(seq))


def offset_runs(runs: torch.Tensor, size: int, generator: torch.Generator | None = None
                ) -> torch.Tensor:
    """Training indices: each row's nonzero runs shifted by its own random offset from
    ``[0, size // 2]`` (non-digits stay 0)."""
    offsets = torch.randint(0, size // 2 + 1, (runs.shape[0], 1), generator=generator)
    return torch.where(runs > 0, runs + offsets, 0)

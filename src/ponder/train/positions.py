"""Randomized rotary positions for training rows (Ruoss et al. 2023, "Randomized
positional encodings boost length generalization of transformers").

A model trained on rows whose positions run 0..T-1 only ever sees relative distances up
to the longest example; at a longer problem the distances between a trace line and the
prompt facts it reads are ones it never attended over, even with relative (rotary)
encodings. With ``span`` s > 1 each row's positions are instead an ordered random sample
of T distinct integers from [0, s*T): the order is kept, the gaps vary, and distances up
to s times the row's occur in training. At test time positions stay 0..T-1, every gap
1: a scale the training rows (mean gap about s) rarely show. Measured as continued
training of the bundled model (span 1.25, ``reports/ablation_span*.json``), that
mismatch costs the trained levels: the model miscounts where its loop ends.
"""

from __future__ import annotations

import math

import torch

from ponder.errors import ConfigError


def random_positions(rows: int, length: int, span: float,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """(rows, length) long tensor: each row an increasing sample of ``length`` distinct
    positions from [0, ceil(span * length)); ``span`` 1 gives 0..length-1 in every row."""
    if span < 1:
        raise ConfigError(f"position span must be >= 1, got {span}")
    if rows < 0 or length < 0:
        raise ConfigError(f"rows and length must be >= 0, got {rows} and {length}")
    top = math.ceil(span * length)
    if top <= length:
        return torch.arange(length).expand(rows, length).clone()
    keys = torch.rand(rows, top, generator=generator)
    picked = keys.topk(length, dim=1).indices  # a uniform subset of each row's range
    return picked.sort(dim=1).values

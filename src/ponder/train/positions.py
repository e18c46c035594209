"""Randomized rotary positions for training rows (Ruoss et al. 2023, "Randomized
positional encodings boost length generalization of transformers").

A model trained on rows whose positions run 0..T-1 only ever sees one gap between
neighbours and relative distances up to the longest example. With ``span`` s > 1 each
row's positions are instead an ordered random sample of T distinct slots of [0, s*T),
divided by s: the order is kept, the gaps vary around a mean of 1, and a trace line and
the prompt facts it reads sit at distances the model cannot count on exactly. At test
time positions stay 0..T-1, every gap 1: the training mean.

Leaving the sample undivided (mean gap s in training, 1 at test) is what the first
measurement did, as 20 minutes of continued training of the bundled model: the trained
levels were lost (perm 0.052), and came back when the same model ran at its training
gaps (``ModelConfig.position_scale`` s: perm 1.000), ``reports/ablation_span*.json``.
"""

from __future__ import annotations

import math

import torch

from ponder.errors import ConfigError


def random_positions(rows: int, length: int, span: float,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """(rows, length) float tensor: each row an increasing sample of ``length`` distinct
    slots of [0, ceil(span * length)) divided by ``span``; ``span`` 1 gives 0..length-1
    in every row."""
    if span < 1:
        raise ConfigError(f"position span must be >= 1, got {span}")
    if rows < 0 or length < 0:
        raise ConfigError(f"rows and length must be >= 0, got {rows} and {length}")
    top = math.ceil(span * length)
    if top <= length:
        return torch.arange(length, dtype=torch.float32).expand(rows, length).clone()
    keys = torch.rand(rows, top, generator=generator)
    picked = keys.topk(length, dim=1).indices  # a uniform subset of each row's range
    return picked.sort(dim=1).values.float() / span

"""The mixing head (Quiet-STaR §4.3): how much of the post-thought prediction to use.

A shallow MLP reads the hidden state at a text position without a thought and the one at
the end of that position's thought (after the end-of-thought token, or after the
teacher-forced tokens that follow it) and outputs a weight ``w`` in [0, 1]; the mixed
next-token logits are ``(1 - w) * base + w * thought``. Early in training thoughts are
noise, so the head starts out trusting the base prediction.

Departures from the reference code: ``w`` is squashed by a sigmoid (the reference leaves
it unbounded and starts it at exactly 0 by zeroing the last layer); here the last layer's
weights are zero and its bias puts ``w`` at ``init_weight`` (default 0.05), so the head
starts near the base model and still gets a gradient. Mixing logits equals mixing the
hidden states before a bias-free output head, which the reference does.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn


class MixingHead(nn.Module):
    """[h_base; h_thought] (2C) -> C -> C -> 1 -> sigmoid, as deep as the reference's."""

    def __init__(self, hidden_size: int, init_weight: float = 0.05):
        super().__init__()
        if not 0.0 < init_weight < 1.0:
            raise ValueError(f"init_weight must be in (0, 1), got {init_weight}")
        c = hidden_size
        self.mlp = nn.Sequential(nn.Linear(2 * c, c), nn.ReLU(), nn.Linear(c, c), nn.ReLU(),
                                 nn.Linear(c, 1))
        last = self.mlp[-1]
        nn.init.zeros_(last.weight)
        nn.init.constant_(last.bias, math.log(init_weight / (1 - init_weight)))

    def forward(self, h_base: torch.Tensor, h_thought: torch.Tensor) -> torch.Tensor:
        """(..., C), (..., C) -> (..., 1) weights of the thought prediction."""
        x = torch.cat([h_base, h_thought.to(h_base.dtype)], dim=-1)
        return torch.sigmoid(self.mlp(x.to(self.mlp[0].weight.dtype)))


def mix(base_logits: torch.Tensor, thought_logits: torch.Tensor, w: torch.Tensor
        ) -> torch.Tensor:
    """(..., V) mixed logits; ``w`` (..., 1)."""
    return (1 - w) * base_logits + w * thought_logits

"""Compute accounting. Every strategy returns a Compute record; every accuracy-vs-compute
figure is built from them, so "better" always means "better at equal FLOPs"."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class Compute:
    """Cost of answering one problem."""

    prompt_tokens: int = 0  # policy prompt tokens processed (prefill)
    generated_tokens: int = 0  # policy tokens sampled
    scorer_tokens: int = 0  # tokens read by verifiers/PRMs/ORMs
    flops: float = 0.0  # policy + scorer forward FLOPs
    wall_time: float = 0.0  # seconds
    samples: int = 0  # number of policy completions drawn

    def __add__(self, other: Compute) -> Compute:
        return Compute(**{k: getattr(self, k) + getattr(other, k) for k in asdict(self)})

    def __iadd__(self, other: Compute) -> Compute:
        for k in asdict(self):
            setattr(self, k, getattr(self, k) + getattr(other, k))
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

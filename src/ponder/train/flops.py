"""Achieved FLOP/s of a training run and the machine's measured matmul peak (MFU).

Model FLOPs follow Kaplan et al. (2020) as ``Transformer.flops_per_token`` counts them
(forward: 2N + 2·n_layer·context·d_model), tripled for forward + backward (the backward
pass costs about twice the forward), on real (non-padding) tokens only; ``context`` is
the mean attended length, half the row for causal attention. The peak is what this
machine's BLAS reaches on large fp32 square matmuls at the run's thread count, measured
once per process and thread count, so MFU reads as "share of what matmuls can do here"
rather than of a datasheet number.
"""

from __future__ import annotations

import functools
import time

import torch


def train_flops_per_token(forward_flops_per_token: float) -> float:
    """Forward + backward FLOPs per token from the forward count (x3).

    >>> train_flops_per_token(2.0e6)
    6000000.0
    """
    return 3.0 * forward_flops_per_token


def attended_context(row_len: int) -> int:
    """Mean number of positions a token attends to in a causal row of ``row_len``, the
    ``context`` of ``Transformer.flops_per_token``.

    >>> attended_context(1024), attended_context(1)
    (512, 1)
    """
    return max(1, row_len // 2)


def mfu(flops_per_s: float, peak_flops: float) -> float:
    """Model FLOPs utilisation: achieved over peak (0 when the peak is unknown).

    >>> mfu(2e9, 8e9)
    0.25
    """
    return flops_per_s / peak_flops if peak_flops > 0 else 0.0


@functools.cache
def matmul_peak_flops(threads: int, n: int = 1024, seconds: float = 1.0,
                      dtype: torch.dtype = torch.float32) -> float:
    """Best FLOP/s of ``n x n`` matmuls in ``dtype`` over about ``seconds`` at
    ``threads`` CPU threads (the calling process's count is restored). A run's MFU is
    taken against the peak of the type its matmuls run in (bfloat16 under bf16
    autocast), else a bf16 run could exceed 1."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
        torch.mm(a, b)  # warm-up: allocation and kernel choice
        best, t_end = 0.0, time.perf_counter() + seconds
        while time.perf_counter() < t_end:
            t = time.perf_counter()
            torch.mm(a, b)
            best = max(best, 2.0 * n**3 / (time.perf_counter() - t))
        return best
    finally:
        torch.set_num_threads(before)

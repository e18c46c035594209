"""How the worker threads that run a model (the engine's, the batcher's) use torch
threads: shared rules of ``ponder.lm.engine`` and ``ponder.lm.batching``.

Two facts about OpenMP on a small machine set them, both measured by
``benchmarks/engine_threads.py`` on 2 cores:

- once the main thread has run parallel torch work (as any real program has), the
  OpenMP threads of any other thread wake slowly, and a small model's step is dozens of
  tiny operations, each a parallel region: two threads decoded a 1M-parameter model
  3.2x (16 rows) and 1.4x (64 rows) slower than one (through transformers, 3.6x at 16
  rows), a 12M-parameter model 1.06x slower at 16 rows and 1.28x faster at 64. A worker
  therefore computes with the caller's threads only for work of at least
  ``PARALLEL_FLOPS`` a step, else with one;
- an idle worker's OpenMP threads spin, taking the cores from torch work on other
  threads (an RL update after its rollouts): a forward on the main thread ran 1.68x
  slower beside an idle worker that had decoded a 1M-parameter model with two threads.
  A worker therefore ends after ``IDLE_EXIT_S`` without work, and the next call starts
  another.
"""

from __future__ import annotations

PARALLEL_FLOPS = 5e8  # matmul FLOPs of a step (rows x FLOPs a token) that pay for threads
IDLE_EXIT_S = 0.05  # seconds an idle worker waits for work before it ends


def worker_threads(step_flops: float, caller_threads: int) -> int:
    """Threads for a step of ``step_flops``: the caller's, or one for a small step."""
    return caller_threads if step_flops >= PARALLEL_FLOPS else 1


def current_threads() -> int:
    """This thread's torch threads: what a caller hands its worker."""
    import torch  # here, not at import: the command line starts without torch

    return torch.get_num_threads()


def use_threads(n: int) -> None:
    """Set this thread's torch threads (OpenMP's setting is per thread)."""
    import torch

    if torch.get_num_threads() != n:
        torch.set_num_threads(n)

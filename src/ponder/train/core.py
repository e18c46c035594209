"""The training core every trainer shares: precision, the learning-rate schedule, the
optimizer and its step, and a run directory that is opened, refused, resumed and saved
(by step and by time) the same way for SFT (``ponder.train.loop``), RL
(``ponder.train.rl``) and reward models (``ponder.train.prm``).

A trainer file then holds only what is specific to its algorithm: how one optimizer
step's loss is made (next-token loss on completions, a policy-gradient surrogate on a
rollout, a per-step classification loss) and what it logs.
"""

from __future__ import annotations

import contextlib
import functools
import math
import statistics
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch

from ponder.errors import ConfigError
from ponder.train.state import (
    METRICS,
    STATE,
    RunState,
    read_state,
    restore_state,
    save_state,
    truncate_metrics,
)

PRECISIONS = ("auto", "fp32", "bf16")


BF16_MIN_SPEEDUP = 2.0  # bf16 matmul speed-up over fp32 that pays for autocast's casts


def resolve_precision(precision: str) -> str:
    """"auto" -> "bf16" autocast where this CPU multiplies training-sized bfloat16
    matrices at least ``BF16_MIN_SPEEDUP`` times faster than float32, else "fp32".

    It depends on the CPU: where bfloat16 runs on AMX tile units, whole training steps
    measured 1.46x and 1.67x faster in bf16 (small and base presets, 2 threads,
    ``reports/train_throughput_presets.json``) with a lower held-out loss at equal
    time (``reports/ablation_precision.json``); an earlier measurement on another
    machine found bf16 autocast 2.8-3.1x slower than fp32, even where oneDNN reported
    native bf16. So "auto" measures rather than assumes. Runs record the precision they
    resolved to."""
    if precision != "auto":
        return precision
    return "bf16" if bf16_matmul_speedup() >= BF16_MIN_SPEEDUP else "fp32"


@functools.cache
def bf16_matmul_speedup() -> float:
    """float32 time over bfloat16 time of a (4096 x 256) @ (256 x 1024) product on this
    CPU: medians of three, the two kinds alternating (about 0.3 s, measured once)."""
    times: dict[torch.dtype, list[float]] = {torch.float32: [], torch.bfloat16: []}
    a32, b32 = torch.randn(4096, 256), torch.randn(256, 1024)
    pairs = {torch.float32: (a32, b32),
             torch.bfloat16: (a32.bfloat16(), b32.bfloat16())}
    for a, b in pairs.values():  # warm-up: kernel choice, allocation
        a @ b
    for _ in range(3):
        for dtype, (a, b) in pairs.items():
            t0 = time.perf_counter()
            a @ b
            times[dtype].append(time.perf_counter() - t0)
    return statistics.median(times[torch.float32]) / statistics.median(times[torch.bfloat16])


def autocast(precision: str) -> contextlib.AbstractContextManager:
    if precision == "bf16":
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def lr_factor(step: int, progress: float, warmup_steps: int, min_ratio: float) -> float:
    """Multiplier of the peak learning rate: linear warm-up over the first
    ``warmup_steps`` steps, cosine decay from 1 to ``min_ratio`` as ``progress`` (the
    fraction of the budget spent after warm-up) goes from 0 to 1, whichever is lower,
    so that a time budget running out during warm-up still ends at the floor.
    ``min_ratio`` 1 is a constant rate after warm-up.

    >>> lr_factor(0, 0.0, 10, 0.1), lr_factor(10, 0.0, 10, 0.1), lr_factor(99, 1.0, 10, 0.1)
    (0.1, 1.0, 0.1)
    """
    p = min(max(progress, 0.0), 1.0)
    cosine = min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * p))
    return min((step + 1) / warmup_steps, cosine) if step < warmup_steps else cosine


def step_progress(step: int, steps: int, warmup_steps: int) -> float:
    """Fraction of a step budget spent after warm-up (the cosine's ``progress``)."""
    return (step - warmup_steps) / max(1, steps - warmup_steps)


def make_optimizer(groups: Iterable[Any], lr: float) -> torch.optim.AdamW:
    """AdamW over parameter ``groups`` (each may carry its own ``weight_decay``; see
    ``TrainablePolicy.parameter_groups``: matrices decay, norm gains and biases do not,
    as in GPT-2/Llama), betas (0.9, 0.95)."""
    return torch.optim.AdamW(list(groups), lr=lr, betas=(0.9, 0.95), eps=1e-8)


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def apply_step(params: Any, optimizer: torch.optim.Optimizer, grad_clip: float) -> float:
    """Clip the accumulated gradients (``grad_clip`` > 0), take the optimizer step and
    clear the gradients; returns the gradient norm before clipping."""
    norm = torch.nn.utils.clip_grad_norm_(params, grad_clip if grad_clip > 0 else float("inf"))
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return float(norm)


def open_run(run: Path, module: torch.nn.Module, optimizer: torch.optim.Optimizer, *,
             resume: bool, meta: dict[str, Any] | None = None) -> RunState:
    """Start a run in ``run``, or (``resume``) restore the one saved there — model,
    optimizer, counters and RNG states — dropping metrics logged after its last save.

    Refused, with the reason: a new run where a run is saved, a directory holding an
    unsaved earlier run's metrics, a path that is a file."""
    if run.exists() and not run.is_dir():
        raise ConfigError(f"{run} is a file, not a run directory; choose another --out")
    if resume:
        state = restore_state(read_state(run), module, optimizer)
        state.meta.update(meta or {})  # e.g. a budget extended on resume
        truncate_metrics(run, state.step)
        return state
    if (run / STATE).exists():
        raise ConfigError(f"{run} already holds a run; resume it (--resume) or choose "
                          "another output directory")
    if (run / METRICS).exists():  # an earlier run stopped before its first save
        raise ConfigError(f"{run} holds the metrics of an earlier run that saved no state "
                          "to resume from; delete it or choose another output directory")
    run.mkdir(parents=True, exist_ok=True)
    return RunState(meta=dict(meta or {}))


class Saver:
    """Saves a run — the model through ``save_model`` (e.g. ``policy.save`` into
    ``checkpoint/``), then ``state.pt`` — every ``every`` steps and at most ``minutes``
    apart (0 turns either off), each file atomically. ``clock`` is the run's elapsed
    seconds over all its sessions, stored in the state for the next one."""

    def __init__(self, run: Path | None, state: RunState, module: torch.nn.Module,
                 optimizer: torch.optim.Optimizer, save_model: Callable[[], None],
                 clock: Callable[[], float], every: int = 0, minutes: float = 0.0,
                 before: Callable[[], None] | None = None):
        self.run, self.state, self.module, self.optimizer = run, state, module, optimizer
        self.save_model, self.clock, self.before = save_model, clock, before
        self.every, self.minutes = every, minutes
        self.last = clock()
        self.seconds = 0.0  # the longest save so far

    def due(self) -> bool:
        """Whether the step just taken should be saved (by step count or by time)."""
        by_step = self.every and self.state.step % self.every == 0
        by_time = self.minutes and self.clock() - self.last >= 60 * self.minutes
        return bool(by_step or by_time)

    def __call__(self) -> None:
        if self.run is None:
            return
        t = time.perf_counter()
        self.state.elapsed = self.last = self.clock()
        if self.before is not None:
            self.before()
        self.save_model()
        save_state(self.run, self.state, self.module, self.optimizer)
        self.seconds = max(self.seconds, time.perf_counter() - t)

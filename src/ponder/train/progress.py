"""The training progress bar: step, loss, tokens/s, latest evaluation and ETA (rich);
and the window of loss and throughput each metrics record summarises.

Written to stderr so a command's stdout stays machine-readable. The ETA is estimated
from this session's own pace, so a resumed run does not count the earlier sessions'
progress as instantaneous.
"""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn

_RESOLUTION = 1000  # bar units for the 0..1 fraction of the budget


def _clock(seconds: float) -> str:
    s = int(max(seconds, 0))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def _short(metrics: dict[str, Any]) -> str:
    """The evaluation numbers worth a glance: accuracy and held-out loss."""
    parts = []
    if "accuracy" in metrics:
        parts.append(f"acc {metrics['accuracy']:.3f}")
    if "heldout_loss" in metrics:
        parts.append(f"val {metrics['heldout_loss']:.3f}")
    return " ".join(parts)


class Display:
    def __init__(self, enabled: bool = True, start: float = 0.0, label: str = "train"):
        self.enabled, self.start = enabled, start
        self.t0 = time.perf_counter()
        self.fields: dict[str, Any] = {"step": 0, "loss": "-", "tps": "-", "eval": "",
                                       "eta": "-"}
        self.progress = Progress(
            TextColumn(f"[bold]{label}"), BarColumn(), TaskProgressColumn(),
            TextColumn("step {task.fields[step]}  loss {task.fields[loss]}  "
                       "{task.fields[tps]} tok/s  {task.fields[eval]}  ETA {task.fields[eta]}"),
            console=Console(stderr=True), disable=not enabled,
        )
        self.task = self.progress.add_task(label, total=_RESOLUTION,
                                           completed=start * _RESOLUTION, **self.fields)

    def __enter__(self) -> Display:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.__exit__(*exc)

    def update(self, fraction: float, step: int | None = None, loss: float | None = None,
               tps: float | None = None, metrics: dict[str, Any] | None = None) -> None:
        if step is not None:
            self.fields["step"] = step
        if loss is not None:
            self.fields["loss"] = f"{loss:.4f}"
        if tps is not None:
            self.fields["tps"] = f"{tps:,.0f}"
        if metrics:
            self.fields["eval"] = _short(metrics)
        done = fraction - self.start
        if done > 0:
            spent = time.perf_counter() - self.t0
            self.fields["eta"] = _clock(spent / done * (1.0 - fraction))
        self.progress.update(self.task, completed=fraction * _RESOLUTION, **self.fields)


class Window:
    """Loss and throughput since the last metrics record."""

    def __init__(self) -> None:
        self.loss, self.steps, self.tokens, self.seconds = 0.0, 0, 0, 0.0
        self.positions, self.flops = 0, 0.0

    def add(self, loss: float, batch: Any, seconds: float, flops: float) -> None:
        self.loss += loss
        self.steps += 1
        self.tokens += batch.n_tokens
        self.positions += round(batch.n_tokens / max(1.0 - batch.pad_share, 1e-9))
        self.seconds += seconds
        self.flops += flops

    def pad_share(self) -> float:
        return 1.0 - self.tokens / max(self.positions, 1)

    def flops_per_s(self) -> float:
        return self.flops / max(self.seconds, 1e-9)

    def mean_loss(self) -> float:
        return self.loss / max(self.steps, 1)

    def tokens_per_s(self) -> float:
        return self.tokens / max(self.seconds, 1e-9)

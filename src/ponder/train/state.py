"""Run state on disk: what a training run needs to resume exactly where it stopped.

A run directory holds

    checkpoint/      the model (``ponder.lm.checkpoint``), loadable by every backend
    state.pt         model + optimizer + counters + RNG states, for resuming
    metrics.jsonl    one JSON record per log line / evaluation

``state.pt`` carries its own copy of the weights so that it alone is consistent: the
two saves are each atomic, but a kill between them must not pair a step-k optimizer with
step-k+1 weights. Each file is written to a temporary sibling and renamed into place.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ponder.errors import ConfigError
from ponder.files import atomic_write_bytes
from ponder.train.layout import CHECKPOINT, METRICS, STATE

__all__ = ["CHECKPOINT", "METRICS", "STATE"]


@dataclass
class RunState:
    """Counters of a run; the model and optimizer tensors travel beside it."""

    step: int = 0  # optimizer steps taken
    examples: int = 0  # examples consumed from the stream (the next batch starts here);
    # when packing: the first example of the current packing window
    rows: int = 0  # packing: rows of that window already trained on
    pack_len: int = 0  # tokens per packed row (0: unpacked batches; older state files)
    curriculum: dict[str, Any] = field(default_factory=dict)  # Competence.state_dict()
    tokens: int = 0  # tokens processed
    elapsed: float = 0.0  # seconds of wall-clock spent in earlier sessions of this run
    meta: dict[str, Any] = field(default_factory=dict)  # e.g. model config, run recipe


def save_state(run_dir: Path, state: RunState, model: torch.nn.Module,
               optimizer: torch.optim.Optimizer) -> None:
    payload = {
        "run": state.__dict__,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "rng": {"torch": torch.get_rng_state(), "python": random.getstate()},
    }
    atomic_write_bytes(run_dir / STATE, lambda f: torch.save(payload, f))


def read_state(run_dir: Path) -> dict[str, Any]:
    """The raw payload of ``run_dir/state.pt`` (ConfigError if there is none)."""
    path = run_dir / STATE
    if not path.exists():
        raise ConfigError(f"{run_dir} has no {STATE} to resume from; start a new run "
                          "without --resume")
    # our own file, holding RNG states and python scalars besides tensors
    return torch.load(path, map_location="cpu", weights_only=False)


def restore_state(payload: dict[str, Any], model: torch.nn.Module,
                  optimizer: torch.optim.Optimizer) -> RunState:
    model.load_state_dict(payload["model"])
    optimizer.load_state_dict(payload["optimizer"])
    torch.set_rng_state(payload["rng"]["torch"])
    random.setstate(payload["rng"]["python"])
    return RunState(**payload["run"])


def append_metrics(run_dir: Path, record: dict[str, Any]) -> None:
    with open(run_dir / METRICS, "a") as f:
        f.write(json.dumps(record) + "\n")


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / METRICS
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def truncate_metrics(run_dir: Path, step: int) -> None:
    """Drop records logged after ``step``: a resumed run redoes those steps and logs them
    again, so the file stays one record per step."""
    kept = [r for r in read_metrics(run_dir) if r.get("step", 0) <= step]
    text = "".join(json.dumps(r) + "\n" for r in kept).encode()
    atomic_write_bytes(run_dir / METRICS, lambda f: f.write(text))

"""A competence-based curriculum: difficulty levels are learnt in order.

Per (task, level) the trainer keeps an exponential moving average of the teacher-forced
exact-match rate (every completion token is the argmax of the logits, read off the
training forward pass, so it costs nothing extra). The next draws of a task weigh its
levels by ``level_weights``: the lowest unmastered level (the *frontier*) and the one
above it get weight 1, mastered levels (EMA >= 0.9) keep a small replay weight, and
levels further up wait (weight 0) until the frontier is mastered. Task weights stay as
configured. In the spirit of competence-based curricula (Platanios et al. 2019), with a
per-level competence measured on the model instead of a fixed schedule.

Exact resume: the weights are refreshed only when a new packing window (or length
group) begins, and the weights in force are saved with the EMA table, so a resumed run
draws the same examples.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from ponder.train.data import Batch

MASTERED = 0.9  # EMA exact-match rate at which a level counts as learnt
REPLAY = 0.2  # weight a mastered level keeps, so it is not forgotten
EMA_RATE = 0.05  # weight of each new example in the moving average


def level_weights(ema: dict[int, float], levels: Sequence[int], mastered: float = MASTERED,
                  replay: float = REPLAY) -> list[float]:
    """Draw weights of ``levels`` (ascending) from the EMA exact-match rate per level
    (missing levels: 0, unlearnt).

    >>> level_weights({1: 0.95, 2: 0.5}, [1, 2, 3, 4])
    [0.2, 1.0, 1.0, 0.0]
    >>> level_weights({1: 0.95, 2: 0.99}, [1, 2])  # all mastered: replay them all
    [0.2, 0.2]
    """
    front = frontier(ema, levels, mastered)
    if front is None:
        return [replay] * len(levels)
    out = []
    for level in levels:
        if level > front + 1:
            out.append(0.0)
        elif ema.get(level, 0.0) >= mastered:
            out.append(replay)
        else:
            out.append(1.0)
    return out


def frontier(ema: dict[int, float], levels: Sequence[int],
             mastered: float = MASTERED) -> int | None:
    """The lowest level not yet mastered (None when all are).

    >>> frontier({1: 0.95, 2: 0.5}, [1, 2, 3]), frontier({}, [2, 3])
    (2, 2)
    """
    return next((lv for lv in levels if ema.get(lv, 0.0) < mastered), None)


def segment_exact(logits: torch.Tensor, batch: Batch) -> list[bool]:
    """Per segment of ``batch``: is every completion token the argmax of ``logits``
    (teacher forcing)? logits (B, T, V)."""
    with torch.no_grad():
        wrong = (logits.argmax(-1) != batch.targets) & (batch.mask > 0)  # (B, T)
        before = torch.nn.functional.pad(wrong.long().cumsum(1), (1, 0))  # (B, T + 1)
        rows = torch.tensor([s.row for s in batch.segments], dtype=torch.long)
        starts = torch.tensor([s.start for s in batch.segments], dtype=torch.long)
        stops = torch.tensor([s.stop for s in batch.segments], dtype=torch.long)
        errors = before[rows, stops] - before[rows, starts]
    return (errors == 0).tolist()


class Competence:
    """EMA exact-match table per (task, level) and the level weights in force."""

    def __init__(self, levels: dict[str, list[int]], rate: float = EMA_RATE):
        self.levels, self.rate = levels, rate
        self.ema: dict[str, dict[int, float]] = {name: {} for name in levels}
        self.weights = self.current_weights()  # in force for the draws

    def current_weights(self) -> dict[str, list[float]]:
        return {name: level_weights(self.ema[name], lv) for name, lv in self.levels.items()}

    def refresh(self) -> None:
        """Take the weights the table gives now (at the start of a window)."""
        self.weights = self.current_weights()

    def update(self, batch: Batch, exact: Sequence[bool]) -> None:
        """Fold each segment's exact match into its (task, level). Answers with no chain
        of thought (the "direct" share of the mix) do not count: they measure another
        skill, and at most levels they are rarely right, so counting them would hold
        every level's rate below ``MASTERED`` and freeze the frontier."""
        for seg, ok in zip(batch.segments, exact, strict=True):
            if seg.source is None or seg.source[0] not in self.ema or seg.source[2] == "direct":
                continue
            name, level = seg.source[:2]
            old = self.ema[name].get(level, 0.0)
            self.ema[name][level] = old + self.rate * (float(ok) - old)

    def frontiers(self) -> dict[str, int | None]:
        return {name: frontier(self.ema[name], lv) for name, lv in self.levels.items()}

    def state_dict(self) -> dict[str, Any]:
        return {"ema": {k: dict(v) for k, v in self.ema.items()},
                "weights": {k: list(v) for k, v in self.weights.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.ema = {name: dict(state["ema"].get(name, {})) for name in self.levels}
        self.weights = {name: list(state["weights"].get(name, level_weights({}, lv)))
                        for name, lv in self.levels.items()}

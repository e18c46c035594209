"""Fitting a compute-optimal policy on TRAINING problems (Snell et al. 2024, §3.2).

1. For every training problem, estimate its difficulty the way ``optimal`` will at test
   time — from a few probe samples, without the answer — and fit the bin cuts as
   quantiles of those confidences, so each bin holds about as many problems.
2. Run every candidate strategy at every budget on the same problems (the scaling
   runner on the train split) and tabulate accuracy per (strategy, budget, bin).
3. For each target budget, pick per bin the most accurate configuration that costs at
   most the target (``ponder.think.optimal.fit_policy``); ties go to the cheaper one, so
   easy bins spend little and hard bins spend what they need.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from ponder.eval.scale import ScaleConfig, run_scale, with_answer_rule
from ponder.lm.base import LM
from ponder.tasks.base import Task
from ponder.think import Budget, Scorers
from ponder.think.difficulty import estimate, fit_cuts, to_bin
from ponder.think.optimal import Cell, Policy, fit_policy


def probe_bins(lm: LM, task: Task, cfg: ScaleConfig, scorers: Scorers | None,
               probe_n: int, signal: str) -> tuple[dict[str, int], list[float]]:
    """Problem id -> difficulty bin on the configured split, and the fitted cuts."""
    # the probes read answers as run_scale's strategies do: by the task's answer rule
    problems = [with_answer_rule(p, task) for p in task.problems(
        cfg.split, cfg.n_problems, seed=cfg.seed, difficulty=cfg.difficulty)]
    budget = Budget(n=1, max_tokens=cfg.max_tokens, temperature=cfg.temperature)
    conf = {p.id: estimate(p, lm, budget, scorers, probe_n, signal, seed=cfg.seed + i
                           ).confidence for i, p in enumerate(problems)}
    cuts = fit_cuts(list(conf.values()))
    return {pid: to_bin(c, cuts) for pid, c in conf.items()}, cuts


def cells_from_records(records: list[dict[str, Any]], bins: dict[str, int],
                       options: dict[str, dict[str, Any]]) -> list[Cell]:
    """Accuracy and mean FLOPs per (strategy, budget, bin)."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in records:
        groups[(r["strategy"], r["budget"], bins[r["problem"]])].append(r)
    return [Cell(strategy=s, n=b, bin=k, accuracy=sum(r["correct"] for r in rs) / len(rs),
                 options=dict(options.get(s, {})),
                 flops=sum(r["flops"] for r in rs) / len(rs))
            for (s, b, k), rs in sorted(groups.items())]


def fit_compute_optimal(lm: LM, task: Task, cfg: ScaleConfig, targets: list[int],
                        scorers: Scorers | None = None, probe_n: int = 4,
                        signal: str = "agreement",
                        on_record: Callable[[dict[str, Any]], None] | None = None,
                        ) -> tuple[list[Policy], list[Cell]]:
    """Policies (one per target budget) and the table they were fitted on."""
    train_cfg = replace(cfg, split="train")
    bins, cuts = probe_bins(lm, task, train_cfg, scorers, probe_n, signal)
    records = run_scale(lm, task, train_cfg, scorers, on_record=on_record)
    cells = cells_from_records(records, bins, cfg.options)
    policies = [fit_policy(cells, t, key="n", cuts=cuts, signal=signal, probe_n=probe_n)
                for t in targets]
    return policies, cells

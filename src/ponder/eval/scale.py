"""Scaling runs: accuracy against test-time compute for each strategy and budget, on
held-out problems, overall and per difficulty level; coverage (pass@k) with its
power-law fit; compute-efficiency ratios between strategies.

Strategies read each completion's answer by the task's answer rule (``Task.answer_rule``,
stated on every problem they get and in every record), and the chosen answer is judged
by ``Task.verify``, so a run counts as correct exactly what the task's own evaluation
would: for a built-in task, a completion without its ``Answer:`` line is never right.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from ponder.errors import ConfigError
from ponder.eval.curves import aggregate, coverage_curve, efficiency_ratio, fit_power_law
from ponder.eval.stats import compare_paired
from ponder.lm.base import LM
from ponder.lm.batching import map_ordered, shared
from ponder.tasks.base import Problem, Split, Task, answer_line
from ponder.think import Scorers, get_strategy, sized_budget, split_label
from ponder.think.base import ANSWER_RULE_KEY, CODE_RULE


@dataclass
class ScaleConfig:
    strategies: list[str]  # names, or label=name to run one strategy twice (split_label)
    budgets: list[int]
    n_problems: int = 100
    difficulty: list[int] | None = None
    seed: int = 0
    max_tokens: int = 512
    temperature: float = 0.8
    options: dict[str, dict[str, Any]] = field(default_factory=dict)  # per strategy
    split: Split = "test"  # "train" only to fit compute-optimal policies
    concurrency: int = 128  # problems solved at once; their model calls are batched together

    def __post_init__(self) -> None:
        if not self.strategies:
            raise ConfigError("give at least one strategy (--strategies vote,best_of_n,...)")
        labels = [split_label(s)[0] for s in self.strategies]
        for s in self.strategies:
            get_strategy(split_label(s)[1])  # raises UnknownName with the list
        if len(set(labels)) < len(labels):
            raise ConfigError(f"strategy labels must differ, got {labels}; run a "
                              "strategy twice as label=strategy")
        if not self.budgets or any(b < 1 for b in self.budgets):
            raise ConfigError(f"budgets must be positive integers, got {self.budgets}")
        if self.n_problems < 1:
            raise ConfigError(f"n_problems must be >= 1, got {self.n_problems}")
        if self.concurrency < 1:
            raise ConfigError(f"concurrency must be >= 1, got {self.concurrency}")
        if self.difficulty is not None and not self.difficulty:
            raise ConfigError("difficulty must name at least one level (or be None: all)")
        if not isinstance(self.options, dict) or not all(
                isinstance(v, dict) for v in self.options.values()):
            raise ConfigError('options must map each strategy to its own options, e.g. '
                              f'{{"beam": {{"beam_width": 4}}}}; got {self.options!r}')
        stray = sorted(set(self.options) - set(labels))
        if stray:  # most likely a typo, which would otherwise run without its options
            raise ConfigError(f"options given for {stray}, which are not among the "
                              f"strategies run: {self.strategies}")


def is_correct(task: Task, problem: Problem, answer: str | None) -> bool:
    """Judge a strategy's chosen answer with the task's own verifier: written as an
    answer line (read back by any answer rule), or as is for code, which is run."""
    if answer is None:
        return False
    text = answer if task.answer_rule == CODE_RULE else answer_line(answer)
    return (task.verify(problem, text) or 0.0) >= 1.0


def with_answer_rule(problem: Problem, task: Task) -> Problem:
    """``problem`` stating the answer rule of ``task`` in its meta, so strategies read
    answers as ``task`` judges them, even for a task outside the registry
    (``ponder.think.base.answer_rule_of``)."""
    return replace(problem, meta={**problem.meta, ANSWER_RULE_KEY: task.answer_rule})


def run_scale(lm: LM, task: Task, cfg: ScaleConfig, scorers: Scorers | None = None,
              on_record: Callable[[dict[str, Any]], None] | None = None,
              ) -> list[dict[str, Any]]:
    """One record per (strategy, budget, problem), in that order.

    ``cfg.concurrency`` problems are solved at once, each by the strategy's ordinary
    per-problem function on its own thread; their model calls meet in the model's engine
    (or a ``BatchedLM`` for other backends) and are decoded together. A problem's seed
    depends only on its index, so the records do not depend on the concurrency."""
    problems = [with_answer_rule(p, task) for p in task.problems(
        cfg.split, cfg.n_problems, seed=cfg.seed, difficulty=cfg.difficulty)]
    model = shared(lm) if cfg.concurrency > 1 else lm
    try:
        return _run(task, problems, model, cfg, scorers, on_record)
    finally:
        if model is not lm:
            model.close()  # type: ignore[attr-defined]  # a BatchedLM's thread


def _run(task: Task, problems: list[Problem], model: LM, cfg: ScaleConfig,
         scorers: Scorers | None, on_record: Callable[[dict[str, Any]], None] | None,
         ) -> list[dict[str, Any]]:
    records = []
    for entry in cfg.strategies:
        label, method = split_label(entry)
        strategy = get_strategy(method)
        for b in cfg.budgets:
            budget = sized_budget(method, b, max_tokens=cfg.max_tokens,
                                  temperature=cfg.temperature, options=cfg.options.get(label))

            def solve(item: tuple[int, Problem], strategy: Any = strategy, name: str = label,
                      method: str = method, b: int = b, budget: Any = budget,
                      ) -> dict[str, Any]:
                i, p = item
                t0 = time.perf_counter()
                res = strategy(p, model, budget, scorers, seed=cfg.seed * 100_003 + i)
                votes = [t.answer for t in res.traces]
                return {"strategy": name, "method": method, "budget": b, "problem": p.id,
                        "difficulty": p.difficulty, "answer_rule": task.answer_rule,
                        "correct": is_correct(task, p, res.answer),
                        "samples_correct": sum(is_correct(task, p, a) for a in votes),
                        "samples": len(votes), "wall": time.perf_counter() - t0,
                        **res.compute.to_dict()}

            for rec in map_ordered(solve, enumerate(problems), cfg.concurrency):
                records.append(rec)
                if on_record is not None:
                    on_record(rec)
    return records


def summarize(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Curves overall and per difficulty, coverage of the largest sampling run, and
    efficiency of every strategy relative to best-of-N (or vote when absent)."""
    overall = aggregate(records)
    per_diff = aggregate(records, by=("strategy", "difficulty", "budget"))
    curves: dict[str, list[tuple[float, float]]] = {}
    for row in overall:
        curves.setdefault(row["strategy"], []).append((row["flops"], row["accuracy"]))
    base = next((s for s in ("best_of_n", "vote") if s in curves), None)
    efficiency = {s: efficiency_ratio(curves[base], c) for s, c in curves.items()
                  if base and s != base}
    coverage: dict[str, Any] = {}
    sampled = [r for r in records if r.get("method", r["strategy"]) in ("vote", "best_of_n")
               and r["samples"] > 1]
    if sampled:
        top = max(r["budget"] for r in sampled)
        pairs = [(r["samples"], r["samples_correct"]) for r in sampled if r["budget"] == top]
        n = min(s for s, _ in pairs)
        ks = [k for k in (1, 2, 4, 8, 16, 32, 64, 128, 256, 512) if k <= n]
        curve = coverage_curve([(s, c) for s, c in pairs], ks)
        coverage = {"n": n, "pass_at_k": {str(k): v for k, v in curve.items()},
                    "fit": fit_power_law(curve)}
    rules = sorted({r["answer_rule"] for r in records if "answer_rule" in r})
    return {"overall": overall, "by_difficulty": per_diff, "efficiency_vs": base,
            "efficiency": efficiency, "coverage": coverage, "answer_rules": rules,
            "paired": paired_comparisons(records)}


def paired_comparisons(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Arms (strategy@budget) compared on the same problems (McNemar's test and a
    paired bootstrap interval of the accuracy difference, ``ponder.eval.stats``): every
    arm against the cheapest greedy arm (or the first arm when greedy was not run), and
    every two strategies at the same budget. ``verdict`` is "better"/"worse" only when
    the interval of ``b - a`` excludes zero."""
    arms: dict[tuple[str, int], dict[str, bool]] = {}
    for r in records:
        arms.setdefault((r["strategy"], r["budget"]), {})[r["problem"]] = bool(r["correct"])
    keys = sorted(arms, key=lambda k: (k[0] != "greedy", k[1], k[0]))
    if len(keys) < 2:
        return []
    pairs = [(keys[0], k) for k in keys[1:]]
    pairs += [(a, b) for i, a in enumerate(keys) for b in keys[i + 1:]
              if a[1] == b[1] and a[0] != b[0] and (a, b) not in pairs]
    out = []
    for a, b in pairs:
        common = sorted(set(arms[a]) & set(arms[b]))
        if not common:
            continue
        res = compare_paired([arms[a][p] for p in common], [arms[b][p] for p in common])
        out.append({"a": f"{a[0]}@{a[1]}", "b": f"{b[0]}@{b[1]}", **res})
    return out


def plot(summary: dict[str, Any], path: str, title: str) -> None:
    """Accuracy vs FLOPs per strategy (log x), one panel overall + one per difficulty."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    diffs = sorted({r["difficulty"] for r in summary["by_difficulty"]})
    panels = [("all", summary["overall"])] + [
        (f"difficulty {d}", [r for r in summary["by_difficulty"] if r["difficulty"] == d])
        for d in diffs] if len(diffs) > 1 else [("all", summary["overall"])]
    cols = min(len(panels), 4)
    rows = (len(panels) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3.2 * rows), squeeze=False)
    for ax, (label, rs) in zip(axes.flat, panels, strict=False):
        for s in sorted({r["strategy"] for r in rs}):
            pts = sorted((r["flops"], r["accuracy"]) for r in rs if r["strategy"] == s)
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=s)
        ax.set_xscale("log")
        ax.set_ylim(0, 1)
        ax.set_title(label)
        ax.set_xlabel("FLOPs per problem")
        ax.set_ylabel("accuracy")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)

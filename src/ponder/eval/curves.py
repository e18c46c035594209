"""Pure functions over scaling results: accuracy-vs-compute curves, the compute a curve
needs to reach an accuracy, unbiased pass@k and its power-law fit."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from ponder.eval.stats import wilson


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from ``n`` samples with ``c`` correct (Chen et al. 2021, eq. 1).

    >>> pass_at_k(10, 0, 5), pass_at_k(10, 10, 1), round(pass_at_k(4, 1, 2), 3)
    (0.0, 1.0, 0.5)
    """
    if k > n:
        raise ValueError(f"k={k} exceeds the number of samples n={n}")
    if n - c < k:
        return 1.0
    return 1.0 - math.prod((n - c - i) / (n - i) for i in range(k))


def coverage_curve(correct_counts: list[tuple[int, int]], ks: Iterable[int]) -> dict[int, float]:
    """Mean pass@k over problems given ``(n, c)`` per problem."""
    return {k: sum(pass_at_k(n, c, k) for n, c in correct_counts) / len(correct_counts)
            for k in ks}


def fit_power_law(curve: dict[int, float]) -> dict[str, float]:
    """Fit coverage(k) ≈ exp(a · k^b) (Brown et al. 2024, "Large Language Monkeys"):
    least squares of log(-log c) = log(-a) + b log k over points with 0 < c < 1.
    Returns a, b and the R² of the fit in log-log space."""
    pts = [(math.log(k), math.log(-math.log(c))) for k, c in curve.items() if 0 < c < 1]
    if len(pts) < 2:
        return {"a": float("nan"), "b": float("nan"), "r2": float("nan"), "points": len(pts)}
    n = len(pts)
    mx = sum(x for x, _ in pts) / n
    my = sum(y for _, y in pts) / n
    sxx = sum((x - mx) ** 2 for x, _ in pts)
    b = sum((x - mx) * (y - my) for x, y in pts) / sxx if sxx else 0.0
    intercept = my - b * mx
    ss_res = sum((y - (intercept + b * x)) ** 2 for x, y in pts)
    ss_tot = sum((y - my) ** 2 for _, y in pts)
    return {"a": -math.exp(intercept), "b": b,
            "r2": 1 - ss_res / ss_tot if ss_tot else 1.0, "points": n}


def aggregate(records: list[dict[str, Any]], by: tuple[str, ...] = ("strategy", "budget"),
              ) -> list[dict[str, Any]]:
    """Mean accuracy with its 95% Wilson interval, and mean compute, per group of
    records (each record: correct, flops, generated_tokens, plus the ``by`` keys)."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in records:
        groups[tuple(r[k] for k in by)].append(r)
    out = []
    for key, rs in sorted(groups.items(), key=lambda kv: tuple(map(str, kv[0]))):
        right = sum(r["correct"] for r in rs)
        out.append({**dict(zip(by, key, strict=True)), "n": len(rs),
                    "accuracy": right / len(rs), "ci95": list(wilson(right, len(rs))),
                    "flops": sum(r["flops"] for r in rs) / len(rs),
                    "tokens": sum(r["generated_tokens"] for r in rs) / len(rs)})
    return out


def compute_to_reach(curve: list[tuple[float, float]], accuracy: float) -> float | None:
    """Smallest compute at which a (compute, accuracy) curve reaches ``accuracy``,
    interpolating linearly in log-compute between measured points (linearly in compute
    from a point of zero compute, e.g. a backend that reports no FLOPs); None if never.

    >>> round(compute_to_reach([(1.0, 0.2), (100.0, 0.6)], 0.4), 6)
    10.0
    >>> round(compute_to_reach([(0.0, 0.2), (100.0, 0.6)], 0.4), 6)
    50.0
    """
    pts = sorted(curve)
    best_prev = None
    for c, a in pts:
        if a >= accuracy:
            if best_prev is None or best_prev[1] >= accuracy:
                return c
            (c0, a0) = best_prev
            t = (accuracy - a0) / (a - a0)
            if c0 <= 0:
                return c0 + t * (c - c0)
            return math.exp(math.log(c0) + t * (math.log(c) - math.log(c0)))
        if best_prev is None or a > best_prev[1]:
            best_prev = (c, a)
    return None


def efficiency_ratio(baseline: list[tuple[float, float]], candidate: list[tuple[float, float]],
                     ) -> dict[str, float | None]:
    """How many times less compute ``candidate`` needs than ``baseline`` to reach the
    baseline's accuracy levels (each level the baseline reaches; median and max)."""
    ratios = []
    for c_base, acc in sorted(baseline):
        c_cand = compute_to_reach(candidate, acc)
        if c_cand:
            ratios.append(c_base / c_cand)
    if not ratios:
        return {"median": None, "max": None, "levels": 0}
    ratios.sort()
    return {"median": ratios[len(ratios) // 2], "max": ratios[-1], "levels": len(ratios)}

"""Uncertainty of accuracies and of differences between two systems, as pure functions.

- ``wilson``: 95% interval of one accuracy (Wilson 1927, the score interval; unlike the
  normal approximation it stays inside [0, 1] and is sound at 0/n and n/n);
- ``paired_bootstrap``: interval of the mean difference of two systems scored on the
  *same* problems, resampling problems (Efron & Tibshirani 1993, percentile interval);
- ``mcnemar``: exact McNemar test on the problems exactly one system gets right;
- ``compare_paired``: the three together, with a verdict;
- ``newcombe`` / ``compare_unpaired``: the difference of two accuracies measured on
  different problems (Newcombe 1998, method 10: hybrid score interval from two Wilson
  intervals), for results that cannot be paired.

A verdict is "better" (or "worse") when the 95% interval of b - a lies above (below)
zero, otherwise "no difference". Comparing many pairs with one 5% level each finds some
"differences" by chance; nothing here corrects for that.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ponder.errors import InvalidInput

Z95 = 1.96  # two-sided 95% quantile of the standard normal


def wilson(k: float, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of ``k`` successes in ``n`` trials; (0, 1) when n is 0.

    ``k`` may be fractional only when it was rebuilt from a rounded rate (``acc * n``).

    >>> [round(x, 3) for x in wilson(50, 100)]
    [0.404, 0.596]
    >>> [round(x, 3) for x in wilson(0, 10)]
    [0.0, 0.278]
    >>> wilson(0, 0)
    (0.0, 1.0)
    """
    if n < 0 or not 0 <= k <= n:
        raise InvalidInput(f"wilson: need 0 <= k <= n, got k={k}, n={n}")
    if n == 0:
        return 0.0, 1.0
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def binomial_two_sided(k: int, n: int) -> float:
    """Exact two-sided p-value of ``k`` heads in ``n`` fair coin flips: twice the
    smaller tail, at most 1 (the binomial is symmetric at p = 1/2, so this equals the
    usual "sum of outcomes no likelier than k"). Integer arithmetic, so exact for any n.

    >>> round(binomial_two_sided(0, 10), 5)
    0.00195
    >>> binomial_two_sided(3, 6), binomial_two_sided(0, 0)
    (1.0, 1.0)
    """
    if not 0 <= k <= n:
        raise InvalidInput(f"binomial test: need 0 <= k <= n, got k={k}, n={n}")
    tail = sum(math.comb(n, i) for i in range(min(k, n - k) + 1))
    return min(1.0, 2 * tail / 2**n)


def _check_pair(a: Sequence[Any], b: Sequence[Any]) -> int:
    if len(a) != len(b):
        raise InvalidInput(f"paired results must score the same problems: got {len(a)} "
                           f"and {len(b)} scores")
    if not a:
        raise InvalidInput("paired results hold no problems to compare")
    return len(a)


def paired_bootstrap(a: Sequence[float], b: Sequence[float], n_boot: int = 2000,
                     seed: int = 0) -> dict[str, Any]:
    """Mean difference ``b - a`` over problems (``a[i]`` and ``b[i]`` score problem
    ``i``) and its 95% percentile interval from ``n_boot`` resamples of the problems.

    >>> r = paired_bootstrap([0, 1, 0, 1] * 25, [1, 1, 0, 1] * 25)
    >>> r["diff"], r["n"], 0.1 < r["ci95"][0] < 0.25 < r["ci95"][1] < 0.4
    (0.25, 100, True)
    """
    n = _check_pair(a, b)
    if n_boot < 1:
        raise InvalidInput(f"n_boot must be >= 1, got {n_boot}")
    d = np.asarray(b, dtype=float) - np.asarray(a, dtype=float)
    rng = np.random.default_rng(seed)
    means = np.empty(n_boot)
    chunk = max(1, 1_000_000 // n)  # resamples drawn at once: about 8 MB of indices
    for start in range(0, n_boot, chunk):
        rows = min(chunk, n_boot - start)
        means[start : start + rows] = d[rng.integers(0, n, size=(rows, n))].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return {"diff": float(d.mean()), "ci95": [float(lo), float(hi)], "n": n,
            "n_boot": n_boot}


def mcnemar(a: Sequence[bool], b: Sequence[bool]) -> dict[str, Any]:
    """Exact McNemar test of two systems' right/wrong on the same problems: ``b01`` the
    problems only ``b`` gets right, ``b10`` those only ``a`` gets right; under "equally
    good" each of them is a fair coin flip (the exact binomial test, no chi-squared).

    >>> r = mcnemar([False] * 10 + [True] * 5, [True] * 10 + [True] * 5)
    >>> r["b01"], r["b10"], round(r["p_value"], 5)
    (10, 0, 0.00195)
    """
    _check_pair(a, b)
    b01 = sum(1 for x, y in zip(a, b, strict=True) if not x and y)
    b10 = sum(1 for x, y in zip(a, b, strict=True) if x and not y)
    return {"b01": b01, "b10": b10, "p_value": binomial_two_sided(b01, b01 + b10)}


def _verdict(lo: float, hi: float) -> str:
    return "better" if lo > 0 else "worse" if hi < 0 else "no difference"


def compare_paired(a: Sequence[float], b: Sequence[float], n_boot: int = 2000,
                   seed: int = 0) -> dict[str, Any]:
    """Is ``b`` better than ``a`` on the same problems? Mean difference ``b - a`` with
    its bootstrap interval, and the exact p-value of McNemar's test (for scores other
    than 0/1: the sign test on the problems where they differ, which is McNemar's test
    generalised). ``wins``/``losses``: problems where b scores above/below a.

    The percentile interval is too narrow for a few dozen problems or fewer; there the
    p-value is the safer guide.

    >>> r = compare_paired([0] * 10 + [1] * 90, [1] * 10 + [1] * 90)
    >>> r["verdict"], r["diff"], r["wins"], r["losses"], round(r["p_value"], 5)
    ('better', 0.1, 10, 0, 0.00195)
    >>> compare_paired([1, 0, 1, 0] * 10, [0, 1, 1, 0] * 10)["verdict"]
    'no difference'
    """
    boot = paired_bootstrap(a, b, n_boot=n_boot, seed=seed)
    wins = sum(1 for x, y in zip(a, b, strict=True) if y > x)
    losses = sum(1 for x, y in zip(a, b, strict=True) if y < x)
    binary = all(float(x) in (0.0, 1.0) for x in (*a, *b))
    lo, hi = boot["ci95"]
    return {"paired": True, "n": boot["n"], "mean_a": sum(map(float, a)) / len(a),
            "mean_b": sum(map(float, b)) / len(b), "diff": boot["diff"], "ci95": [lo, hi],
            "p_value": binomial_two_sided(wins, wins + losses),
            "test": "mcnemar" if binary else "sign", "wins": wins, "losses": losses,
            "verdict": _verdict(lo, hi)}


def newcombe(k_a: float, n_a: int, k_b: float, n_b: int) -> tuple[float, float]:
    """95% interval of ``k_b/n_b - k_a/n_a`` for two independent samples (Newcombe's
    hybrid score interval, built from the two Wilson intervals).

    >>> [round(x, 3) for x in newcombe(50, 100, 60, 100)]
    [-0.037, 0.232]
    """
    if n_a < 1 or n_b < 1:
        raise InvalidInput(f"newcombe: both samples need n >= 1, got {n_a} and {n_b}")
    pa, pb = k_a / n_a, k_b / n_b
    la, ua = wilson(k_a, n_a)
    lb, ub = wilson(k_b, n_b)
    d = pb - pa
    return (d - math.sqrt((pb - lb) ** 2 + (ua - pa) ** 2),
            d + math.sqrt((ub - pb) ** 2 + (pa - la) ** 2))


def compare_unpaired(k_a: float, n_a: int, k_b: float, n_b: int) -> dict[str, Any]:
    """Is accuracy ``k_b/n_b`` better than ``k_a/n_a`` when the two were measured on
    different (or unknown) problems? Newcombe's interval of the difference and the
    two-sided p-value of the pooled two-proportion z-test. Wider than the paired
    comparison: pair results on the same problems when the records allow.

    >>> r = compare_unpaired(50, 100, 75, 100)
    >>> r["verdict"], r["diff"], r["p_value"] < 0.001
    ('better', 0.25, True)
    """
    lo, hi = newcombe(k_a, n_a, k_b, n_b)
    pa, pb = k_a / n_a, k_b / n_b
    pooled = (k_a + k_b) / (n_a + n_b)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    p_value = 1.0 if se == 0 else math.erfc(abs(pb - pa) / se / math.sqrt(2))
    return {"paired": False, "n_a": n_a, "n_b": n_b, "mean_a": pa, "mean_b": pb,
            "diff": pb - pa, "ci95": [lo, hi], "p_value": p_value, "test": "two-proportion z",
            "verdict": _verdict(lo, hi)}


def accuracy_by_level(records: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Accuracy, Wilson interval and n per difficulty level of evaluation records
    (dicts with ``difficulty`` and ``correct``).

    >>> accuracy_by_level([{"difficulty": 2, "correct": True},
    ...                    {"difficulty": 2, "correct": False}])["2"]["accuracy"]
    0.5
    """
    levels: dict[int, list[bool]] = {}
    for r in records:
        levels.setdefault(int(r["difficulty"]), []).append(bool(r["correct"]))
    return {str(d): {"accuracy": sum(v) / len(v), "n": len(v), "ci95": wilson(sum(v), len(v))}
            for d, v in sorted(levels.items())}


def format_difference(cmp: dict[str, Any]) -> str:
    """A paired or unpaired comparison as ``+0.152 [+0.108, +0.196] -> better``.

    >>> format_difference({"diff": 0.1, "ci95": [-0.02, 0.2], "verdict": "no difference"})
    '+0.100 [-0.020, +0.200] -> no difference'
    """
    lo, hi = cmp["ci95"]
    return f"{cmp['diff']:+.3f} [{lo:+.3f}, {hi:+.3f}] -> {cmp['verdict']}"


def format_ci(value: float, ci: Sequence[float], n: int | None = None, digits: int = 3,
              compact: bool = False) -> str:
    """An estimate with its interval, for tables: ``0.912 [0.884, 0.934] (n=500)``, or
    ``0.98 [0.95,0.99]`` when ``compact``.

    >>> format_ci(0.912, [0.8841, 0.9342], n=500)
    '0.912 [0.884, 0.934] (n=500)'
    >>> format_ci(0.98, (0.951, 0.993), digits=2, compact=True)
    '0.98 [0.95,0.99]'
    """
    sep = "," if compact else ", "
    text = f"{value:.{digits}f} [{ci[0]:.{digits}f}{sep}{ci[1]:.{digits}f}]"
    return text if n is None else f"{text} (n={n})"

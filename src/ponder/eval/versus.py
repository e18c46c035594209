"""A small model with test-time compute against a larger model's greedy answers, at
equal FLOPs (Snell et al. 2024, §7: inference compute vs parameters).

Inputs are two ``ponder scale`` summaries on the same task, split and problems: the
small model's strategy curves, and the large model's ``greedy`` row. For each difficulty
level (and overall) the comparison asks two questions:

- *matched*: the small model's accuracy with each strategy at the largest budget whose
  FLOPs per problem do not exceed the large model's greedy FLOPs;
- *to reach*: the FLOPs the small model needs (interpolated along its curve) to reach the
  large model's greedy accuracy, as a fraction of the large model's FLOPs.

A band is a win when some strategy's matched accuracy is strictly higher than the large
model's greedy accuracy.
"""

from __future__ import annotations

from typing import Any

from ponder.errors import InvalidInput
from ponder.eval.curves import compute_to_reach

Row = dict[str, Any]


def _bands(summary: dict[str, Any]) -> dict[str, list[Row]]:
    bands: dict[str, list[Row]] = {"all": list(summary["overall"])}
    for row in summary["by_difficulty"]:
        bands.setdefault(str(row["difficulty"]), []).append(row)
    return bands


def compare_band(small: list[Row], reference: Row) -> dict[str, Any]:
    """One band: ``small`` rows (strategy, budget, accuracy, flops) against the large
    model's greedy ``reference`` row (accuracy, flops)."""
    ref_acc, ref_flops = reference["accuracy"], reference["flops"]
    strategies: dict[str, Any] = {}
    for name in sorted({r["strategy"] for r in small}):
        curve = sorted((r["flops"], r["accuracy"], r["budget"]) for r in small
                       if r["strategy"] == name)
        within = [(f, a, b) for f, a, b in curve if f <= ref_flops]
        reach = compute_to_reach([(f, a) for f, a, _ in curve], ref_acc)
        strategies[name] = {
            "matched_budget": within[-1][2] if within else None,
            "matched_flops": within[-1][0] if within else None,
            "matched_accuracy": within[-1][1] if within else None,
            "best_accuracy_within": max((a for _, a, _ in within), default=None),
            "flops_to_reach": reach,
            "flops_fraction_to_reach": reach / ref_flops if reach is not None else None,
        }
    winners = sorted(s for s, v in strategies.items()
                     if v["best_accuracy_within"] is not None
                     and v["best_accuracy_within"] > ref_acc)
    return {"large_greedy_accuracy": ref_acc, "large_greedy_flops": ref_flops,
            "n": reference.get("n"), "strategies": strategies, "small_wins": winners}


def compare(small: dict[str, Any], large: dict[str, Any]) -> dict[str, Any]:
    """Every band both summaries have; ``large`` must contain a greedy run."""
    small_bands, large_bands = _bands(small), _bands(large)
    out: dict[str, Any] = {}
    for band, rows in large_bands.items():
        greedy = [r for r in rows if r["strategy"] == "greedy"]
        if band not in small_bands:
            continue
        if not greedy:
            raise InvalidInput("the large model's scale report has no greedy run; run it "
                               "with --strategies greedy --budgets 1")
        out[band] = compare_band(small_bands[band], greedy[0])
    if not out:
        raise InvalidInput("the two scale reports share no difficulty level")
    wins = [b for b, v in out.items() if b != "all" and v["small_wins"]]
    return {"bands": out, "bands_won": wins, "any_band_won": bool(wins)}

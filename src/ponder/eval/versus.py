"""A small model with test-time compute against a larger model's greedy answers, at
equal FLOPs (Snell et al. 2024, §7: inference compute vs parameters).

Inputs are two ``ponder scale`` summaries on the same task, split and problems: the
small model's strategy curves, and the large model's ``greedy`` row. For each difficulty
level (and overall) the comparison asks two questions:

- *matched*: the small model's accuracy with each strategy at the largest budget whose
  FLOPs per problem do not exceed the large model's greedy FLOPs;
- *to reach*: the FLOPs the small model needs (interpolated along its curve) to reach the
  large model's greedy accuracy, as a fraction of the large model's FLOPs.

A band is a win when some strategy's matched accuracy is *significantly* higher than the
large model's greedy accuracy: the 95% interval of the difference lies above zero
(``ponder.eval.stats``). With per-problem records of both runs (``ponder scale`` writes
``<name>.records.jsonl``) the two are paired on the problems both solved attempts at
(bootstrap interval, exact McNemar p-value); without them the accuracies are compared as
independent samples (Newcombe's interval), which is wider. Each strategy is tested at
its matched budget, fixed before looking at accuracies; several strategies each get
their own 5% test, with no correction for testing several.
"""

from __future__ import annotations

from typing import Any

from ponder.errors import InvalidInput
from ponder.eval.curves import compute_to_reach
from ponder.eval.stats import compare_paired, compare_unpaired

Row = dict[str, Any]


def _bands(summary: dict[str, Any]) -> dict[str, list[Row]]:
    bands: dict[str, list[Row]] = {"all": list(summary["overall"])}
    for row in summary["by_difficulty"]:
        bands.setdefault(str(row["difficulty"]), []).append(row)
    return bands


def _correct(records: list[Row], strategy: str, budget: Any) -> dict[str, float]:
    """problem id -> 1.0/0.0 of one (strategy, budget) run."""
    return {str(r["problem"]): float(r["correct"]) for r in records
            if r["strategy"] == strategy and (budget is None or r["budget"] == budget)}


def significance(row: Row, reference: Row, small_records: list[Row] | None = None,
                 large_records: list[Row] | None = None) -> dict[str, Any]:
    """Is the small model's ``row`` (strategy, budget, accuracy, n) better than the large
    model's greedy ``reference``? Paired on problem ids when both runs have records
    that share problems, else unpaired from accuracy and n. ``why_unpaired`` says why."""
    why = "no per-problem records"
    if small_records is not None and large_records is not None:
        mine = _correct(small_records, row["strategy"], row["budget"])
        ref = _correct(large_records, "greedy", reference.get("budget"))
        common = sorted(mine.keys() & ref.keys())
        if common:
            out = compare_paired([ref[p] for p in common], [mine[p] for p in common])
            return {**out, "unmatched": len(mine.keys() ^ ref.keys())}
        why = "the two runs share no problem id"
    if not row.get("n") or not reference.get("n"):
        raise InvalidInput("a scale report row lacks its number of problems n; rerun "
                           "`ponder scale` to write it")
    return {**compare_unpaired(round(reference["accuracy"] * reference["n"]),
                               reference["n"], round(row["accuracy"] * row["n"]), row["n"]),
            "why_unpaired": why}


def compare_band(small: list[Row], reference: Row, small_records: list[Row] | None = None,
                 large_records: list[Row] | None = None) -> dict[str, Any]:
    """One band: ``small`` rows (strategy, budget, accuracy, flops, n) against the large
    model's greedy ``reference`` row (accuracy, flops, n); records, when given, are this
    band's per-problem records of each run (strategy, budget, problem, correct)."""
    ref_acc, ref_flops = reference["accuracy"], reference["flops"]
    strategies: dict[str, Any] = {}
    for name in sorted({r["strategy"] for r in small}):
        curve = sorted((r["flops"], r["accuracy"], r["budget"]) for r in small
                       if r["strategy"] == name)
        within = [(f, a, b) for f, a, b in curve if f <= ref_flops]
        reach = compute_to_reach([(f, a) for f, a, _ in curve], ref_acc)
        matched = next((r for r in small if within and r["strategy"] == name
                        and r["budget"] == within[-1][2]), None)
        strategies[name] = {
            "matched_budget": within[-1][2] if within else None,
            "matched_flops": within[-1][0] if within else None,
            "matched_accuracy": within[-1][1] if within else None,
            "best_accuracy_within": max((a for _, a, _ in within), default=None),
            "flops_to_reach": reach,
            "flops_fraction_to_reach": reach / ref_flops if reach is not None else None,
            "test": None if matched is None else significance(
                matched, reference, small_records, large_records),
        }
    winners = sorted(s for s, v in strategies.items()
                     if v["test"] is not None and v["test"]["verdict"] == "better")
    return {"large_greedy_accuracy": ref_acc, "large_greedy_flops": ref_flops,
            "n": reference.get("n"), "strategies": strategies, "small_wins": winners}


def _band_records(records: list[Row] | None, band: str) -> list[Row] | None:
    if records is None or band == "all":
        return records
    return [r for r in records if str(r["difficulty"]) == band]


def compare(small: dict[str, Any], large: dict[str, Any],
            small_records: list[Row] | None = None,
            large_records: list[Row] | None = None) -> dict[str, Any]:
    """Every band both summaries have; ``large`` must contain a greedy run. With both
    runs' per-problem records, each band's test is paired on problem ids."""
    small_bands, large_bands = _bands(small), _bands(large)
    out: dict[str, Any] = {}
    for band, rows in large_bands.items():
        greedy = [r for r in rows if r["strategy"] == "greedy"]
        if band not in small_bands:
            continue
        if not greedy:
            raise InvalidInput("the large model's scale report has no greedy run; run it "
                               "with --strategies greedy --budgets 1")
        out[band] = compare_band(small_bands[band], greedy[0],
                                 _band_records(small_records, band),
                                 _band_records(large_records, band))
    if not out:
        raise InvalidInput("the two scale reports share no difficulty level")
    wins = [b for b, v in out.items() if b != "all" and v["small_wins"]]
    tests = [s["test"] for v in out.values() for s in v["strategies"].values() if s["test"]]
    return {"bands": out, "bands_won": wins, "any_band_won": bool(wins),
            "paired": bool(tests) and all(t["paired"] for t in tests)}

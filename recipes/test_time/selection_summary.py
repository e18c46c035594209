"""Paired comparisons of the reward-model selectors across the edge recipe's ``select``
and ``aggregate`` runs (same problems and, by seeding, the same samples in both), so that
each reward model is compared with the other under the same selection rule:

- unweighted best-of-N: PRM (its last step's score) vs ORM;
- weighted best-of-N (scores summed per answer): PRM (last, min, product) vs ORM, and
  each against majority vote.

    python recipes/test_time/selection_summary.py chain   # -> reports/edge_chain_selection.json
"""

from __future__ import annotations

import json
import sys

from ponder.eval.report import REPORTS_DIR, write_report
from ponder.eval.stats import compare_paired

PAIRS = [("orm", "prm_best", "unweighted: PRM (last step) vs ORM"),
         ("orm_w", "prm", "weighted: PRM (last step) vs ORM"),
         ("orm_w", "prm_min", "weighted: PRM (min over steps) vs ORM"),
         ("orm_w", "prm_prod", "weighted: PRM (product) vs ORM"),
         ("vote", "prm_min", "PRM (min, weighted) vs majority vote"),
         ("vote", "orm_w", "ORM (weighted) vs majority vote"),
         ("orm", "orm_w", "ORM: weighted vs unweighted"),
         ("prm_best", "prm", "PRM (last): weighted vs unweighted")]


def outcomes(task: str, seed: int) -> dict[tuple[str, int], dict[str, bool]]:
    out: dict[tuple[str, int], dict[str, bool]] = {}
    for stage in ("select", "aggregate"):
        path = REPORTS_DIR / f"edge_{task}_{stage}_s{seed}.records.jsonl"
        for line in path.read_text().splitlines():
            r = json.loads(line)
            out.setdefault((r["strategy"], r["budget"]), {})[r["problem"]] = r["correct"]
    return out


def main(task: str) -> None:
    results = []
    for seed in (0, 1):
        arms = outcomes(task, seed)
        for budget in (4, 16):
            for a, b, what in PAIRS:
                ra, rb = arms[(a, budget)], arms[(b, budget)]
                common = sorted(set(ra) & set(rb))
                res = compare_paired([ra[p] for p in common], [rb[p] for p in common])
                results.append({"seed": seed, "budget": budget, "a": a, "b": b,
                                "comparison": what, **res})
                print(f"seed {seed} N={budget:>2} {what:<40} {res['diff']:+.3f} "
                      f"[{res['ci95'][0]:+.3f}, {res['ci95'][1]:+.3f}] {res['verdict']}")
    path = write_report(f"edge_{task}_selection", {"task": task, "comparisons": results},
                        title=f"Reward-model selection at the {task} edge, same rule paired")
    print(f"wrote {path}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "chain")

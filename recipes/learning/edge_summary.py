"""Paired comparisons of the learning arms of ``recipes/learning/edge.sh``: every arm
was scored on the same held-out problems (per seed), so each pair is compared problem
by problem (paired bootstrap interval of the difference, exact McNemar p-value), and an
arm is "better" only when the interval excludes zero. pass@k of base / rl / sft is
paired the same way on the per-problem share of correct samples.

    python recipes/learning/edge_summary.py chain   # -> reports/learn_edge_chain.json
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any

from ponder.eval.report import REPORTS_DIR, write_report
from ponder.eval.stats import compare_paired, wilson
from ponder.eval.traces import pass_at_k

ARMS = ("base", "star_norat_r1", "star_norat", "star_rat_r1", "star_rat", "rl", "sft",
        "flywheel_r1", "flywheel")
PAIRS = [("base", "star_norat", "claim 8: STaR without rationalization vs the base"),
         ("base", "star_rat", "claim 8: STaR with rationalization vs the base"),
         ("star_norat", "star_rat", "claim 8: rationalization (STaR with vs without)"),
         ("star_norat_r1", "star_norat", "claim 8: STaR round 2 vs round 1 (no rat.)"),
         ("star_rat_r1", "star_rat", "claim 8: STaR round 2 vs round 1 (rat.)"),
         ("base", "rl", "claim 9: RL vs the base"),
         ("base", "sft", "claim 9: continued SFT vs the base"),
         ("sft", "rl", "claim 9: RL vs continued SFT at equal steps"),
         ("base", "flywheel_r1", "claim 10: flywheel round 1 vs the base"),
         ("flywheel_r1", "flywheel", "claim 10: flywheel round 2 vs round 1"),
         ("base", "flywheel", "claim 10: flywheel (2 rounds) vs the base")]
TRACE_PAIRS = [("base", "rl"), ("base", "sft"), ("sft", "rl")]


def _load(path) -> dict[str, Any] | None:
    """A report's results (``ponder eval --json`` files are the results themselves)."""
    if not path.is_file():
        return None
    data = json.loads(path.read_text())
    return data.get("results", data)


def seeds(task: str) -> list[int]:
    pat = re.compile(rf"learn_edge_{task}_base_s(\d+)\.json$")
    return sorted(int(m[1]) for p in REPORTS_DIR.glob(f"learn_edge_{task}_base_s*.json")
                  if (m := pat.search(p.name)))


def outcomes(task: str, seed: int) -> dict[str, dict[str, bool]]:
    out = {}
    for arm in ARMS:
        res = _load(REPORTS_DIR / f"learn_edge_{task}_{arm}_s{seed}.json")
        if res is not None:
            out[arm] = {r["id"]: bool(r["correct"]) for r in res["records"]}
    return out


def arm_summary(correct: dict[str, bool]) -> dict[str, Any]:
    k, n = sum(correct.values()), len(correct)
    return {"accuracy": k / n, "ci95": list(wilson(k, n)), "n": n}


def trace_summary(task: str, seed: int, k_max: int) -> dict[str, Any]:
    reps = {arm: _load(REPORTS_DIR / f"learn_edge_{task}_traces_{arm}_s{seed}.json")
            for arm in ("base", "rl", "sft")}
    reps = {a: r for a, r in reps.items() if r is not None}
    out: dict[str, Any] = {"arms": {a: {"pass_at": r["pass_at"], **r["traces"]}
                                    for a, r in reps.items()}, "paired": []}
    for a, b in TRACE_PAIRS:
        if a not in reps or b not in reps:
            continue
        ca, cb = reps[a]["correct_counts"], reps[b]["correct_counts"]
        ids = sorted(set(ca) & set(cb))
        n = reps[a]["samples_per_problem"]
        for k in sorted({1, k_max, n}):
            if k > n:
                continue
            res = compare_paired([pass_at_k(n, ca[i], k) for i in ids],
                                 [pass_at_k(n, cb[i], k) for i in ids])
            out["paired"].append({"a": a, "b": b, "metric": f"pass@{k}", **res})
            print(f"  seed {seed} pass@{k:<2} {b} vs {a}: {res['diff']:+.3f} "
                  f"[{res['ci95'][0]:+.3f}, {res['ci95'][1]:+.3f}] {res['verdict']}")
    return out


def main(task: str) -> None:
    per_seed = []
    for seed in seeds(task):
        arms = outcomes(task, seed)
        entry: dict[str, Any] = {"seed": seed,
                                 "arms": {a: arm_summary(c) for a, c in arms.items()},
                                 "comparisons": []}
        for arm, s in entry["arms"].items():
            print(f"seed {seed} {arm:<14} {s['accuracy']:.3f} "
                  f"[{s['ci95'][0]:.3f}, {s['ci95'][1]:.3f}] n={s['n']}")
        for a, b, what in PAIRS:
            if a not in arms or b not in arms:
                continue
            common = sorted(set(arms[a]) & set(arms[b]))
            res = compare_paired([arms[a][i] for i in common], [arms[b][i] for i in common])
            entry["comparisons"].append({"a": a, "b": b, "comparison": what, **res})
            print(f"  {what:<58} {res['diff']:+.3f} [{res['ci95'][0]:+.3f}, "
                  f"{res['ci95'][1]:+.3f}] p={res['p_value']:.3g} {res['verdict']}")
        entry["traces"] = trace_summary(task, seed, 8)
        per_seed.append(entry)
    if not per_seed:
        sys.exit(f"no reports/learn_edge_{task}_base_s*.json: run recipes/learning/edge.sh")
    path = write_report(f"learn_edge_{task}", {"task": task, "seeds": per_seed},
                        title=f"Learning arms at the {task} edge, paired on held-out problems")
    print(f"wrote {path}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "chain")

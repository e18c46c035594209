"""Pair two models' `ponder eval --records` results on the same held-out problems and
write one JSON: per task, each model's accuracy with its Wilson interval, overall and
per level, and the paired difference (b - a: bootstrap interval over problems, exact
McNemar test) with its verdict, overall and per level.

    python recipes/compare_evals.py --a 'reports/compare/previous_{task}.json' \\
        --b 'reports/default_eval_{task}_trained.json' --tasks arith,chain,countdown,perm \\
        --names previous,current --out reports/default_vs_previous.json

``{task}`` in --a / --b is replaced by each task name. Both files must hold records
(`ponder eval --records`) of the same problems (same task, levels, n and seed).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ponder.eval.report import atomic_write_json
from ponder.eval.stats import (
    accuracy_by_level,
    compare_paired,
    format_ci,
    format_difference,
    wilson,
)


def records_of(path: Path) -> list[dict]:
    if not path.exists():
        sys.exit(f"no such file: {path}")
    data = json.loads(path.read_text())
    if not data.get("records"):
        sys.exit(f"{path} holds no records: run `ponder eval` with --records")
    return data["records"]


def side(records: list[dict]) -> dict:
    k, n = sum(bool(r["correct"]) for r in records), len(records)
    return {"accuracy": k / n, "n": n, "ci95": wilson(k, n),
            "by_level": accuracy_by_level(records)}


def pair(a: list[dict], b: list[dict]) -> dict:
    """compare_paired over the problems both score, overall and per level."""
    ra, rb = {r["id"]: r for r in a}, {r["id"]: r for r in b}
    ids = sorted(set(ra) & set(rb))
    if len(ids) != len(ra) or len(ids) != len(rb):
        sys.exit(f"the two results score different problems ({len(ra)} and {len(rb)}, "
                 f"{len(ids)} shared): evaluate both with the same task, levels, n and seed")

    def cmp(keys: list[str]) -> dict:
        return compare_paired([float(ra[i]["correct"]) for i in keys],
                              [float(rb[i]["correct"]) for i in keys])

    levels = sorted({int(ra[i]["difficulty"]) for i in ids})
    return {**cmp(ids), "by_level": {
        str(d): cmp([i for i in ids if int(ra[i]["difficulty"]) == d]) for d in levels}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--a", required=True, help="the first model's files, with {task}")
    ap.add_argument("--b", required=True, help="the second model's files, with {task}")
    ap.add_argument("--tasks", default="arith,chain,countdown,perm")
    ap.add_argument("--names", default="a,b", help="the two models' names, comma-separated")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    names = args.names.split(",")
    if len(names) != 2:
        sys.exit(f"--names needs two names, got {args.names!r}")
    result: dict = {"command": " ".join(["python", *sys.argv]), "a": names[0],
                    "b": names[1], "tasks": {}}
    for task in args.tasks.split(","):
        a = records_of(Path(args.a.format(task=task)))
        b = records_of(Path(args.b.format(task=task)))
        c = pair(a, b)
        result["tasks"][task] = {names[0]: side(a), names[1]: side(b), "difference": c}
        sa, sb = result["tasks"][task][names[0]], result["tasks"][task][names[1]]
        print(f"{task:>9}: {names[0]} {format_ci(sa['accuracy'], sa['ci95'], sa['n'])}, "
              f"{names[1]} {format_ci(sb['accuracy'], sb['ci95'], sb['n'])}; difference "
              f"{format_difference(c)} (McNemar p={c['p_value']:.3g})")
        for d, v in c["by_level"].items():
            print(f"{'':>11}L{d}: {v['mean_a']:.3f} -> {v['mean_b']:.3f} (n={v['n']}), "
                  f"{format_difference(v)}")
    atomic_write_json(args.out, result)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

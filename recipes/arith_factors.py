"""What stops a model at arith's first level past its training: greedy accuracy on
held-out problems of one operand shape and one operation at a time, each cell its own n
problems with a 95% Wilson interval, and how often the model ran its loops over the
operand it was given.

The ladder's level 6 (a 4-digit and a 3-digit operand) is the first with a 4-digit
operand and the first 3-digit multiplier beside it; here the larger operand's length
and the smaller's move one at a time (``ArithTask(shape=..., op=...)``). "Copied" is
read off the completion: a product's first line names the larger operand in full
(``4831*2``, or ``4831*15.2`` in the "consumed" trace), a sum has as many column lines
as the larger operand has digits (or, consumed, starts from all of it: ``483.1+``).

    python recipes/arith_factors.py --shapes 3x3,4x1,4x2,4x3 --n 250 \\
        --out reports/arith_factors.json

With ``--records``, it reads evaluations already run (``ponder eval --records`` of
arith or a variant) instead, and counts per level how often their loops ran over the
operand given, on the problems they were judged on:

    python recipes/arith_factors.py --records reports/ablation_consumed/*_arith.json \\
        --out reports/arith_copies.json
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from pathlib import Path

from ponder.errors import PonderError
from ponder.eval.accuracy import evaluate_task
from ponder.eval.report import atomic_write_json, command_line
from ponder.eval.stats import wilson
from ponder.lm.registry import load_lm, weights_digest
from ponder.lm.template import split_thinking
from ponder.tasks import get_task
from ponder.tasks.arith import ArithTask
from ponder.tasks.base import Problem

LEVEL = 6  # any level: the shape holds at all; 6 keeps clear of level 1's tiny space
COLUMN = re.compile(r"^\d\+\d\+\d=\d+:\d+$")


def thought_lines(completion: str) -> list[str]:
    """The completion's non-empty thinking lines, stripped."""
    thought = split_thinking(completion)[0] or completion
    return [x.strip() for x in thought.splitlines() if x.strip()]


def copied(problem: Problem, completion: str) -> bool:
    """Whether the completion's loops ran over the larger operand as given."""
    a, b, op = problem.meta["a"], problem.meta["b"], problem.meta["op"]
    lines = thought_lines(completion)
    if not lines:
        return False
    if op == "*":  # the first row's header, in the default trace or the consumed one
        return lines[0] in (f"{a}*{b % 10}", f"{a}*{str(b)[:-1]}.{b % 10}")
    if lines[0].startswith(f"{str(a)[:-1]}.{a % 10}+"):  # consumed: a's rest, then its digit
        return True
    return sum(bool(COLUMN.match(x)) for x in lines) == len(str(a))


ROW = re.compile(r"^\d+\*(?:\d|\d*\.\d)$")  # a row's header: 4831*2, or consumed 4831*15.2


def rows(completion: str) -> int:
    """How many rows (one per digit of the multiplier) a product's completion runs."""
    return sum(bool(ROW.match(x)) for x in thought_lines(completion))


def copies(path: Path) -> dict:
    """Per level of an arith evaluation with records: accuracy and the share of
    completions whose loops ran over the operand given (``copied``; a product's first
    header must also name the multiplier's last digit right), 95% intervals, and the
    accuracy of sums and of products apart; for
    products, the share whose first header names the multiplicand whole
    (``multiplicand_copied``) and how many rows they ran."""
    data = json.loads(path.read_text())
    if not str(data.get("task", "")).startswith("arith") or not data.get("records"):
        sys.exit(f"{path}: need an arith evaluation run with --records")
    task = get_task(data["task"])
    problems = {p.id: p for p in task.problems("test", data["n"], seed=data["seed"],
                                               difficulty=data["difficulty"])}
    by_level: dict[str, dict] = {}
    for level in sorted({int(r["difficulty"]) for r in data["records"]}):
        rows_of = [r for r in data["records"] if int(r["difficulty"]) == level]
        ok = sum(copied(problems[r["id"]], r["completion"]) for r in rows_of)
        k, n = sum(bool(r["correct"]) for r in rows_of), len(rows_of)
        by_level[str(level)] = {"n": n, "accuracy": k / n, "ci95": wilson(k, n),
                                "copied": ok / n, "copied_ci95": wilson(ok, n)}
        for op, name in (("+", "sums"), ("*", "products")):  # accuracy by operation
            of_op = [bool(r["correct"]) for r in rows_of if problems[r["id"]].meta["op"] == op]
            if of_op:
                by_level[str(level)][f"{name}_accuracy"] = {
                    "n": len(of_op), "accuracy": sum(of_op) / len(of_op),
                    "ci95": wilson(sum(of_op), len(of_op))}
        products = [r for r in rows_of if problems[r["id"]].meta["op"] == "*"]
        if products:  # the multiplicand copied whole, and rows run against b's digits
            whole = sum((thought_lines(r["completion"]) or [""])[0].startswith(
                f"{problems[r['id']].meta['a']}*") for r in products)
            by_level[str(level)]["multiplicand_copied"] = whole / len(products)
            by_level[str(level)]["multiplicand_copied_ci95"] = wilson(whole, len(products))
            by_level[str(level)]["products"] = len(products)
            counts = Counter(rows(r["completion"]) for r in products)
            by_level[str(level)]["rows_run"] = {str(c): v for c, v in sorted(counts.items())}
            by_level[str(level)]["multiplier_digits"] = sorted(
                {len(str(problems[r["id"]].meta["b"])) for r in products})
        cell = by_level[str(level)]
        print(f"{path} level {level}: accuracy {k / n:.3f}, operand copied {ok / n:.3f} "
              f"[{wilson(ok, n)[0]:.3f}, {wilson(ok, n)[1]:.3f}] n={n}; products: "
              f"multiplicand copied {cell.get('multiplicand_copied')} of "
              f"{cell.get('products')}, rows run {cell.get('rows_run')}", flush=True)
    return {"model": data.get("model"), "model_sha256": data.get("model_sha256"),
            "task": data["task"], "by_level": by_level}


def _shapes(text: str) -> list[tuple[int, int]]:
    try:
        out = [(int(x.split("x")[0]), int(x.split("x")[1])) for x in text.split(",") if x]
    except (ValueError, IndexError):
        sys.exit(f"--shapes: expected e.g. 3x3,4x1, got {text!r}")
    if not out:
        sys.exit("--shapes: give at least one shape")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="model spec (default: the bundled model)")
    ap.add_argument("--shapes", default="3x3,4x1,4x2,4x3",
                    help="digits of the larger x the smaller operand")
    ap.add_argument("--ops", default="+,*")
    ap.add_argument("--n", type=int, default=250, help="problems per cell")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--records", type=Path, nargs="+", default=None,
                    help="arith evaluations run with --records, read instead of a model")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    if args.records:
        missing = [p for p in args.records if not p.exists()]
        if missing:
            sys.exit(f"no such file: {missing[0]}")
        atomic_write_json(args.out, {"command": f"python {command_line()}",
                                     "split": "test", "answer_rule": "answer-line",
                                     "evaluations": {str(p): copies(p) for p in args.records}})
        print(f"wrote {args.out}")
        return
    shapes, ops = _shapes(args.shapes), [o for o in args.ops.split(",") if o]
    if args.n < 1:
        sys.exit(f"--n must be >= 1, got {args.n}")
    try:
        lm = load_lm(args.model)
        cells = []
        for shape in shapes:
            for op in ops:
                task = ArithTask(shape=shape, op=op)
                rep = evaluate_task(lm, task, args.n, seed=args.seed, difficulty=LEVEL,
                                    keep_records=True, progress=True)
                problems = {p.id: p for p in task.problems("test", args.n, seed=args.seed,
                                                           difficulty=LEVEL)}
                ok = [copied(problems[r["id"]], r["completion"]) for r in rep.records]
                k, n = sum(r["correct"] for r in rep.records), len(rep.records)
                cells.append({"shape": f"{shape[0]}x{shape[1]}", "op": op,
                              "accuracy": k / n, "ci95": wilson(k, n), "n": n,
                              "copied": sum(ok) / n, "copied_ci95": wilson(sum(ok), n)})
                c = cells[-1]
                print(f"{c['shape']} {op}: accuracy {c['accuracy']:.3f} "
                      f"[{c['ci95'][0]:.3f}, {c['ci95'][1]:.3f}], operand copied "
                      f"{c['copied']:.3f} n={n}", flush=True)
    except PonderError as e:
        sys.exit(str(e))
    result = {"command": f"python {command_line()}", "model": args.model or "default",
              "model_sha256": weights_digest(args.model), "split": "test",
              "seed": args.seed, "answer_rule": "answer-line", "cells": cells}
    atomic_write_json(args.out, result)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

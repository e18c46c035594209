"""Which of chain's two difficulty factors stops a model past its trained levels: greedy
accuracy on held-out chain problems over a grid of operations x distractor facts, each
cell its own n problems with a 95% Wilson interval.

The built-in ladder adds the first distractor at level 6, the same level that first asks
for six operations, so its level-6 accuracy cannot say which of the two the model fails
on; here each factor moves alone (``ChainTask(distractors=k)`` fixes the count).

    python recipes/chain_factors.py --ops 5,6,7 --distractors 0,1,2 --n 500 \\
        --out reports/chain_factors.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ponder.errors import PonderError
from ponder.eval.accuracy import evaluate_task
from ponder.eval.report import atomic_write_json, command_line
from ponder.lm.registry import load_lm, weights_digest
from ponder.tasks.chain import ChainTask


def _ints(text: str, what: str) -> list[int]:
    try:
        out = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        sys.exit(f"--{what}: expected comma-separated integers, got {text!r}")
    if not out:
        sys.exit(f"--{what}: give at least one value")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="model spec (default: the bundled model)")
    ap.add_argument("--ops", default="5,6,7", help="operation counts (chain levels)")
    ap.add_argument("--distractors", default="0,1,2", help="distractor facts per problem")
    ap.add_argument("--n", type=int, default=500, help="problems per cell")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    ops, counts = _ints(args.ops, "ops"), _ints(args.distractors, "distractors")
    if args.n < 1:
        sys.exit(f"--n must be >= 1, got {args.n}")
    try:
        lm = load_lm(args.model)
        cells = []
        for k in counts:
            task = ChainTask(distractors=k)
            rep = evaluate_task(lm, task, args.n * len(ops), seed=args.seed,
                                difficulty=ops, progress=True)
            for d in ops:
                cells.append({"ops": d, "distractors": k,
                              "accuracy": rep.by_difficulty[str(d)],
                              "ci95": rep.ci95_by_difficulty[str(d)],
                              "n": rep.n_by_difficulty[str(d)]})
                print(f"ops {d} distractors {k}: {cells[-1]['accuracy']:.3f} "
                      f"{cells[-1]['ci95']} n={cells[-1]['n']}", flush=True)
    except PonderError as e:
        sys.exit(str(e))
    result = {"command": f"python {command_line()}", "model": args.model or "default",
              "model_sha256": weights_digest(args.model), "split": "test",
              "seed": args.seed, "modulus": 17, "answer_rule": "answer-line",
              "chance": round(1 / 17, 4), "cells": cells}
    atomic_write_json(args.out, result)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

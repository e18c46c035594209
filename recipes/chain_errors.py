"""Where the chain-of-thought of a chain evaluation goes wrong: for every wrong answer
of a `ponder eval --task chain --records` result, the first wrong line of its chain of
thought and the first check that line fails (``ChainTask.first_error_kind``: a fact
misread, a value looked up wrong, the arithmetic, the reduction mod p), counted per
level, and for wrong look-ups how many copied the value the line before had named.
For every completion, right or wrong, it also counts the lines of its chain of thought
against the operations its question needs (the teacher's lines, one an operation), so
that a model past its trained levels shows whether it stops early.

    python recipes/chain_errors.py reports/default_eval_chain_trained.json \\
        --out reports/chain_errors.json
    python recipes/chain_errors.py reports/ablation_span/fine_chain.json \\
        --out reports/chain_errors_past.json     # levels 6-7, past training
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

from ponder.eval.report import atomic_write_json
from ponder.eval.stats import wilson
from ponder.lm.template import split_thinking
from ponder.tasks import get_task


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("eval_json", type=Path, help="a chain evaluation with --records")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    if not args.eval_json.exists():
        sys.exit(f"no such file: {args.eval_json}")
    data = json.loads(args.eval_json.read_text())
    if data.get("task") != "chain" or not data.get("records"):
        sys.exit(f"{args.eval_json}: need a chain evaluation run with --records")
    task = get_task("chain")
    # the evaluation's own problems: the same draw as `ponder eval` made
    problems = {p.id: p for p in task.problems(data.get("split", "test"), data["n"],
                                               seed=data["seed"],
                                               difficulty=data.get("difficulty"))}
    kinds: dict[str, Counter] = {}
    copied: Counter = Counter()
    wrong: Counter = Counter()
    first_line: Counter = Counter()  # which line of the trace is the first wrong one
    lines: dict[str, Counter] = {}  # per level: (lines needed, lines written) -> count
    for r in data["records"]:
        problem = problems.get(r["id"])
        if problem is None:
            sys.exit(f"problem {r['id']} is not in the draw: was the evaluation made with "
                     "another task version or draw?")
        level = str(problem.difficulty)
        steps = [s for s in split_thinking(r["completion"])[0].split("\n") if s.strip()]
        needed = len(task.teacher_trace(problem, "cot").split("\n")) - 1  # less the answer
        lines.setdefault(level, Counter())[needed, len(steps)] += 1
        if r["correct"]:
            continue
        wrong[level] += 1
        err = task.first_error_kind(problem, steps)
        kind = err["kind"] if err else "steps right, answer wrong or missing"
        kinds.setdefault(level, Counter())[kind] += 1
        if err and err["previous_line"]:
            copied[level] += 1
        if err:
            first_line[err["line"] + 1] += 1
    total = Counter()
    for c in kinds.values():
        total.update(c)
    lookups = sum(v for k, v in total.items() if k.startswith("look-up"))
    result = {"command": " ".join(["python", *sys.argv]), "source": str(args.eval_json),
              "model_sha256": data.get("model_sha256"), "wrong": sum(wrong.values()),
              "n": len(data["records"]), "kinds": dict(total.most_common()),
              "look_ups_copying_the_previous_line": sum(copied.values()),
              "look_ups": lookups,
              "first_wrong_line": {str(k): v for k, v in sorted(first_line.items())},
              "by_level": {d: {"wrong": wrong[d], "kinds": dict(kinds[d].most_common()),
                               "look_ups_copying_the_previous_line": copied[d]}
                           for d in sorted(wrong, key=int)},
              "lines": {d: line_counts(lines[d]) for d in sorted(lines, key=int)}}
    print(f"{result['wrong']} wrong of {result['n']}; first wrong line:")
    for k, v in total.most_common():
        print(f"  {k:38s} {v:4d} ({v / max(result['wrong'], 1):.0%})")
    print(f"  look-ups that copied the previous line's value: {sum(copied.values())} of "
          f"{lookups}")
    print("  first wrong line (1 = the trace's first):",
          ", ".join(f"{k}: {v}" for k, v in sorted(first_line.items())))
    for d, row in result["lines"].items():
        lo, hi = row["short_ci95"]
        print(f"  level {d}: fewer lines than operations needed in {row['short']:.3f} "
              f"[{lo:.3f}, {hi:.3f}] of {row['n']}; written by needed: {row['written']}")
    atomic_write_json(args.out, result)
    print(f"wrote {args.out}")


def line_counts(counts: Counter) -> dict:
    """Lines written against lines needed, for one level's completions: the share that
    wrote fewer (with its 95% Wilson interval), more, and the histogram of lines
    written for each number needed."""
    n = sum(counts.values())
    short = sum(v for (need, got), v in counts.items() if got < need)
    more = sum(v for (need, got), v in counts.items() if got > need)
    written: dict[str, dict[str, int]] = {}
    for (need, got), v in sorted(counts.items()):
        written.setdefault(str(need), {})[str(got)] = v
    return {"n": n, "short": short / n, "short_ci95": list(wilson(short, n)),
            "more": more / n, "written": written}


if __name__ == "__main__":
    main()

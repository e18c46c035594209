"""How many permutations a perm chain of thought applies, against how many its problem
asks for: for each `ponder eval --task perm --records` result given, per level, the
count of completions that apply each number of permutations (a permutation block is
its five ``i<-p[i]=item`` lines), split into right and wrong answers, with the share
that stops early, at the asked number, or runs on. It tells a loop that ends where the
prompt's list ends from one that ends after a count it learned. For chains in the
"consumed" style, whose first header copies the prompt's whole list, it also counts how
many permutations that first copy holds (``first_list``).

    python recipes/perm_loops.py reports/ablation_span/fine_perm.json \\
        reports/ablation_span/words_perm.json --out reports/perm_loops.json
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from pathlib import Path

from ponder.eval.report import atomic_write_json
from ponder.eval.stats import wilson
from ponder.lm.template import split_thinking

STEP = re.compile(r"^\s*\d<-\d=\S\s*$")
ITEMS = 5  # lines a permutation block holds (one per item)
LIST = re.compile(r"^\s*\d{5}(?: \d{5})*\s*$")  # a header of permutations (consumed)


def applied(completion: str) -> int:
    """Permutation blocks in a completion's thinking: its item lines over five, rounded
    up (a block cut short still counts as begun)."""
    lines = split_thinking(completion)[0].split("\n")
    return -(-sum(bool(STEP.match(line)) for line in lines) // ITEMS)


def first_list(completion: str) -> int | None:
    """How many permutations the first block's header lists (None: it lists none, as
    in the default trace, whose first header is ``Apply`` and a permutation)."""
    lines = [x for x in split_thinking(completion)[0].split("\n") if x.strip()]
    header = lines[1] if len(lines) > 1 else ""  # after the restated start
    return len(header.split()) if LIST.match(header) else None


def loops(records: list[dict]) -> dict[str, dict]:
    """Per level: counts of blocks applied (right / wrong answers) and the shares that
    stop early, at the asked number (= the level) and late, with 95% intervals."""
    out: dict[str, dict] = {}
    for level in sorted({int(r["difficulty"]) for r in records}):
        rows = [r for r in records if int(r["difficulty"]) == level]
        right = Counter(applied(r["completion"]) for r in rows if r["correct"])
        wrong = Counter(applied(r["completion"]) for r in rows if not r["correct"])
        n = len(rows)
        counts = right + wrong
        early = sum(v for k, v in counts.items() if k < level)
        late = sum(v for k, v in counts.items() if k > level)
        exact = counts[level]
        lists = Counter(first_list(r["completion"]) for r in rows)
        out[str(level)] = {
            "n": n,
            "applied_right": {str(k): v for k, v in sorted(right.items())},
            "applied_wrong": {str(k): v for k, v in sorted(wrong.items())},
            **{name: {"share": k / n, "ci95": wilson(k, n)}
               for name, k in (("early", early), ("asked", exact), ("late", late))},
        }
        if set(lists) != {None}:
            out[str(level)]["first_list"] = {str(k): v for k, v in sorted(
                lists.items(), key=lambda kv: -1 if kv[0] is None else kv[0])}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("eval_json", type=Path, nargs="+",
                    help="perm evaluations run with --records")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    result: dict = {"command": " ".join(["python", *sys.argv]), "evaluations": {}}
    for path in args.eval_json:
        if not path.exists():
            sys.exit(f"no such file: {path}")
        data = json.loads(path.read_text())
        if data.get("task") != "perm" or not data.get("records"):
            sys.exit(f"{path}: need a perm evaluation run with --records")
        by_level = loops(data["records"])
        result["evaluations"][str(path)] = {"model": data.get("model"),
                                            "model_sha256": data.get("model_sha256"),
                                            "by_level": by_level}
        for level, r in by_level.items():
            print(f"{path} level {level} (n={r['n']}): early {r['early']['share']:.3f}  "
                  f"asked {r['asked']['share']:.3f}  late {r['late']['share']:.3f}  "
                  f"blocks right {r['applied_right']} wrong {r['applied_wrong']}"
                  + (f"  first list {r['first_list']}" if "first_list" in r else ""))
    atomic_write_json(args.out, result)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

"""How much an ablation arm's accuracy depends on its training seed: one arm trained
with several seeds (``SEED=`` in ``recipes/ablations/reasoner.sh``), each evaluated on
the same held-out problems, summarised level by level. For each seed: accuracy with its
Wilson interval and n per level (and its training's steps and tokens); across seeds:
the mean, standard deviation, least and most, and how many seeds put the level inside
the edge-of-competence band (default 0.2-0.8, the band of the ladder's targets).

    python recipes/ablations/seeds.py --task arith --out reports/ablation_nopec_seeds.json \
        --seed 0=reports/ablation_abacus/nopec,reports/ablation_abacus_trained/nopec\
:runs/ablation_abacus/nopec --seed 1=...

A ``--seed`` value is LABEL=EVAL[,EVAL...][:RUNDIR]: EVAL an arm's evaluation without
its ``_<task>.json`` suffix (or the file itself), several for the levels evaluated
apart (past training, trained levels); RUNDIR the arm's training folder.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
from pathlib import Path

from summarize import training_end

from ponder.eval.report import atomic_write_json
from ponder.eval.stats import accuracy_by_level, format_ci


def parse_seed(spec: str, task: str) -> tuple[str, list[Path], Path | None]:
    """``LABEL=EVAL[,EVAL...][:RUNDIR]`` -> (label, evaluation files, run folder)."""
    label, sep, where = spec.partition("=")
    evals, _, run = where.partition(":")
    if not sep or not label or not evals:
        sys.exit(f"--seed: expected LABEL=EVAL[,EVAL...][:RUNDIR], got {spec!r}")
    files = []
    for e in evals.split(","):
        path = Path(e) if e.endswith(".json") else Path(f"{e}_{task}.json")
        if not path.exists():
            sys.exit(f"--seed {label}: no evaluation at {path}")
        files.append(path)
    if run and not Path(run).is_dir():
        sys.exit(f"--seed {label}: no training folder at {run}")
    return label, files, Path(run) if run else None


def _records(path: Path, label: str) -> list[dict]:
    """The evaluation records in ``path`` (``ponder eval --records``)."""
    try:
        records = json.loads(path.read_text()).get("records")
    except (json.JSONDecodeError, AttributeError):
        records = None
    if not isinstance(records, list):
        sys.exit(f"--seed {label}: {path} holds no evaluation records "
                 "(written by `ponder eval --records`)")
    return records


def across(accuracies: list[float], band: tuple[float, float]) -> dict:
    """The spread of one level's accuracy over seeds."""
    return {"accuracies": accuracies, "mean": statistics.fmean(accuracies),
            "sd": statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0,
            "min": min(accuracies), "max": max(accuracies),
            "seeds_in_band": sum(band[0] <= a <= band[1] for a in accuracies)}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--task", default="arith")
    ap.add_argument("--seed", action="append", required=True,
                    help="LABEL=EVAL[,EVAL...][:RUNDIR], once per training seed")
    ap.add_argument("--band", default="0.2,0.8", help="the edge-of-competence band")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    try:
        lo, hi = (float(x) for x in args.band.split(","))
    except ValueError:
        sys.exit(f"--band: expected LOW,HIGH, got {args.band!r}")
    seeds: dict[str, dict] = {}
    for spec in args.seed:
        label, files, run = parse_seed(spec, args.task)
        if label in seeds:
            sys.exit(f"--seed: label {label!r} given twice")
        records = [r for f in files for r in _records(f, label)]
        seeds[label] = {"evaluations": [str(f) for f in files],
                        "training": training_end(run) if run else None,
                        "by_level": accuracy_by_level(records)}
    levels = sorted({lv for s in seeds.values() for lv in s["by_level"]}, key=int)
    spread = {lv: across([s["by_level"][lv]["accuracy"] for s in seeds.values()
                          if lv in s["by_level"]], (lo, hi)) for lv in levels}
    result = {"command": shlex.join(["python", "recipes/ablations/seeds.py",
                                     *(argv if argv is not None else sys.argv[1:])]),
              "task": args.task, "band": [lo, hi], "seeds": seeds, "across_seeds": spread}
    atomic_write_json(args.out, result)
    for label, s in seeds.items():
        cells = "  ".join(f"L{lv} {format_ci(c['accuracy'], c['ci95'], c['n'])}"
                          for lv, c in s["by_level"].items())
        print(f"seed {label}: {cells}")
    for lv, c in spread.items():
        print(f"L{lv}: mean {c['mean']:.3f} sd {c['sd']:.3f} range [{c['min']:.3f}, "
              f"{c['max']:.3f}], {c['seeds_in_band']} of {len(c['accuracies'])} seeds in "
              f"[{lo}, {hi}]")
    print(f"wrote {args.out}")
    return result


if __name__ == "__main__":
    main()

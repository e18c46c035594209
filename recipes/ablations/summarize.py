"""Pair the ablation arms of ``recipes/ablations/reasoner.sh`` on the same held-out
problems and write ``reports/ablation_reasoner.json``: each arm's accuracy per task with
its Wilson interval, and each comparison's paired difference (bootstrap interval over
problems, exact McNemar test) with its verdict. With ``--runs`` (the arms' training
folders) each arm also gets the end of its training curve: tokens seen, and the last
training and held-out losses (each arm's held-out loss is on its own trace format, so
arms that change the format are compared on accuracy alone).

    python recipes/ablations/summarize.py [--dir reports/ablation] [--out ...] [--runs ...]
        [--arm NAME=EVALDIR[:RUNSDIR] ...]

``--arm`` brings in an arm evaluated in another folder (an earlier run of the recipe on
the same problems: same levels, n and evaluation seed), to be paired with this folder's.
"""

from __future__ import annotations

import argparse
import json
import statistics
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

#: (name, baseline arm, changed arm): "better" means the changed arm wins
COMPARISONS = [("format: fine vs coarse traces", "coarse", "fine"),
               ("curriculum: competence vs uniform", "fine", "competence"),
               ("preset: base vs small at equal time", "fine", "base"),
               ("chain format: named vs unnamed results", "unnamed", "fine"),
               ("perm format: linked vs unlinked headers", "unlinked", "fine"),
               ("precision: bf16 autocast vs float32 at equal time", "fine", "bf16"),
               ("chain format: constants listed first vs not", "fine", "listed"),
               ("chain format: constants quoted as stated vs not", "fine", "quoted"),
               ("positions: randomized (span) vs ordinary in training", "fine", "span"),
               ("positions: randomized, run at the training gaps vs ordinary", "fine",
                "scaled"),
               ("positions: randomized, run at the training gaps vs at gap 1", "span",
                "scaled"),
               ("positions: jittered around gap 1 (jitter) vs ordinary in training",
                "fine", "jitter"),
               ("positions: jittered around gap 1 vs mean gap SPAN at gap 1", "span",
                "jitter"),
               ("prompts: padded with spaces after sentences (pad) vs not", "fine", "pad"),
               ("prompts: padded with spaces after words (words) vs not", "fine", "words"),
               ("prompts: spaces after words vs after sentences", "pad", "words"),
               ("prompts: perm alone padded with up to 160 spaces after words vs not",
                "fine", "perm160"),
               ("prompts: perm padded with up to 160 vs 64 spaces after words", "words",
                "perm160"),
               ("prompts: perm alone padded with up to 64 spaces after words vs not",
                "fine", "perm64"),
               ("prompts: perm alone vs every family padded (64 spaces after words)",
                "words", "perm64"),
               ("prompts: perm alone padded with up to 160 vs 64 spaces after words",
                "perm64", "perm160"),
               ("prompts: arith alone padded with spaces after any character vs not",
                "fine", "chars"),
               ("arith format: digits taken off the operands' ends (consumed) vs read "
                "by their place", "fine", "consumed"),
               ("perm format: headers listing the permutations left (rest) vs linked "
                "pairs", "fine", "rest"),
               ("positions: none (NoPE) vs rotary, both fresh", "fine", "nope"),
               ("digit-index embeddings (Abacus) vs none, both without positions in the "
                "consumed arith trace", "nopec", "abacus"),
               ("arith trace: digits taken off the operands' ends (consumed) vs read by "
                "their place, both fresh without positions", "nope", "nopec")]


def load(folders: dict[str, Path], arm: str, task: str) -> dict[str, bool] | None:
    records = load_records(folders, arm, task)
    return None if records is None else {r["id"]: bool(r["correct"]) for r in records}


def load_records(folders: dict[str, Path], arm: str, task: str) -> list[dict] | None:
    """The records of ``arm`` on ``task``, from its folder (``folders``: arm -> folder)."""
    path = folders[arm] / f"{arm}_{task}.json"
    return json.loads(path.read_text())["records"] if path.exists() else None


def other_arms(specs: list[str]) -> dict[str, tuple[Path, Path | None]]:
    """``--arm NAME=EVALDIR[:RUNSDIR]`` values -> {name: (eval folder, runs folder)}."""
    out = {}
    for spec in specs:
        name, sep, where = spec.partition("=")
        evals, _, runs = where.partition(":")
        if not sep or not name or not evals or not Path(evals).is_dir():
            sys.exit(f"--arm: expected NAME=EVALDIR[:RUNSDIR] with an existing EVALDIR, "
                     f"got {spec!r}")
        out[name] = (Path(evals), Path(runs) if runs else None)
    return out


def training_end(run: Path) -> dict | None:
    """Tokens, steps and the last training / held-out loss of a run's metrics.jsonl, and
    the mean logged training loss in each tenth of its steps (a run that diverged late
    shows it there)."""
    path = run / "metrics.jsonl"
    if not path.exists():
        return None
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    train = [r for r in rows if r.get("kind") == "train"]
    held = [r for r in rows if r.get("kind") == "eval" and "heldout_loss" in r]
    if not train:
        return None
    return {"steps": train[-1]["step"], "tokens": train[-1].get("tokens"),
            "train_loss": train[-1]["loss"],
            "train_loss_tenths": [round(statistics.fmean(x["loss"] for x in part), 4)
                                  for part in (train[len(train) * k // 10:
                                                     len(train) * (k + 1) // 10]
                                               for k in range(10)) if part],
            "heldout_loss": held[-1]["heldout_loss"] if held else None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", type=Path, default=Path("reports/ablation"))
    ap.add_argument("--out", type=Path, default=Path("reports/ablation_reasoner.json"))
    ap.add_argument("--runs", type=Path, default=None,
                    help="the arms' training folders (RUNS/<arm>/metrics.jsonl)")
    ap.add_argument("--arm", action="append", default=[], metavar="NAME=EVALDIR[:RUNSDIR]",
                    help="an arm evaluated in another folder, on the same problems")
    args = ap.parse_args()
    # files are <arm>_<task>.json; a task may be a variant (fine_arith:mul.json)
    here = sorted({p.stem.split("_", 1)[0] for p in args.dir.glob("*_*.json")})
    tasks = sorted({p.stem.split("_", 1)[1] for p in args.dir.glob("*_*.json")})
    extra = other_arms(args.arm)
    folders = {arm: args.dir for arm in here} | {a: e for a, (e, _) in extra.items()}
    runs = {arm: args.runs for arm in here} | {a: r for a, (_, r) in extra.items()}
    arms = sorted(folders)
    result: dict = {"command": " ".join(["python", *sys.argv]), "arms": {},
                    "comparisons": []}
    for arm in arms:
        result["arms"][arm] = {}
        end = training_end(runs[arm] / arm) if runs[arm] else None
        if end is not None:
            result["arms"][arm]["training"] = end
            print(f"{arm:>11} training: {end['steps']} steps, {end['tokens']} tokens, loss "
                  f"{end['train_loss']:.3f}, held-out loss {end['heldout_loss']}")
        for task in tasks:
            records = load_records(folders, arm, task)
            if records is None:
                continue
            k, n = sum(bool(r["correct"]) for r in records), len(records)
            levels = accuracy_by_level(records)
            result["arms"][arm][task] = {"accuracy": k / n, "n": n, "ci95": wilson(k, n),
                                         "by_level": levels}
            print(f"{arm:>11} {task:>9}: {format_ci(k / n, wilson(k, n), n)}  by level: "
                  + " ".join(f"L{d} {v['accuracy']:.2f}" for d, v in levels.items()))
    for name, base, changed in COMPARISONS:
        for task in tasks:
            if base not in folders or changed not in folders:
                continue
            a, b = load(folders, base, task), load(folders, changed, task)
            if a is None or b is None:
                continue
            ids = sorted(set(a) & set(b))
            cmp = compare_paired([float(a[i]) for i in ids], [float(b[i]) for i in ids])
            result["comparisons"].append({"comparison": name, "task": task, "baseline": base,
                                          "changed": changed, **cmp})
            print(f"{name} [{task}]: {format_difference(cmp)}")
    atomic_write_json(args.out, result)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

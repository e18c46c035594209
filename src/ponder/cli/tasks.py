"""``ponder tasks``: list the built-in task families, show examples, export data sets."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ponder.errors import PonderError, Unsupported
from ponder.files import atomic_write_text
from ponder.tasks import BUILTIN, Task, get_task
from ponder.tasks.base import Problem, Split

tasks_app = typer.Typer(
    help="Built-in task families: list them, show examples, export JSONL data sets.",
    no_args_is_help=True,
)

TASK_ARG = typer.Argument(
    ..., metavar="TASK", help="Task name, e.g. arith (see `ponder tasks list`)."
)
DIFFICULTY_OPT = typer.Option(
    None, "--difficulty", "-d", help="One difficulty level; default: every level in turn."
)
STYLE_OPT = typer.Option(None, "--style", help="Trace style; default: the task's first.")
SPLIT_OPT = typer.Option("train", "--split", help="Which split to draw from.")
SEED_OPT = typer.Option(0, "--seed", help="Sampling seed.")


def _resolve(name: str, difficulty: int | None, style: str | None) -> tuple[Task, str]:
    """The task and the style to render, with user errors reported against the option
    that caused them (Click prints them as usage errors, exit code 2)."""
    try:
        task = get_task(name)
    except PonderError as e:
        raise typer.BadParameter(str(e), param_hint="TASK") from None
    try:
        if difficulty is not None:
            task.check_difficulty(difficulty)
    except PonderError as e:
        raise typer.BadParameter(str(e), param_hint="--difficulty") from None
    try:
        style = task.check_style(style or task.styles[0])
    except PonderError as e:
        raise typer.BadParameter(str(e), param_hint="--style") from None
    return task, style


@tasks_app.command("list")
def list_tasks() -> None:
    """List the built-in task families with their difficulty ranges and trace styles."""
    table = Table("task", "difficulty", "styles", "description")
    for name in BUILTIN:
        task = get_task(name)
        doc = (type(task).__doc__ or "").strip().splitlines()
        table.add_row(name, f"{task.min_difficulty}..{task.max_difficulty}",
                      ", ".join(task.styles), doc[0] if doc else "")
        for variant, text in task.variants.items():
            table.add_row(f"{name}:{variant}", f"{task.min_difficulty}..{task.max_difficulty}",
                          ", ".join(task.styles), text)
    Console().print(table)


def _trace(task: Task, problem: Problem, style: str | None) -> str | None:
    """The teacher trace, or None for data sets that have none (e.g. reasoning-gym)."""
    try:
        return task.teacher_trace(problem, style)
    except Unsupported:
        return None


@tasks_app.command("show")
def show(
    task_name: str = TASK_ARG,
    difficulty: int | None = DIFFICULTY_OPT,
    n: int = typer.Option(3, "-n", min=0, help="How many examples."),
    style: str | None = STYLE_OPT,
    split: Split = SPLIT_OPT,
    seed: int = SEED_OPT,
) -> None:
    """Print example problems with their prompt, teacher trace and answer."""
    task, style = _resolve(task_name, difficulty, style)
    console = Console()
    for p in task.problems(split, n, seed=seed, difficulty=difficulty):
        # Text, not markup: prompts contain brackets such as old[p[i]].
        trace = _trace(task, p, style) or "(no teacher trace)"
        body = Group(Text(p.prompt, style="bold"), Text(""), Text(trace))
        console.print(Panel(body, title=f"{p.id}  difficulty {p.difficulty}  {split}",
                            subtitle=Text(f"answer: {p.answer}"), title_align="left"))


@tasks_app.command("export")
def export(
    task_name: str = TASK_ARG,
    out: Path = typer.Option(..., "--out", help="JSONL file to write."),
    split: Split = SPLIT_OPT,
    n: int = typer.Option(1000, "-n", min=0, help="How many problems."),
    difficulty: int | None = DIFFICULTY_OPT,
    seed: int = SEED_OPT,
    style: str | None = STYLE_OPT,
) -> None:
    """Write problems as JSONL: one problem a line with its teacher trace ("trace")."""
    task, style = _resolve(task_name, difficulty, style)
    if not out.parent.is_dir():
        raise typer.BadParameter(f"directory {str(out.parent)!r} does not exist",
                                 param_hint="--out")
    with Console(stderr=True).status(f"drawing {n} {task.name} problems..."):
        problems = task.problems(split, n, seed=seed, difficulty=difficulty)
        rows = [{**p.to_dict(), "trace": _trace(task, p, style)} for p in problems]
    atomic_write_text(out, "".join(json.dumps(row) + "\n" for row in rows))
    note = "" if len(problems) == n else " (fewer distinct problems exist at this setting)"
    typer.echo(f"wrote {len(problems)} {task.name} problems ({split} split) to {out}{note}")


def register(app: typer.Typer) -> None:
    app.add_typer(tasks_app, name="tasks")

"""``ponder revision train``: fine-tune a revision model for the ``revise`` strategy."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import typer

from ponder.cli._common import parse_levels
from ponder.cli.star import TASKS_HELP, finetune_config

revision_app = typer.Typer(help="Revision models: a right attempt after the model's own "
                           "wrong ones (for the revise strategy).", no_args_is_help=True)


@revision_app.command("train")
def train(
    out: Path = typer.Option(..., "--out", help="Run directory (the model: OUT/checkpoint)."),
    model: str = typer.Option(None, "--model", help="Policy: a ponder checkpoint or run "
                              "(default: bundled), or hf:DIR (a transformers causal LM)."),
    lora: int = typer.Option(0, "--lora", help="hf: models: fine-tune rank-R LoRA "
                             "adapters instead of every weight (needs peft)."),
    task: str = typer.Option("arith", "--task", help=TASKS_HELP),
    problems: int = typer.Option(256, help="TRAIN problems per task."),
    difficulty: str = typer.Option(None, help="Comma-separated levels (default: all)."),
    samples: int = typer.Option(8, help="Attempts sampled per problem."),
    temperature: float = typer.Option(0.8),
    max_previous: int = typer.Option(4, help="Most wrong attempts shown before a right one."),
    trajectories: int = typer.Option(2, help="Examples built per usable problem."),
    plain_fraction: float = typer.Option(0.25, help="Share of plain first-attempt examples."),
    epochs: float = typer.Option(3.0, help="Passes over the examples collected (sets the "
                                 "steps; the collection's size is known only once sampled)."),
    steps: int = typer.Option(None, help="Fine-tuning steps (overrides --epochs)."),
    batch_size: int = typer.Option(16),
    lr: float = typer.Option(5e-4),
    seed: int = typer.Option(0),
    name: str = typer.Option(None, help="Report name (default revision_<tasks>)."),
) -> None:
    """Sample attempts on TRAIN problems, pair wrong ones with a right one, and fine-tune
    the policy on them (Snell et al. 2024, §6.1). Writes OUT/checkpoint and
    reports/<name>.json with what was collected."""
    from ponder.eval.report import write_report
    from ponder.tasks import parse_tasks
    from ponder.train.policy import open_policy
    from ponder.train.revision import RevisionConfig, train_revision

    tasks = parse_tasks(task)
    cfg = RevisionConfig(problems=problems, difficulty=parse_levels(difficulty),
                         samples=samples, temperature=temperature,
                         max_previous=max_previous, trajectories=trajectories,
                         plain_fraction=plain_fraction, seed=seed)
    policy, path = open_policy(model, lora=lora)
    typer.echo(f"sampling {samples} attempts on {problems} TRAIN problems per task...")
    # with --epochs the step budget is set once the examples are counted; the 10 here
    # only fixes the warm-up length
    result, stats = train_revision(policy, tasks, cfg,
                                   finetune_config(steps or 10, batch_size, lr, seed), out,
                                   epochs=None if steps else epochs)
    typer.echo(f"{stats['revision_examples']} revision + "
               f"{stats['examples'] - stats['revision_examples']} plain examples from "
               f"{stats['with_right_and_wrong']} of {stats['problems']} problems; "
               f"final loss {result.loss:.4f}")
    report = write_report(name or f"revision_{'_'.join(t.name for t in tasks)}",
                          {"task": task, "policy": path, "out": str(out),
                           "config": asdict(cfg), "collected": stats,
                           "final_loss": result.loss, "steps": result.step},
                          model=path, split="train", seed=seed,
                          title="Revision model: data collected on TRAIN problems")
    typer.echo(f"model: {out / 'checkpoint'}   report: {report}")


def register(app: typer.Typer) -> None:
    app.add_typer(revision_app, name="revision")

"""``ponder distill``: train a smaller student on a larger reasoner's verified traces."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import typer

from ponder.cli._common import parse_levels
from ponder.cli.star import TASKS_HELP
from ponder.lm.registry import load_lm


def distill(
    teacher: str = typer.Option(None, "--teacher", help="Teacher model (checkpoint, "
                                "hf:..., URL#name; default: bundled)."),
    preset: str = typer.Option("tiny", "--preset", help="Student size preset."),
    init: str = typer.Option(None, "--init", "--model", help="Start the student from this "
                             "model instead of a fresh preset one: a ponder checkpoint, or "
                             "hf:PATH (any transformers causal LM)."),
    lora: int = typer.Option(0, "--lora", help="With an hf: student, train LoRA adapters of "
                             "this rank instead of every weight (needs peft)."),
    task: str = typer.Option("arith", "--task", help=TASKS_HELP),
    out: Path = typer.Option(..., "--out", help="Run directory; the student goes to "
                             "OUT/checkpoint."),
    problems: int = typer.Option(1000, help="TRAIN problems per task for the teacher."),
    difficulty: str = typer.Option(None, help="Comma-separated levels (default: all)."),
    samples: int = typer.Option(2, help="Teacher samples per problem."),
    temperature: float = typer.Option(0.7),
    steps: int = typer.Option(1000, help="Student optimizer steps."),
    batch_size: int = typer.Option(32),
    lr: float = typer.Option(3e-3),
    eval_n: int = typer.Option(64, help="TEST problems per task for both models."),
    resume: bool = typer.Option(False, "--resume"),
    seed: int = typer.Option(0, "--seed"),
    name: str = typer.Option(None, help="Report name (default distill_<tasks>_<preset>)."),
) -> None:
    """Distil a reasoner into a smaller student.

    The teacher's verified TRAIN traces fine-tune a small student; student and teacher
    accuracy and FLOPs per answer go to reports/<name>.json."""
    from ponder.eval.report import write_report
    from ponder.tasks import parse_tasks
    from ponder.train.distill import DistillConfig, run_distill
    from ponder.train.loop import TrainConfig
    from ponder.train.policy import open_policy

    cfg = DistillConfig(preset=preset, problems=problems, difficulty=parse_levels(difficulty),
                        samples=samples, temperature=temperature, eval_n=eval_n, seed=seed)
    train = TrainConfig(steps=steps, batch_size=batch_size, lr=lr, eval_every=0, seed=seed)
    if lora and not init:
        raise typer.BadParameter("--lora needs an hf: student (--init hf:PATH)")
    student = open_policy(init, lora=lora)[0] if init else None
    tasks = parse_tasks(task)
    res = run_distill(load_lm(teacher), tasks, cfg, train, out, student=student, resume=resume)
    name = name or f"distill_{'_'.join(t.name for t in tasks)}_{preset}"
    report = write_report(name, {**res, "config": asdict(cfg), "steps": steps,
                                 "out": str(out)},
                          model=teacher or "default", split="test", seed=seed,
                          title=f"Distillation into a {preset} student on {task}")
    s, t = res["student"], res["teacher"]
    typer.echo(f"teacher {t['accuracy']:.3f} at {t['flops_per_answer']:.3g} FLOPs/answer; "
               f"student {s['accuracy']:.3f} at {s['flops_per_answer']:.3g}; wrote {report}")


def register(app: typer.Typer) -> None:
    app.command("distill")(distill)

"""``ponder star`` (self-taught reasoning rounds) and ``ponder seed`` (the weak SFT seed
STaR and RL start from), and the option helpers the learning commands share."""

from __future__ import annotations

from pathlib import Path

import typer

from ponder.cli._common import parse_levels

TASKS_HELP = "Task families, comma-separated (e.g. arith,countdown)."


def finetune_config(steps: int, batch_size: int, lr: float, seed: int):
    """The fine-tuning budget of STaR / flywheel / distillation rounds."""
    from ponder.train.loop import TrainConfig

    return TrainConfig(steps=steps, batch_size=batch_size, lr=lr, warmup_steps=min(10, steps),
                       eval_every=0, save_every=0, log_every=10, seed=seed)


def star(
    model: str = typer.Option(None, "--model", help="Base model: a ponder checkpoint (e.g. "
                              "a seed model) or run, or hf:DIR (a transformers causal LM)."),
    lora: int = typer.Option(0, "--lora", help="hf: models: fine-tune rank-R LoRA "
                             "adapters instead of every weight (needs peft)."),
    task: str = typer.Option("arith", "--task", help=TASKS_HELP),
    rounds: int = typer.Option(3, "--rounds", help="Outer STaR loops."),
    out: Path = typer.Option(..., "--out", help="Run directory (one subdirectory a round)."),
    rationalize: bool = typer.Option(True, "--rationalize/--no-rationalize",
                                     help="Retry failures with the answer as a hint."),
    check_steps: bool = typer.Option(False, "--check-steps", help="Keep only rationales "
                                     "whose every step passes the task's step checker."),
    problems: int = typer.Option(256, help="TRAIN problems per task (same set each round)."),
    difficulty: str = typer.Option(None, help="Comma-separated levels (default: all)."),
    samples: int = typer.Option(4, help="Rationales sampled per problem."),
    temperature: float = typer.Option(0.7),
    steps: int = typer.Option(200, help="Fine-tuning steps in round 1 (x1.2 per round)."),
    batch_size: int = typer.Option(32),
    lr: float = typer.Option(1e-3),
    eval_n: int = typer.Option(64, help="TEST problems per task after each round."),
    seed: int = typer.Option(0),
    name: str = typer.Option(None, help="Report name (default star_<tasks>[_norat])."),
) -> None:
    """STaR: self-taught reasoning rounds (Zelikman et al. 2022).

    Sample rationales, keep the verified ones (and, with rationalization, those found
    with the answer as a hint, hint removed), fine-tune the ORIGINAL base on them,
    evaluate; repeat. Writes reports/<name>.json."""
    from ponder.eval.report import write_report
    from ponder.tasks import parse_tasks
    from ponder.train.policy import open_policy
    from ponder.train.star import StarConfig, run_star

    cfg = StarConfig(rounds=rounds, problems=problems, difficulty=parse_levels(difficulty),
                     samples=samples, temperature=temperature, rationalize=rationalize,
                     check_steps=check_steps,
                     eval_n=eval_n, seed=seed)
    tasks = parse_tasks(task)
    base, path = open_policy(model, lora=lora)

    def log(r: dict) -> None:
        c = r["collected"]
        acc = "-" if r["accuracy"] is None else f"{r['accuracy']:.3f}"
        kept = f"  kept {c['kept']} (solved {c['solved']}, rationalized " \
               f"{c['rationalized']} of {c['problems']})" if c else ""
        typer.echo(f"round {r['round']}: test accuracy {acc}{kept}", err=True)

    results = run_star(base, tasks, cfg, finetune_config(steps, batch_size, lr, seed), out,
                       log=log)
    name = name or f"star_{'_'.join(t.name for t in tasks)}{'' if rationalize else '_norat'}"
    report = write_report(
        name, {"rounds": [r.__dict__ for r in results],
               "accuracy_by_round": [r.accuracy for r in results],
               "config": cfg.__dict__, "finetune_steps": steps, "out": str(out)},
        model=path, split="test", seed=seed,
        title=f"STaR on {task} ({'with' if rationalize else 'without'} rationalization)")
    typer.echo(f"wrote {out} and {report}")


def seed_cmd(
    task: str = typer.Option("arith,chain,countdown,perm", "--task", help=TASKS_HELP),
    out: Path = typer.Option(..., "--out", help="Run directory; the model goes to "
                             "OUT/checkpoint."),
    per_family: int = typer.Option(200, help="Teacher traces per task family."),
    preset: str = typer.Option("small", help="Model size preset."),
    init: str = typer.Option(None, "--init", help="Continue from this model instead of a "
                             "fresh one: a ponder checkpoint or run (continued SFT on "
                             "teacher traces), or hf:DIR (a cold start for STaR and RL)."),
    difficulty: str = typer.Option(None, help="Comma-separated levels (default: all)."),
    hint_fraction: float = typer.Option(0.25, help="Share of problems also shown with "
                                        "the answer as a STaR hint."),
    steps: int = typer.Option(1500, help="Optimizer steps."),
    batch_size: int = typer.Option(32),
    lr: float = typer.Option(3e-3),
    eval_n: int = typer.Option(64, help="TEST problems per task for the final accuracy."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in OUT."),
    seed: int = typer.Option(0, "--seed"),
    name: str = typer.Option(None, help="Report name (default seed_<tasks>)."),
) -> None:
    """Train a weak SFT seed (few teacher traces per family) for STaR and RL.

    A fresh model is fit to a few TRAIN traces per task family (some repeated with the
    STaR hint). Writes OUT/checkpoint and reports/<name>.json (held-out accuracy)."""
    from ponder.eval.report import write_report
    from ponder.tasks import parse_tasks
    from ponder.train.loop import TrainConfig
    from ponder.train.seed import SeedConfig, train_seed

    cfg = SeedConfig(per_family=per_family, difficulty=parse_levels(difficulty),
                     hint_fraction=hint_fraction, preset=preset, eval_n=eval_n,
                     init=init)
    train = TrainConfig(steps=steps, batch_size=batch_size, lr=lr, seed=seed)
    tasks = parse_tasks(task)
    _, result = train_seed(tasks, cfg, train, out, resume=resume)
    name = name or f"seed_{'_'.join(t.name for t in tasks)}"
    report = write_report(name, {"eval": result.eval, "final_loss": result.loss,
                                 "steps": result.step, "config": cfg.__dict__,
                                 "out": str(out)},
                          model=str(out / "checkpoint"), split="test", seed=seed,
                          title=f"Weak SFT seed ({per_family} traces per family)")
    typer.echo(f"accuracy {result.eval.get('accuracy')}; wrote {out} and {report}")


def register(app: typer.Typer) -> None:
    app.command("star")(star)
    app.command("seed")(seed_cmd)

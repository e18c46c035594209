"""``ponder flywheel``: expert iteration — search on train problems, keep the verified
traces as SFT data and every trace's labelled steps as PRM data, retrain, repeat."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import typer

from ponder.cli._common import parse_levels
from ponder.cli.star import TASKS_HELP, finetune_config
from ponder.errors import InvalidInput


def flywheel(
    model: str = typer.Option(None, "--model", help="Base policy: a ponder checkpoint or "
                              "run, or hf:DIR (a transformers causal LM)."),
    lora: int = typer.Option(0, "--lora", help="hf: models: fine-tune rank-R LoRA "
                             "adapters instead of every weight (needs peft)."),
    task: str = typer.Option("arith", "--task", help=TASKS_HELP),
    rounds: int = typer.Option(3, "--rounds"),
    out: Path = typer.Option(..., "--out", help="Run directory (one subdirectory a round)."),
    strategy: str = typer.Option("vote", help="Test-time strategy that searches (vote, "
                                 "best_of_n, beam, mcts...)."),
    n: int = typer.Option(8, "--n", help="Search budget (samples) per problem."),
    options: str = typer.Option("{}", help='Strategy options as JSON, e.g. '
                                '\'{"scorer": "verifier"}\'.'),
    temperature: float = typer.Option(0.8),
    max_tokens: int = typer.Option(512),
    problems: int = typer.Option(256, help="TRAIN problems per task (same set each round)."),
    difficulty: str = typer.Option(None, help="Comma-separated levels (default: all)."),
    from_base: bool = typer.Option(True, "--from-base/--continue",
                                   help="Retrain from the base each round (ReST-EM) or "
                                   "continue from the current policy."),
    accumulate: bool = typer.Option(False, help="Train on every round's data so far."),
    train_prm: bool = typer.Option(False, "--train-prm", help="Retrain a PRM each round on "
                                   "the labelled traces and search with it next round."),
    prm_steps: int = typer.Option(200, help="PRM optimizer steps per round."),
    steps: int = typer.Option(200, help="Policy fine-tuning steps per round."),
    batch_size: int = typer.Option(32),
    lr: float = typer.Option(1e-3),
    eval_n: int = typer.Option(64, help="TEST problems per task after each round."),
    seed: int = typer.Option(0, "--seed"),
    name: str = typer.Option(None, help="Report name (default flywheel_<tasks>_<strategy>)."),
) -> None:
    """Expert iteration: search, keep verified traces, retrain, repeat.

    Each round's best verified search traces become SFT data, every trace's steps
    become PRM data (OUT/roundN/{sft,prm}.jsonl), the policy (and with --train-prm the
    PRM) is retrained, and held-out accuracy is measured. Writes reports/<name>.json."""
    from ponder.eval.report import write_report
    from ponder.tasks import parse_tasks
    from ponder.train.flywheel import FlywheelConfig, prm_trainer_from, run_flywheel
    from ponder.train.policy import open_policy

    try:
        opts = json.loads(options)
    except json.JSONDecodeError as e:
        raise InvalidInput(f"--options is not valid JSON: {e}") from None
    cfg = FlywheelConfig(rounds=rounds, strategy=strategy, n=n, temperature=temperature,
                         max_tokens=max_tokens, options=opts, problems=problems,
                         difficulty=parse_levels(difficulty), from_base=from_base,
                         accumulate=accumulate, eval_n=eval_n, seed=seed)
    trainer = None
    if train_prm:
        from ponder.train.prm import RewardTrainConfig

        trainer = prm_trainer_from(RewardTrainConfig(steps=prm_steps, seed=seed))
    tasks = parse_tasks(task)
    base, path = open_policy(model, lora=lora)

    def log(row: dict) -> None:
        acc = "-" if row.get("accuracy") is None else f"{row['accuracy']:.3f}"
        extra = f"  solved {row['solved']}/{row['problems']}, {row['traces']} traces" \
            if "solved" in row else ""
        typer.echo(f"round {row['round']}: test accuracy {acc}{extra}", err=True)

    rows = run_flywheel(base, tasks, cfg, finetune_config(steps, batch_size, lr, seed),
                        out, prm_trainer=trainer, log=log)
    name = name or f"flywheel_{'_'.join(t.name for t in tasks)}_{strategy}"
    report = write_report(name, {"rounds": rows,
                                 "accuracy_by_round": [r.get("accuracy") for r in rows],
                                 "config": asdict(cfg), "finetune_steps": steps,
                                 "out": str(out)},
                          model=path, split="test", seed=seed,
                          title=f"Expert iteration ({strategy}) on {task}")
    typer.echo(f"wrote {out} and {report}")


def register(app: typer.Typer) -> None:
    app.command("flywheel")(flywheel)

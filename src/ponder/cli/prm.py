"""``ponder prm``: train and evaluate outcome/process reward models."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import typer

from ponder.cli._common import parse_levels
from ponder.errors import InvalidInput

prm_app = typer.Typer(help="Outcome (ORM) and process (PRM) reward models.",
                      no_args_is_help=True)


@prm_app.command("train")
def train(
    out: Path = typer.Option(..., "--out", help="Directory to write the reward model to."),
    model: str = typer.Option(None, "--model", help="Policy: a ponder checkpoint or run "
                              "(default: bundled), or hf:DIR (a transformers causal LM)."),
    task: str = typer.Option("chain", "--task", help="Task family to train on."),
    labels: str = typer.Option("exact", help="Step labels: exact (step checker) or mc "
                               "(Monte-Carlo rollouts, Math-Shepherd)."),
    kind: str = typer.Option("prm", help="prm (score every step) or orm (whole solution)."),
    problems: int = typer.Option(200, help="Training problems (train split)."),
    difficulty: str = typer.Option(None, help="Comma-separated levels to train and "
                                   "evaluate on (default: all)."),
    samples: int = typer.Option(4, help="Policy samples per problem."),
    mc_k: int = typer.Option(4, "--mc-k", help="Rollouts per step prefix for mc labels."),
    steps: int = typer.Option(300, help="Optimizer steps."),
    batch_size: int = typer.Option(32),
    lr: float = typer.Option(3e-4),
    max_tokens: int = typer.Option(384, help="Max tokens per policy sample."),
    eval_problems: int = typer.Option(100, help="Held-out problems for step accuracy."),
    seed: int = typer.Option(0),
    name: str = typer.Option(None, help="Report name (default prm_<task>_<labels>_<kind>)."),
) -> None:
    """Train a reward model on the policy's own samples and report its held-out step
    accuracy against exact labels (reports/<name>.json)."""
    from ponder.eval.report import write_report
    from ponder.lm.reward import save_scorer
    from ponder.tasks import get_task
    from ponder.train.policy import open_policy
    from ponder.train.prm import (
        LABELS,
        RewardTrainConfig,
        label_exact,
        mc_labels,
        sample_policy,
        step_accuracy,
        train_reward_model,
    )

    if labels not in LABELS:
        raise InvalidInput(f"--labels must be one of {LABELS}, got {labels!r}")
    cfg = RewardTrainConfig(kind=kind, steps=steps, batch_size=batch_size, lr=lr, seed=seed)
    levels = parse_levels(difficulty)
    t = get_task(task)
    policy, path = open_policy(model)
    lm = policy.lm()
    typer.echo(f"sampling {problems}x{samples} training completions from the policy...")
    train_set = sample_policy(lm, t.problems("train", problems, seed=seed,
                                             difficulty=levels), samples, max_tokens, seed=seed)
    if labels == "mc":
        typer.echo(f"Monte-Carlo labels: {mc_k} rollouts per step prefix...")
        mc_labels(lm, train_set, k=mc_k, max_tokens=max_tokens, seed=seed + 1)
    else:
        label_exact(train_set)
    test_set = sample_policy(lm, t.problems("test", eval_problems, seed=seed,
                                                 difficulty=levels), samples,
                             max_tokens, seed=seed + 2)
    label_exact(test_set)  # held-out truth is always the exact checker

    def log(m: dict) -> None:
        if m["step"] % 25 == 0 or m["step"] == steps:
            typer.echo(f"step {m['step']:>5}/{steps}  loss {m['loss']:.4f}  "
                       f"{m['elapsed']:.0f}s")

    scorer = train_reward_model(policy, train_set, cfg, log=log)
    save_scorer(out, scorer, recipe={"task": task, "labels": labels, "policy": path,
                                     "difficulty": levels, **asdict(cfg)})
    acc = step_accuracy(scorer, test_set, lm)
    name = name or f"prm_{task}_{labels}_{kind}"
    path = write_report(name, {"task": task, "labels": labels, "kind": kind,
                               "difficulty": levels, **acc,
                               "train_samples": len(train_set)},
                        model=str(model or "default"), seed=seed,
                        title=f"{kind.upper()} on {task} ({labels} labels): held-out step "
                              "accuracy")
    typer.echo(f"step accuracy {acc['step_accuracy']:.3f} (majority "
               f"{acc['majority_baseline']:.3f}); outcome accuracy "
               f"{acc['outcome_accuracy']:.3f}; wrote {out} and {path}")


def register(app: typer.Typer) -> None:
    app.add_typer(prm_app, name="prm")

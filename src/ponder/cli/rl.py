"""``ponder rl`` (RL with verifiable rewards) and ``ponder traces`` (pass@k and
chain-of-thought statistics of a model's samples, to compare before and after RL)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import typer

from ponder.cli._common import COMPILE_HELP, parse_levels
from ponder.cli.star import TASKS_HELP
from ponder.lm.registry import load_lm


def rl(
    model: str = typer.Option(None, "--model", help="Starting policy: a ponder checkpoint "
                              "or run, or hf:DIR (any transformers causal LM)."),
    lora: int = typer.Option(0, "--lora", help="hf: models: train rank-R LoRA adapters "
                             "instead of every weight (needs peft)."),
    task: str = typer.Option("arith", "--task", help=TASKS_HELP),
    out: Path = typer.Option(..., "--out", help="Run directory (checkpoint, state, metrics)."),
    steps: int = typer.Option(200, "--steps", help="RL steps (one rollout each)."),
    batch: int = typer.Option(8, "--batch", help="Train problems per step."),
    group: int = typer.Option(8, "--group", help="Samples per problem (G)."),
    advantage: str = typer.Option("grpo", "--advantage",
                                  help="grpo | dr_grpo | rloo | reinforce."),
    kl: float = typer.Option(0.0, "--kl", help="KL coefficient beta (k3 estimator) to the "
                             "starting policy."),
    lr: float = typer.Option(1e-4, "--lr"),
    temperature: float = typer.Option(1.0, help="Rollout sampling temperature."),
    max_tokens: int = typer.Option(None, help="Cap per completion (default: 1.5x the "
                                   "teacher's length at the problem's level)."),
    difficulty: str = typer.Option(None, help="Comma-separated levels (default: all)."),
    clip: float = typer.Option(0.2, help="PPO clip epsilon (low side)."),
    clip_high: float = typer.Option(None, help="Upper clip epsilon (DAPO clip-higher)."),
    epochs: int = typer.Option(1, help="Passes over each rollout."),
    minibatches: int = typer.Option(1, help="Optimizer steps per pass."),
    aggregate: str = typer.Option("token", help="Loss mean: token | sequence (GRPO)."),
    format_weight: float = typer.Option(0.0, help="Weight of the format reward."),
    overlong_cache: int = typer.Option(0, help="DAPO soft length penalty window (tokens)."),
    prm: Path = typer.Option(None, "--prm", help="PRM directory for a process reward."),
    prm_weight: float = typer.Option(0.0, help="Weight of the PRM's process reward."),
    drop_uniform: bool = typer.Option(False, help="Drop groups with all-equal rewards."),
    skip_zero_advantage: bool = typer.Option(
        True, help="Leave rows whose advantage is 0 out of the update's forward and "
        "backward pass when there is no KL term (the same gradient for less compute)."),
    compile: bool = typer.Option(False, "--compile", help=COMPILE_HELP),
    eval_every: int = typer.Option(25, help="Steps between held-out evaluations."),
    eval_n: int = typer.Option(64, help="TEST problems per task per evaluation."),
    save_every: int = typer.Option(25, help="Steps between checkpoints."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in OUT."),
    seed: int = typer.Option(0, "--seed"),
    name: str = typer.Option(None, help="Report name (default rl_<tasks>_<advantage>)."),
) -> None:
    """Reinforcement learning with verifiable rewards (GRPO, RLOO, REINFORCE).

    Each step: rollout (G samples per train problem) -> verifier reward -> group
    advantage -> clipped token-level loss (+ KL) -> AdamW. Shows reward, accuracy,
    chain-of-thought length and KL as it trains; writes OUT/metrics.jsonl, atomic
    checkpoints (--resume continues), and reports/<name>.json."""
    from ponder.eval.report import write_report
    from ponder.tasks import parse_tasks
    from ponder.train.losses import LossConfig
    from ponder.train.policy import open_policy
    from ponder.train.rewards import RewardConfig
    from ponder.train.rl import RLConfig, run_rl

    cfg = RLConfig(steps=steps, batch=batch, group=group, advantage=advantage,
                   difficulty=parse_levels(difficulty), temperature=temperature,
                   max_tokens=max_tokens, lr=lr, epochs=epochs, minibatches=minibatches,
                   drop_uniform=drop_uniform, skip_zero_advantage=skip_zero_advantage,
                   loss=LossConfig(eps_low=clip, eps_high=clip_high, beta=kl,
                                   aggregate=aggregate),
                   reward=RewardConfig(format_weight=format_weight,
                                       overlong_cache=overlong_cache, prm_weight=prm_weight),
                   eval_every=eval_every, eval_n=eval_n, save_every=save_every, seed=seed)
    tasks = parse_tasks(task)
    policy, path = open_policy(model, lora=lora, compile=compile)
    scorer = None
    if prm is not None:
        from ponder.lm.reward import open_scorer

        scorer = open_scorer(prm)
    result = run_rl(policy, tasks, cfg, out, resume=resume, prm=scorer,
                    meta={"base": path})
    name = name or f"rl_{'_'.join(t.name for t in tasks)}_{advantage}"
    evals = result.evals
    report = write_report(
        name, {"accuracy_before": evals[0]["accuracy"] if evals and evals[0]["step"] == 0
               else None,
               "accuracy_after": evals[-1]["accuracy"] if evals else None,
               "evals": evals, "last_step": result.last, "steps": result.step,
               "config": asdict(cfg),
               "out": str(out)},
        model=path, split="test", seed=seed, title=f"RL ({advantage}) on {task}")
    typer.echo(f"wrote {out} and {report}")


def traces(
    model: str = typer.Option(None, "--model", help="Model (checkpoint, hf:..., URL)."),
    task: str = typer.Option("countdown", "--task", help="One task family."),
    n: int = typer.Option(64, "-n", help="TEST problems."),
    k: int = typer.Option(16, "-k", help="Samples per problem (pass@1..k)."),
    temperature: float = typer.Option(1.0),
    difficulty: str = typer.Option(None, help="Comma-separated levels (default: all)."),
    max_tokens: int = typer.Option(None, help="Cap per completion (default: per level)."),
    seed: int = typer.Option(0, "--seed"),
    name: str = typer.Option(None, help="Report name (default traces_<task>)."),
) -> None:
    """pass@k and chain-of-thought statistics of a model's samples.

    pass@1..k by the unbiased estimator of Chen et al. 2021, and length, backtracks and
    self-corrections of k samples per held-out problem; writes reports/<name>.json."""
    from ponder.eval.report import write_report
    from ponder.eval.traces import sample_report
    from ponder.tasks import get_task

    lm = load_lm(model)
    rep = sample_report(lm, get_task(task), n, k, temperature=temperature, seed=seed,
                        difficulty=parse_levels(difficulty), max_tokens=max_tokens)
    path = write_report(name or f"traces_{task}", rep, model=model or "default", split="test",
                        seed=seed, title=f"pass@k and trace statistics on {task}")
    s = rep["traces"]
    typer.echo(f"pass@1 {rep['pass_at']['1']:.3f}  pass@{k} {rep['pass_at'][str(k)]:.3f}  "
               f"tokens {s['mean_tokens']:.1f}  backtracks/trace "
               f"{s['backtracks_per_trace']:.2f}; wrote {path}")


def register(app: typer.Typer) -> None:
    app.command("rl")(rl)
    app.command("traces")(traces)

"""``ponder optimal fit``: fit compute-optimal policies on training problems."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from ponder.errors import InvalidInput

optimal_app = typer.Typer(help="Compute-optimal test-time scaling (Snell et al. 2024).",
                          no_args_is_help=True)


@optimal_app.command("fit")
def fit(
    out: Path = typer.Option(..., "--out", help="Policy JSON file to write."),
    task: str = typer.Option("chain", "--task", help="Task family (train split)."),
    model: str = typer.Option(None, "--model", help="Policy model (default: bundled)."),
    strategies: str = typer.Option("greedy,vote,best_of_n", help="Candidate strategies."),
    budgets: str = typer.Option("1,4,16", help="Candidate budgets (samples)."),
    targets: str = typer.Option(None, help="Target budgets to fit a policy for "
                                "(default: the candidate budgets)."),
    n: int = typer.Option(100, "--n", help="Training problems."),
    difficulty: str = typer.Option(None, help="Comma-separated difficulty levels."),
    probe_n: int = typer.Option(4, help="Probe samples for the difficulty estimate."),
    signal: str = typer.Option("agreement", help="Difficulty signal: agreement, prm, orm."),
    prm: Path = typer.Option(None, help="Process reward model directory."),
    options: str = typer.Option("{}", help="Per-strategy options as JSON."),
    max_tokens: int = typer.Option(512),
    temperature: float = typer.Option(0.8),
    seed: int = typer.Option(0),
) -> None:
    """Estimate the difficulty of training problems from probes, measure every candidate
    per difficulty bin, and write one policy per target budget. Evaluate it on held-out
    problems with: ponder scale --strategies optimal --options
    '{"optimal": {"policy": "OUT"}}' --budgets TARGETS."""
    from ponder.cli._common import parse_ints, parse_levels
    from ponder.eval.optimal_fit import fit_compute_optimal
    from ponder.eval.report import atomic_write_json
    from ponder.eval.scale import ScaleConfig
    from ponder.lm.registry import load_lm
    from ponder.lm.reward import open_scorer
    from ponder.tasks import get_task
    from ponder.think import Scorers

    try:
        opts = json.loads(options)
    except json.JSONDecodeError as e:
        raise InvalidInput(f"--options is not valid JSON: {e}") from None
    cand = parse_ints(budgets, "--budgets")
    cfg = ScaleConfig(strategies=[s.strip() for s in strategies.split(",") if s.strip()],
                      budgets=cand, n_problems=n, seed=seed, max_tokens=max_tokens,
                      difficulty=parse_levels(difficulty),
                      temperature=temperature, options=opts, split="train")
    scorers = Scorers(prm=open_scorer(prm)) if prm else None
    count = {"k": 0}
    total = len(cfg.strategies) * len(cand) * n

    def progress(rec: dict) -> None:
        count["k"] += 1
        if count["k"] % max(1, n // 2) == 0 or count["k"] == total:
            typer.echo(f"[{count['k']}/{total}] {rec['strategy']} budget {rec['budget']}")

    typer.echo(f"probing difficulty of {n} training problems...")
    policies, cells = fit_compute_optimal(
        load_lm(model), get_task(task), cfg, parse_ints(targets, "--targets") if targets else cand,
        scorers, probe_n, signal, on_record=progress)
    atomic_write_json(out, {"policies": [p.to_dict() for p in policies],
                            "table": [c.__dict__ for c in cells], "task": task,
                            "model": model or "default"})
    for p in policies:
        plan = ", ".join(f"bin {b}: {c.strategy}@{c.n}" for b, c in sorted(p.choices.items()))
        typer.echo(f"target {p.target_budget:g}: {plan}")
    typer.echo(f"wrote {out}")


def register(app: typer.Typer) -> None:
    app.add_typer(optimal_app, name="optimal")

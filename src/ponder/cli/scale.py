"""``ponder scale``: accuracy against test-time compute for strategies and budgets."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from ponder.cli._common import COMPILE_HELP, KV_DTYPE_HELP, kv_options, parse_ints, parse_levels
from ponder.errors import InvalidInput


def scale(
    task: str = typer.Option("chain", "--task", help="Task family (held-out split)."),
    model: str = typer.Option(None, "--model", help="Policy model (default: bundled)."),
    kv_dtype: str = typer.Option("float32", "--kv-dtype", help=KV_DTYPE_HELP),
    compile: bool = typer.Option(False, "--compile", help=COMPILE_HELP),
    strategies: str = typer.Option("greedy,vote", help="Comma-separated strategies; "
                                "label=strategy runs one twice, e.g. prm=best_of_n,"
                                "orm=best_of_n with --options keyed by label."),
    budgets: str = typer.Option("1,2,4,8,16", help="Comma-separated budgets (samples; "
                                "thinking tokens for the budget strategy)."),
    n: int = typer.Option(100, "--n", help="Held-out problems."),
    difficulty: str = typer.Option(None, help="Comma-separated difficulty levels."),
    prm: Path = typer.Option(None, help="Process reward model directory."),
    orm: Path = typer.Option(None, help="Outcome reward model directory."),
    oracle: bool = typer.Option(False, help="Give strategies the exact verifier (an upper "
                                "bound, not a fair comparison)."),
    options: str = typer.Option("{}", help='Per-strategy options as JSON, e.g. '
                                '\'{"beam": {"beam_width": 4}}\'.'),
    max_tokens: int = typer.Option(512),
    temperature: float = typer.Option(0.8),
    seed: int = typer.Option(0),
    concurrency: int = typer.Option(128, help="Problems solved at once (their model calls "
                                    "are decoded together); records do not depend on it."),
    name: str = typer.Option(None, help="Report name (default scale_<task>)."),
) -> None:
    """Run strategies at each budget on held-out problems; write reports/<name>.json
    (curves overall and per difficulty, coverage fit, efficiency) and reports/<name>.png."""
    from ponder.eval.report import REPORTS_DIR, write_report
    from ponder.eval.scale import ScaleConfig, plot, run_scale, summarize
    from ponder.eval.stats import format_ci
    from ponder.files import atomic_write_text
    from ponder.lm.registry import load_lm
    from ponder.lm.reward import open_scorer
    from ponder.tasks import get_task
    from ponder.think import Scorers

    try:
        opts = json.loads(options)
    except json.JSONDecodeError as e:
        raise InvalidInput(f"--options is not valid JSON: {e}") from None
    cfg = ScaleConfig(strategies=[s.strip() for s in strategies.split(",") if s.strip()],
                      budgets=parse_ints(budgets, "--budgets"), n_problems=n,
                      difficulty=parse_levels(difficulty),
                      seed=seed, max_tokens=max_tokens, temperature=temperature,
                      options=opts, concurrency=concurrency)
    t = get_task(task)
    lm = load_lm(model, **kv_options(kv_dtype, compile))
    scorers = Scorers(
        verifier=t.verify if oracle else None,
        prm=open_scorer(prm) if prm else None,
        orm=open_scorer(orm) if orm else None,
    )
    total = len(cfg.strategies) * len(cfg.budgets) * n
    done = {"k": 0, "right": 0}

    def progress(rec: dict) -> None:
        done["k"] += 1
        done["right"] += rec["correct"]
        if done["k"] % max(1, n // 4) == 0 or done["k"] == total:
            typer.echo(f"[{done['k']}/{total}] {rec['strategy']} budget {rec['budget']}: "
                       f"running accuracy {done['right'] / done['k']:.3f}")

    records = run_scale(lm, t, cfg, scorers, on_record=progress)
    summary = summarize(records)
    name = name or f"scale_{task}"
    out = write_report(name, {"task": task, "config": cfg.__dict__, **summary},
                       model=str(model or "default"), seed=seed,
                       title=f"Test-time compute scaling on {task}")
    atomic_write_text(REPORTS_DIR / f"{name}.records.jsonl",
                      "".join(json.dumps(r) + "\n" for r in records))
    plot(summary, str(REPORTS_DIR / f"{name}.png"), f"{task}: accuracy vs compute")
    for row in summary["overall"]:
        typer.echo(f"{row['strategy']:>10} budget {row['budget']:>4}: accuracy "
                   f"{format_ci(row['accuracy'], row['ci95'], row['n'])}  "
                   f"FLOPs/problem {row['flops']:.3g}")
    for c in summary["paired"]:
        typer.echo(f"{c['b']} vs {c['a']}: {c['diff']:+.3f} "
                   f"[{c['ci95'][0]:+.3f}, {c['ci95'][1]:+.3f}] p={c['p_value']:.3g} "
                   f"-> {c['verdict']}")
    typer.echo(f"wrote {out}")


def register(app: typer.Typer) -> None:
    app.command("scale")(scale)

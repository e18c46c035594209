"""``ponder compare``: a small model with search against a larger model's greedy
answers at equal FLOPs, from two ``ponder scale`` reports."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from ponder.errors import InvalidInput


def _summary(path: Path) -> tuple[dict, dict]:
    """(the report record, its results) of a `ponder scale` report file."""
    try:
        record = json.loads(path.read_text())
        return record, record["results"]
    except FileNotFoundError:
        raise InvalidInput(f"no scale report at {path}") from None
    except (json.JSONDecodeError, KeyError, TypeError):
        raise InvalidInput(f"{path} is not a `ponder scale` report") from None


def register(app: typer.Typer) -> None:
    @app.command()
    def compare(
        small: Path = typer.Argument(..., help="scale report of the small model (strategies)."),
        large: Path = typer.Argument(..., help="scale report of the large model (greedy)."),
        name: str = typer.Option("versus", help="Report name: reports/<name>.json."),
    ) -> None:
        """Does the small model with test-time compute beat the large model's greedy
        accuracy at equal FLOPs? Per difficulty level and overall."""
        from ponder.eval.report import write_report
        from ponder.eval.versus import compare as run

        small_rec, small_sum = _summary(small)
        large_rec, large_sum = _summary(large)
        for key in ("overall", "by_difficulty"):
            if key not in small_sum or key not in large_sum:
                raise InvalidInput(f"{small} and {large} must both be `ponder scale` reports")
        if small_sum.get("task") != large_sum.get("task"):
            raise InvalidInput(f"the reports are on different tasks: {small_sum.get('task')} "
                               f"vs {large_sum.get('task')}")
        result = run(small_sum, large_sum)
        result.update(small_report=str(small), large_report=str(large),
                      small_model=small_rec.get("model"), large_model=large_rec.get("model"),
                      task=small_sum.get("task"))
        out = write_report(name, result, model=f"{small_rec.get('model')} vs "
                           f"{large_rec.get('model')}", seed=small_rec.get("seed"),
                           title="Small model + search vs larger model, equal FLOPs")
        for band, v in result["bands"].items():
            best = max(((s, x["best_accuracy_within"]) for s, x in v["strategies"].items()
                        if x["best_accuracy_within"] is not None),
                       key=lambda t: t[1], default=(None, None))
            typer.echo(f"level {band:>3}: large greedy {v['large_greedy_accuracy']:.3f} at "
                       f"{v['large_greedy_flops']:.3g} FLOPs; small best within: "
                       f"{best[0]} {best[1] if best[1] is None else f'{best[1]:.3f}'}")
        typer.echo(f"bands won by the small model: {result['bands_won'] or 'none'}")
        typer.echo(f"wrote {out}")

"""``ponder compare``: a small model with search against a larger model's greedy
answers at equal FLOPs, from two ``ponder scale`` reports. A win must be significant:
paired on problem ids when both reports have their ``<name>.records.jsonl`` beside
them, else unpaired (see ``ponder.eval.versus``)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from ponder.errors import InvalidInput
from ponder.eval.stats import format_ci


def _summary(path: Path) -> tuple[dict, dict]:
    """(the report record, its results) of a `ponder scale` report file."""
    try:
        record = json.loads(path.read_text())
        return record, record["results"]
    except FileNotFoundError:
        raise InvalidInput(f"no scale report at {path}") from None
    except (json.JSONDecodeError, KeyError, TypeError):
        raise InvalidInput(f"{path} is not a `ponder scale` report") from None


def _records(path: Path) -> list[dict] | None:
    """The per-problem records ``ponder scale`` writes beside its report, or None."""
    rec_path = path.with_name(f"{path.stem}.records.jsonl")
    if not rec_path.is_file():
        return None
    try:
        return [json.loads(line) for line in rec_path.read_text().splitlines() if line.strip()]
    except json.JSONDecodeError:
        raise InvalidInput(f"{rec_path} is not a JSONL file of `ponder scale` records"
                           ) from None


def _describe(strategy: str, test: dict) -> str:
    """One strategy's test as a line: difference, interval, p-value, verdict."""
    how = (f"paired on {test['n']} problems" if test["paired"]
           else f"unpaired ({test['why_unpaired']})")
    return (f"{strategy} {test['mean_b']:.3f} vs {test['mean_a']:.3f}: difference "
            f"{format_ci(test['diff'], test['ci95'])}, p={test['p_value']:.3g}, {how}: "
            f"{test['verdict']}")


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
        small_records, large_records = _records(small), _records(large)
        result = run(small_sum, large_sum, small_records, large_records)
        result.update(small_report=str(small), large_report=str(large),
                      small_model=small_rec.get("model"), large_model=large_rec.get("model"),
                      task=small_sum.get("task"))
        out = write_report(name, result, model=f"{small_rec.get('model')} vs "
                           f"{large_rec.get('model')}", seed=small_rec.get("seed"),
                           title="Small model + search vs larger model, equal FLOPs")
        if not result["paired"]:
            typer.echo("not paired on the same problems (a report lacks its .records.jsonl "
                       "or they share no problem): unpaired intervals, which are wider")
        for band, v in result["bands"].items():
            typer.echo(f"level {band:>3}: large greedy {v['large_greedy_accuracy']:.3f} at "
                       f"{v['large_greedy_flops']:.3g} FLOPs; small at matched FLOPs:")
            for s, x in v["strategies"].items():
                typer.echo("    " + (_describe(s, x["test"]) if x["test"] else
                                     f"{s}: no budget within the large model's FLOPs"))
        typer.echo(f"bands the small model wins (95% interval above zero): "
                   f"{result['bands_won'] or 'none'}")
        typer.echo(f"wrote {out}")

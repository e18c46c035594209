"""``ponder report``: regenerate reports/README.md from the JSON reports."""

from __future__ import annotations

from pathlib import Path

import typer

from ponder.eval.report import REPORTS_DIR, regenerate_readme, update_readme_table


def report(directory: Path = typer.Option(REPORTS_DIR, "--dir", help="Reports directory."),
           readme: Path | None = typer.Option(
               None, "--readme", help="Also refill the accuracy table between "
               "<!-- accuracy-table --> markers in this file from default_eval_*.json."),
           ) -> None:
    """Regenerate reports/README.md from every reports/*.json file."""
    if not directory.is_dir():
        raise typer.BadParameter(f"{directory} is not a directory", param_hint="--dir")
    path = regenerate_readme(directory)
    n = len(list(directory.glob("*.json")))
    typer.echo(f"wrote {path} from {n} report(s)")
    if readme is not None:
        typer.echo(f"updated the accuracy table in {update_readme_table(readme, directory)}")


def register(app: typer.Typer) -> None:
    app.command("report")(report)

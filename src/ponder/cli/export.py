"""``ponder export``: turn a checkpoint into a Hugging Face model directory."""

from __future__ import annotations

from pathlib import Path

import typer

from ponder.errors import ModelError

# float32 round-off between two implementations of one network stays far below this
TOLERANCE = 1e-3


def export(
    checkpoint: Path = typer.Argument(..., help="ponder checkpoint directory"),
    out: Path = typer.Argument(..., help="directory to write (replaced if it exists)"),
    check: bool = typer.Option(True, help="load the result with transformers and compare "
                                          "its logits with ponder's"),
) -> None:
    """Export CHECKPOINT as a directory that transformers' AutoModelForCausalLM and
    AutoTokenizer load (Llama architecture), with the same logits."""
    from ponder.lm.export import export_checkpoint, max_logit_difference

    path = export_checkpoint(checkpoint, out)
    typer.echo(f"exported {checkpoint} -> {path}")
    if check:
        diff = max_logit_difference(checkpoint, path)
        typer.echo(f"max |logit difference| vs transformers: {diff:.2e}")
        if diff > TOLERANCE:
            raise ModelError(f"the exported model's logits differ from ponder's by {diff:.2e} "
                             f"(more than {TOLERANCE:g}); the export is not faithful")


def register(app: typer.Typer) -> None:
    app.command("export")(export)

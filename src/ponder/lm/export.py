"""Export a ponder checkpoint as a Hugging Face model directory.

A checkpoint is already nearly one: its ``config.json`` carries ``LlamaConfig`` fields and
its weights use Llama's parameter names. Export rewrites the config through
``transformers.LlamaConfig`` (so the file is in the form the installed ``transformers``
writes, e.g. ``rope_parameters``), copies the weights and tokenizer files, and adds a
``generation_config.json``. The result loads with ``AutoModelForCausalLM`` and
``AutoTokenizer`` and gives the same logits as ponder's own forward pass
(``max_logit_difference`` measures it). The ``ponder`` section of the config is kept, so the
exported directory is still a ponder checkpoint too.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ponder.errors import InvalidInput, ModelError
from ponder.files import staged_dir
from ponder.lm.checkpoint import (
    TIED_HEAD,
    hf_config,
    load_checkpoint,
    read_json,
    require_llama,
    save_weights,
    write_recipe,
)

__all__ = ["export_checkpoint", "max_logit_difference"]


def _check_source(ckpt: Path) -> None:
    if not ckpt.exists():
        raise ModelError(f"checkpoint directory {ckpt} does not exist")
    if not ckpt.is_dir():
        raise ModelError(f"{ckpt} is a file; a ponder checkpoint is a directory")
    # load_checkpoint reports missing files and foreign (non-ponder) configs


def export_checkpoint(ckpt_dir: str | Path, out_dir: str | Path) -> Path:
    """Write a ``transformers``-loadable copy of the checkpoint at ``ckpt_dir`` to
    ``out_dir`` (replacing it atomically if it exists) and return ``out_dir``."""
    from transformers import GenerationConfig, LlamaConfig

    ckpt, out = Path(ckpt_dir).expanduser(), Path(out_dir).expanduser()
    _check_source(ckpt)
    if out.resolve() == ckpt.resolve():
        raise InvalidInput(f"export target {out} is the checkpoint itself; choose another "
                           "directory")
    model, tok, recipe = load_checkpoint(ckpt)
    require_llama(model.cfg, "transformers")
    source_config = read_json(ckpt / "config.json")
    fields = hf_config(model.cfg, tok)
    fields["dtype"] = fields.pop("torch_dtype")  # the name transformers 5 uses
    with staged_dir(out) as tmp:
        LlamaConfig(**fields, ponder=source_config["ponder"]).save_pretrained(tmp)
        # Tied embeddings: transformers rebuilds lm_head from embed_tokens, exactly as
        # save_pretrained itself would store the model (one copy of the shared tensor).
        save_weights(tmp, model.state_dict(), TIED_HEAD)
        tok.save(tmp)
        GenerationConfig(bos_token_id=tok.bos_id, eos_token_id=tok.eos_id,
                         pad_token_id=tok.pad_id).save_pretrained(tmp)
        write_recipe(tmp, recipe)
    return out


@torch.no_grad()
def max_logit_difference(ckpt_dir: str | Path, hf_dir: str | Path, n_sequences: int = 4,
                         seq_len: int = 64, seed: int = 0) -> float:
    """Largest |logit difference| between ponder's forward pass on ``ckpt_dir`` and
    ``transformers.AutoModelForCausalLM`` on ``hf_dir`` (an exported directory, or a
    ``.gguf`` file), over random token sequences."""
    from transformers import AutoModelForCausalLM

    model, _, _ = load_checkpoint(ckpt_dir)
    path = Path(hf_dir)
    where, extra = (path.parent, {"gguf_file": path.name}) if path.suffix == ".gguf" else (
        path, {})
    hf = AutoModelForCausalLM.from_pretrained(str(where), dtype=torch.float32, **extra).eval()
    g = torch.Generator().manual_seed(seed)
    length = min(seq_len, model.cfg.max_seq_len)
    ids = torch.randint(0, model.cfg.vocab_size, (n_sequences, length), generator=g)
    ours = model(ids)
    theirs = hf(input_ids=ids).logits
    return (ours - theirs).abs().max().item()

"""Checkpoints: a directory with ``config.json``, ``model.safetensors``,
``tokenizer.json`` (+ HF tokenizer config files) and ``recipe.json`` (what made it).

``config.json`` is a Hugging Face ``LlamaConfig`` with ponder's own ``ModelConfig`` under
the key ``ponder``, and the weights use Llama's parameter names, so a checkpoint is
already close to what ``transformers`` loads; ``ponder export`` completes it.
Writes are atomic: everything goes to a temporary sibling directory that is renamed
into place, so an interrupted save never leaves a half-written checkpoint.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from ponder.errors import ModelError
from ponder.lm.model import ModelConfig, Transformer
from ponder.lm.tokenizer import CharTokenizer

WEIGHTS = "model.safetensors"


def hf_config(cfg: ModelConfig, tok: CharTokenizer) -> dict[str, Any]:
    """The ``LlamaConfig`` fields that reproduce ``cfg`` in transformers."""
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": cfg.vocab_size,
        "hidden_size": cfg.d_model,
        "intermediate_size": cfg.d_ff,
        "num_hidden_layers": cfg.n_layer,
        "num_attention_heads": cfg.n_head,
        "num_key_value_heads": cfg.n_head,
        "head_dim": cfg.head_dim,
        "hidden_act": "silu",
        "max_position_embeddings": cfg.max_seq_len,
        "rms_norm_eps": cfg.norm_eps,
        "rope_theta": cfg.rope_theta,
        "attention_bias": False,
        "mlp_bias": False,
        "tie_word_embeddings": True,
        "bos_token_id": tok.bos_id,
        "eos_token_id": tok.eos_id,
        "pad_token_id": tok.pad_id,
        "torch_dtype": "float32",
    }


def atomic_dir(final: Path):
    """Context-free helper: returns a fresh temp dir next to ``final``; call
    ``commit_dir(tmp, final)`` when everything is written."""
    final.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))


def commit_dir(tmp: Path, final: Path) -> None:
    """Replace ``final`` by ``tmp`` (rename is atomic on one filesystem)."""
    old = None
    if final.exists():
        old = final.with_name(f".{final.name}.old-{os.getpid()}")
        os.replace(final, old)
    os.replace(tmp, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def save_checkpoint(path: str | Path, model: Transformer, tok: CharTokenizer,
                    recipe: dict[str, Any] | None = None) -> Path:
    final = Path(path)
    tmp = atomic_dir(final)
    try:
        config = {**hf_config(model.cfg, tok), "ponder": model.cfg.to_dict()}
        (tmp / "config.json").write_text(json.dumps(config, indent=2))
        state = {k: v.detach().float().contiguous().cpu() for k, v in model.state_dict().items()
                 if k != "lm_head.weight"}  # tied to embed_tokens; safetensors stores it once
        save_file(state, str(tmp / WEIGHTS), metadata={"format": "pt"})
        tok.save(tmp)
        (tmp / "recipe.json").write_text(json.dumps(recipe or {}, indent=2, default=str))
        commit_dir(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def load_checkpoint(path: str | Path, device: str = "cpu") -> tuple[Transformer, CharTokenizer,
                                                                     dict[str, Any]]:
    """(model in eval mode, tokenizer, recipe) from a checkpoint directory."""
    d = Path(path)
    if not (d / "config.json").exists() or not (d / WEIGHTS).exists():
        raise ModelError(f"{d} is not a ponder checkpoint (needs config.json and {WEIGHTS})")
    config = json.loads((d / "config.json").read_text())
    if "ponder" not in config:
        raise ModelError(f"{d}/config.json has no 'ponder' section; for Hugging Face models "
                         f"use the model string hf:{d}")
    try:
        model = Transformer(ModelConfig(**config["ponder"]))
        state = load_file(str(d / WEIGHTS), device=device)
        missing, unexpected = model.load_state_dict(state, strict=False)
    except (TypeError, ValueError, RuntimeError, OSError) as e:
        # bad config fields, a corrupt safetensors file or tensors of the wrong shape
        raise ModelError(f"{d}: cannot load the checkpoint: {str(e).splitlines()[0]}") from e
    missing = [k for k in missing if k != "lm_head.weight"]
    if missing or unexpected:
        raise ModelError(f"{d}: weights do not match the config (missing {missing[:3]}, "
                         f"unexpected {unexpected[:3]})")
    model.to(device).eval()
    recipe_path = d / "recipe.json"
    recipe = json.loads(recipe_path.read_text()) if recipe_path.exists() else {}
    return model, CharTokenizer.load(d), recipe


@torch.no_grad()
def copy_weights(src: Transformer) -> Transformer:
    dst = Transformer(src.cfg)
    dst.load_state_dict(src.state_dict())
    return dst

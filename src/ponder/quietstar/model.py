"""A language model with Quiet-STaR's additions: meta-token embeddings and a mixing head.

``QuietStar`` bundles a ``Backbone`` (the built-in decoder or a transformers model), the
``Codec`` that turns text into its ids, the learned start/end-of-thought (and pause)
embeddings and the mixing head, with the thought settings they were trained with.

On disk a Quiet-STaR model is the base model's own directory (a ponder checkpoint, or a
transformers model directory) plus two files: ``quiet_star.json`` (``ThoughtConfig``)
and ``quiet_star.safetensors`` (meta embeddings and mixing head). Every other ponder
command still loads the directory as the plain base model.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
from safetensors.torch import load_file, save_file

from ponder.errors import ConfigError, ModelError
from ponder.quietstar.backbone import Backbone, NativeBackbone
from ponder.quietstar.mixing import MixingHead
from ponder.quietstar.tokens import END, PAUSE, START, Codec, MetaEmbeddings, embed_ids

CONFIG_FILE, WEIGHTS_FILE = "quiet_star.json", "quiet_star.safetensors"


@dataclass
class ThoughtConfig:
    """How thoughts are made (Quiet-STaR §4).

    thought_tokens: tokens sampled between the start- and end-of-thought tokens (the
        paper counts the two meta tokens in its thought length; here they are extra).
    n_thoughts: thoughts sampled per position in training; rewards are measured against
        their mean, so at least 2.
    n_true: text tokens after a thought whose likelihood scores it (the non-myopic
        horizon; the first is predicted from the end-of-thought token, the rest by
        teacher forcing).
    temperature: sampling temperature of thought tokens (0: greedy).
    pause: fill thoughts with the pause token instead of sampling them (the "pause
        tokens" control: same compute and mixing head, nothing to choose).
    mix_init: the mixing head's initial weight on the post-thought prediction.
    """

    thought_tokens: int = 8
    n_thoughts: int = 2
    n_true: int = 4
    temperature: float = 1.0
    pause: bool = False
    mix_init: float = 0.05

    def __post_init__(self) -> None:
        if self.thought_tokens < 0:
            raise ConfigError(f"thought_tokens must be >= 0, got {self.thought_tokens}")
        if self.n_thoughts < 1 or self.n_true < 1:
            raise ConfigError(f"n_thoughts and n_true must be >= 1, got {self.n_thoughts} "
                              f"and {self.n_true}")
        if self.temperature < 0:
            raise ConfigError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.mix_init < 1:
            raise ConfigError(f"mix_init must be in (0, 1), got {self.mix_init}")


class QuietStar(nn.Module):
    """Backbone + meta embeddings + mixing head. ``parameters()`` covers all three."""

    def __init__(self, backbone: Backbone, codec: Codec, cfg: ThoughtConfig | None = None,
                 init_meta: bool = True):
        super().__init__()
        self.backbone, self.codec = backbone, codec
        self.cfg = cfg or ThoughtConfig()
        self.lm = backbone.module  # registered so that .parameters() / .to() cover it
        device = next(self.lm.parameters()).device
        self.meta = MetaEmbeddings(backbone.hidden_size).to(device)
        self.mixer = MixingHead(backbone.hidden_size, self.cfg.mix_init).to(device)
        if init_meta:
            self.meta.init_from(backbone.embed, codec)

    @property
    def start_id(self) -> int:
        return self.codec.meta_base

    @property
    def end_id(self) -> int:
        return self.codec.meta_base + 1

    @property
    def pause_id(self) -> int:
        return self.codec.meta_base + 2

    @property
    def device(self) -> torch.device:
        return self.meta.weight.device

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        """(B, T) ids, meta tokens included -> (B, T, C)."""
        return embed_ids(ids, self.backbone.embed, self.meta, self.codec.meta_base)

    def extra_parameters(self) -> dict[str, list[nn.Parameter]]:
        """Parameters Quiet-STaR adds, by optimizer group."""
        return {"meta": list(self.meta.parameters()), "mixer": list(self.mixer.parameters())}

    # -- the two added files -----------------------------------------------------------
    def save_extras(self, directory: str | Path, recipe: dict[str, Any] | None = None) -> None:
        d = Path(directory)
        record = {**asdict(self.cfg), "meta_tokens": [START, END, PAUSE],
                  "meta_base": self.codec.meta_base, "recipe": recipe or {}}
        (d / CONFIG_FILE).write_text(json.dumps(record, indent=2, default=str))
        state = {f"meta.{k}": v for k, v in self.meta.state_dict().items()}
        state |= {f"mixer.{k}": v for k, v in self.mixer.state_dict().items()}
        save_file({k: v.detach().float().cpu().contiguous() for k, v in state.items()},
                  str(d / WEIGHTS_FILE))

    def load_extras(self, directory: str | Path) -> None:
        d = Path(directory)
        try:
            state = load_file(str(d / WEIGHTS_FILE), device=str(self.device))
            self.meta.load_state_dict({k[5:]: v for k, v in state.items()
                                       if k.startswith("meta.")})
            self.mixer.load_state_dict({k[6:]: v for k, v in state.items()
                                        if k.startswith("mixer.")})
        except (OSError, RuntimeError, KeyError) as e:
            raise ModelError(f"{d}: cannot load {WEIGHTS_FILE}: {str(e).splitlines()[0]}"
                             ) from e


def read_thought_config(directory: str | Path) -> ThoughtConfig | None:
    """The ``ThoughtConfig`` saved in ``directory`` (None: not a Quiet-STaR model)."""
    path = Path(directory) / CONFIG_FILE
    if not path.exists():
        return None
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ModelError(f"{path} cannot be read: {e}") from None
    names = {f.name for f in fields(ThoughtConfig)}
    return ThoughtConfig(**{k: v for k, v in record.items() if k in names})


def load_quietstar(spec: str, device: str = "cpu", cfg: ThoughtConfig | None = None
                   ) -> tuple[QuietStar, str]:
    """(model, path) from a model string: a ponder checkpoint directory (or a run
    holding ``checkpoint/``), ``hf:<dir>`` for a transformers model, or "" for the
    bundled reasoner. Saved Quiet-STaR extras are loaded when present; otherwise the
    meta embeddings and mixing head are fresh (``cfg`` or the defaults)."""
    if spec.startswith("hf:"):
        from ponder.lm.checkpoint import model_dir

        path = model_dir(spec[3:])  # a directory, or a quiet-star run's checkpoint/
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from ponder.quietstar.hf import HFBackbone
        from ponder.quietstar.tokens import HFCodec

        if not path.exists():
            raise ModelError(f"Hugging Face model directory {path} does not exist")
        lm = AutoModelForCausalLM.from_pretrained(str(path), dtype=torch.float32).to(device)
        backbone: Backbone = HFBackbone(lm)
        codec: Codec = HFCodec(AutoTokenizer.from_pretrained(str(path)), backbone.n_logits)
    else:
        from ponder.lm.checkpoint import load_checkpoint, model_dir
        from ponder.lm.registry import default_model_path
        from ponder.quietstar.tokens import ThoughtCharTokenizer

        path = model_dir(spec) if spec else default_model_path()
        lm, _, _ = load_checkpoint(path, device=device)
        codec = ThoughtCharTokenizer()
        backbone = NativeBackbone(lm, n_logits=codec.meta_base)
    saved = read_thought_config(path)
    qs = QuietStar(backbone, codec, cfg or saved, init_meta=saved is None)
    if saved is not None:
        qs.load_extras(path)
    return qs, str(path)


def save_quietstar(qs: QuietStar, path: str | Path, recipe: dict[str, Any] | None = None
                   ) -> Path:
    """Write the base model's directory (ponder checkpoint or transformers format) plus
    the Quiet-STaR files, atomically (a temporary sibling renamed into place)."""
    from ponder.files import staged_dir

    final = Path(path)
    with staged_dir(final) as tmp:
        if isinstance(qs.backbone, NativeBackbone):
            from ponder.lm.checkpoint import (
                TIED_HEAD,
                hf_config,
                save_weights,
                write_recipe,
            )
            from ponder.lm.tokenizer import CharTokenizer

            model, tok = qs.backbone.model, CharTokenizer()  # the base tokenizer's files
            config = {**hf_config(model.cfg, tok), "ponder": model.cfg.to_dict()}
            (tmp / "config.json").write_text(json.dumps(config, indent=2))
            save_weights(tmp, model.state_dict(), TIED_HEAD)
            tok.save(tmp)
            write_recipe(tmp, recipe)
        else:
            qs.backbone.module.save_pretrained(str(tmp))
            qs.codec.tok.save_pretrained(str(tmp))
        qs.save_extras(tmp, recipe)
    return final
